#include "reconciler/diff.h"

#include <algorithm>
#include <set>

#include "common/parallel.h"

namespace stackctl::reconciler {

std::string_view ResourceKindName(ResourceKind k) {
  switch (k) {
    case ResourceKind::kNetwork: return "network";
    case ResourceKind::kSecret: return "secret";
    case ResourceKind::kConfig: return "config";
    case ResourceKind::kService: return "service";
  }
  return "?";
}

std::string_view ActionName(Action a) {
  switch (a) {
    case Action::kNone: return "unchanged";
    case Action::kCreate: return "create";
    case Action::kUpdate: return "update";
    case Action::kRecreate: return "recreate";
    case Action::kDelete: return "delete";
    case Action::kAdopt: return "adopt";
  }
  return "?";
}

bool StackDiff::InSync() const {
  for (const auto& c : changes) {
    if (c.action != Action::kNone) return false;
  }
  return true;
}

size_t StackDiff::Count(Action a) const {
  size_t n = 0;
  for (const auto& c : changes) n += c.action == a;
  return n;
}

namespace {

// The number of services from which PrepareDesired and Compare work on two
// threads: below it a thread costs more than it saves.
constexpr size_t kParallelFrom = 32;

const std::vector<std::string>& OurVolatileLabels() {
  static const std::vector<std::string> kLabels = {model::kRevisionLabel, model::kSpecHashLabel};
  return kLabels;
}

void Stamp(Json* spec, const std::string& stack) {
  Json& labels = (*spec)["Labels"];
  if (!labels.is_object()) labels = Json::object();
  labels[model::kManagedByLabel] = model::kManagedByValue;
  labels[model::kStackNamespaceLabel] = stack;
}

// Paths of stackctl's own labels ("Labels.io.stackctl.managed-by"): what an
// object made outside stackctl lacks and is no reason to recreate it.
bool IsOurLabelPath(const std::string& path) { return path.rfind("Labels.io.stackctl.", 0) == 0; }

std::vector<std::string> WithoutOurLabels(std::vector<std::string> paths) {
  paths.erase(std::remove_if(paths.begin(), paths.end(), IsOurLabelPath), paths.end());
  return paths;
}

// Why an adopted service's tasks restart, for the plan.
std::string RestartReason(const std::vector<std::string>& paths) {
  for (const auto& p : paths) {
    if (p.rfind("TaskTemplate.ContainerSpec.Secrets", 0) == 0 || p.rfind("TaskTemplate.ContainerSpec.Configs", 0) == 0) {
      return "its secrets/configs move to their content-hashed names";
    }
  }
  return "its task template differs from the file";
}

// The docker CLI, when it resolves an image to its digest (`docker stack
// deploy`'s default), also writes the platforms of the image's manifest to
// TaskTemplate.Placement.Platforms. No compose key sets them, so a file never
// asks for them: live ones are kept out of the comparison (and kept on the
// service by a label-only adoption).
bool NeedsPlatformsDropped(const Json& desired, const Json& live) {
  const Json::json_pointer platforms("/TaskTemplate/Placement/Platforms");
  return !desired.contains(platforms) && live.contains(platforms);
}

void DropDerivedPlatforms(const Json& desired, Json* live) {
  if (!NeedsPlatformsDropped(desired, *live)) return;
  Json& placement = live->at("TaskTemplate").at("Placement");
  placement.erase("Platforms");
  if (placement.empty()) live->at("TaskTemplate").erase("Placement");
}

std::string LabelOf(const std::map<std::string, std::string>& labels, const char* key) {
  auto it = labels.find(key);
  return it == labels.end() ? "" : it->second;
}

}  // namespace

bool ReplacesTasks(const std::vector<std::string>& paths) {
  for (const auto& p : paths) {
    // Swarm keeps the tasks whose node still satisfies a changed placement.
    if (p.rfind("TaskTemplate.Placement", 0) == 0) continue;
    if (p.rfind("TaskTemplate", 0) == 0 || p.rfind("EndpointSpec", 0) == 0) return true;
  }
  return false;
}

namespace {

// ServiceSpecHash of *spec, computed on the spec itself (no copy of it): our
// volatile labels are taken out for the hash and then put back.
std::string HashWithoutVolatileLabels(Json* spec) {
  auto labels = spec->find("Labels");
  if (labels == spec->end() || !labels->is_object()) return CanonicalHash(*spec);
  std::vector<std::pair<std::string, Json>> taken;
  for (const auto& l : OurVolatileLabels()) {
    if (auto it = labels->find(l); it != labels->end()) {
      taken.emplace_back(l, std::move(*it));
      labels->erase(it);
    }
  }
  std::string hash = CanonicalHash(*spec);
  for (auto& [key, value] : taken) (*labels)[key] = std::move(value);
  return hash;
}

}  // namespace

std::string ServiceSpecHash(const Json& spec) {
  Json s = spec;
  return HashWithoutVolatileLabels(&s);
}

void PrepareDesired(model::StackSpec* desired) {
  for (auto& n : desired->networks) {
    if (!n.external) Stamp(&n.spec, desired->name);
  }
  for (auto* blobs : {&desired->secrets, &desired->configs}) {
    for (auto& b : *blobs) {
      if (b.external) continue;
      Stamp(&b.spec, desired->name);
      if (!b.spec["Labels"].contains(model::kLogicalNameLabel)) {
        b.spec["Labels"][model::kLogicalNameLabel] = b.name;
      }
    }
  }
  // Each service on its own, on two threads for a large stack.
  auto& services = desired->services;
  ParallelFor(services.size(), services.size() >= kParallelFrom ? 2 : 1, [&](size_t i) {
    services[i].spec.Edit([&](Json& spec) {
      Stamp(&spec, desired->name);
      spec["Labels"][model::kSpecHashLabel] = HashWithoutVolatileLabels(&spec);
    });
  });
}

void NormalizeLiveServices(LiveState* live, const std::atomic<bool>& stop) {
  const NormalizeContext ctx = MakeNormalizeContext(*live);
  for (auto& [name, service] : live->services) {
    if (stop.load(std::memory_order_relaxed)) return;
    service.normalized = std::make_shared<const Json>(NormalizeServiceSpec(service.spec.Unpack(), ctx));
  }
}

NormalizeContext MakeNormalizeContext(const LiveState& live) {
  NormalizeContext ctx;
  for (const auto& [name, id] : live.all_network_ids) {
    ctx.network_ids[name] = id;
    ctx.network_ids[id] = id;
  }
  ctx.ignored_labels = OurVolatileLabels();
  return ctx;
}

Result<StackDiff> Compare(const model::StackSpec& desired, const LiveState& live,
                          const DiffOptions& options) {
  StackDiff diff;
  diff.stack = desired.name;
  NormalizeContext ctx = MakeNormalizeContext(live);

  std::set<std::string> wanted_networks;
  for (const auto& n : desired.networks) {
    if (n.external) {
      if (!live.all_network_ids.count(n.name)) {
        return FailedPrecondition("network \"" + n.name +
                                  "\" is declared as external, but could not be found. You need "
                                  "to create a swarm-scoped network before the stack is deployed");
      }
      continue;
    }
    wanted_networks.insert(n.name);
    Change c{ResourceKind::kNetwork, n.name};
    auto it = live.networks.find(n.name);
    if (it == live.networks.end()) {
      if (live.all_network_ids.count(n.name)) {
        return FailedPrecondition("network \"" + n.name +
                                  "\" exists but does not belong to stack " + desired.name);
      }
      c.action = Action::kCreate;
    } else {
      Json want = NormalizeNetworkSpec(n.spec);
      Json have = NormalizeNetworkSpec(it->second.spec);
      // A swarm network reads back without Driver/IPAM until the allocator
      // has processed it: nothing to compare yet.
      if (!have.contains("Driver")) want.erase("Driver");
      if (!have.contains("IPAM")) want.erase("IPAM");
      c.paths = SubsetChangedPaths(want, have);
      // An adopted network never gets our labels (networks cannot be
      // relabelled); one made outside stackctl lacks them: neither is a change.
      const bool managed = IsManaged(it->second.labels);
      if (!managed) c.paths = WithoutOurLabels(std::move(c.paths));
      if (!c.paths.empty()) {
        c.action = Action::kRecreate;
        c.note = "networks cannot be updated in place";
      } else if (!OwnsNetwork(live, it->second)) {
        c.action = Action::kAdopt;
        c.note = "made outside stackctl; kept as it is (ID " + it->second.id.substr(0, 12) +
                 "), owned through the stack's control record";
      }
    }
    diff.changes.push_back(std::move(c));
  }

  auto compare_blobs = [&](const std::vector<model::Blob>& blobs, ResourceKind kind,
                           const std::map<std::string, engine::Object>& stack_live,
                           const std::map<std::string, std::string>& known) -> Status {
    for (const auto& b : blobs) {
      if (b.external) {
        if (!known.count(b.name) && !stack_live.count(b.name)) {
          // Configs are not listed swarm-wide; the executor looks those up.
          if (kind == ResourceKind::kSecret) {
            return FailedPrecondition("secret not found: " + b.name);
          }
        }
        continue;
      }
      Change c{kind, b.name};
      auto same = stack_live.find(b.name);
      if (same == stack_live.end()) {
        c.action = Action::kCreate;
      } else if (!IsManaged(same->second.labels)) {
        // The name carries the content hash: same name, same content.
        c.action = Action::kAdopt;
        c.note = "made outside stackctl; relabelled as stackctl's";
      }
      diff.changes.push_back(std::move(c));
      // The same logical object made outside stackctl under its plain name
      // (docker stack deploy names secrets "<stack>_<key>"): taken over as an
      // older version, retired like any other once no service uses it.
      std::string logical = b.spec["Labels"].value(model::kLogicalNameLabel, b.name);
      auto plain = stack_live.find(logical);
      if (logical != b.name && plain != stack_live.end() && !IsManaged(plain->second.labels)) {
        diff.changes.push_back(Change{kind, logical, Action::kAdopt, {}, false,
                                      "made outside stackctl; relabelled as an older version of " + b.name +
                                          ", removed once superseded beyond --secret-retention"});
      }
    }
    return OkStatus();
  };
  RETURN_IF_ERROR(compare_blobs(desired.secrets, ResourceKind::kSecret, live.secrets, live.all_secret_ids));
  RETURN_IF_ERROR(compare_blobs(desired.configs, ResourceKind::kConfig, live.configs, live.known_config_ids));

  // Each service is compared on its own (unpacking and normalizing both
  // specs is most of a no-op's work after the reads): on two threads for a
  // large stack, the changes kept in the file's order.
  std::vector<Change> services(desired.services.size());
  auto compare_service = [&](size_t i) {
    const model::Service& s = desired.services[i];
    Change& c = services[i];
    c = Change{ResourceKind::kService, s.name};
    auto it = live.services.find(s.name);
    if (it == live.services.end()) {
      c.action = Action::kCreate;
      return;
    }
    Json spec = s.spec.Unpack();
    std::string want_hash;
    if (auto labels = spec.find("Labels"); labels != spec.end() && labels->is_object()) {
      want_hash = labels->value(model::kSpecHashLabel, "");
    }
    Json want = NormalizeServiceSpec(std::move(spec), ctx);
    Json have_here;  // unless normalized ahead as it is compared
    const Json* have = it->second.normalized.get();
    if (have == nullptr || NeedsPlatformsDropped(want, *have)) {
      have_here = have ? *have : NormalizeServiceSpec(it->second.spec.Unpack(), ctx);
      DropDerivedPlatforms(want, &have_here);
      have = &have_here;
    }
    c.paths = ChangedPaths(want, *have);
    c.restarts = ReplacesTasks(c.paths);
    if (!IsManaged(it->second.labels)) {
      c.action = Action::kAdopt;
      c.note = c.restarts ? "made outside stackctl; its tasks restart: " + RestartReason(c.paths)
                          : "made outside stackctl; labels only, its tasks keep running";
    } else if (!c.paths.empty()) {
      c.action = Action::kUpdate;
      c.drift = LabelOf(it->second.labels, model::kSpecHashLabel) == want_hash;
    }
  };
  ParallelFor(services.size(), services.size() >= kParallelFrom ? 2 : 1, compare_service);
  std::set<std::string> wanted_services;
  for (size_t i = 0; i < services.size(); ++i) {
    wanted_services.insert(desired.services[i].name);
    diff.changes.push_back(std::move(services[i]));
  }

  // Deletions: only objects of this stack that stackctl owns (by label, or
  // networks adopted through the control record). Superseded
  // content-hash versions of secrets/configs still wanted under their key are
  // not deletions: the executor retires them after a successful rollout.
  auto orphan = [&](ResourceKind kind, const std::string& name, bool owned) {
    if (!owned) return;
    if (options.prune) {
      diff.changes.push_back(Change{kind, name, Action::kDelete});
    } else {
      diff.orphans.push_back(std::string(ResourceKindName(kind)) + " " + name);
    }
  };
  for (const auto& [name, svc] : live.services) {
    if (!wanted_services.count(name)) orphan(ResourceKind::kService, name, IsManaged(svc.labels));
  }
  for (const auto& [name, net] : live.networks) {
    if (!wanted_networks.count(name)) orphan(ResourceKind::kNetwork, name, OwnsNetwork(live, net));
  }
  auto orphan_blobs = [&](const std::vector<model::Blob>& blobs, ResourceKind kind,
                          const std::map<std::string, engine::Object>& stack_live) {
    std::set<std::string> names, keys;  // names, logical names
    for (const auto& b : blobs) {
      names.insert(b.name);
      if (!b.spec.is_null()) keys.insert(b.spec["Labels"].value(model::kLogicalNameLabel, b.name));
    }
    for (const auto& [name, obj] : stack_live) {
      if (names.count(name)) continue;
      std::string key = LabelOf(obj.labels, model::kLogicalNameLabel);
      if (!key.empty() && keys.count(key)) continue;  // an older version: retired later
      orphan(kind, name, IsManaged(obj.labels));
    }
  };
  orphan_blobs(desired.secrets, ResourceKind::kSecret, live.secrets);
  orphan_blobs(desired.configs, ResourceKind::kConfig, live.configs);
  return diff;
}

}  // namespace stackctl::reconciler
