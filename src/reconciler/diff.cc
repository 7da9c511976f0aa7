#include "reconciler/diff.h"

#include <set>

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

std::string LabelOf(const std::map<std::string, std::string>& labels, const char* key) {
  auto it = labels.find(key);
  return it == labels.end() ? "" : it->second;
}

}  // namespace

std::string ServiceSpecHash(const Json& spec) {
  Json s = spec;
  if (s.contains("Labels") && s["Labels"].is_object()) {
    for (const auto& l : OurVolatileLabels()) s["Labels"].erase(l);
  }
  return CanonicalHash(s);
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
  for (auto& s : desired->services) {
    s.spec.Edit([&](Json& spec) {
      Stamp(&spec, desired->name);
      spec["Labels"][model::kSpecHashLabel] = ServiceSpecHash(spec);
    });
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
      if (!c.paths.empty()) {
        c.action = Action::kRecreate;
        c.note = "networks cannot be updated in place";
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
      if (!stack_live.count(b.name)) c.action = Action::kCreate;
      diff.changes.push_back(std::move(c));
    }
    return OkStatus();
  };
  RETURN_IF_ERROR(compare_blobs(desired.secrets, ResourceKind::kSecret, live.secrets, live.all_secret_ids));
  RETURN_IF_ERROR(compare_blobs(desired.configs, ResourceKind::kConfig, live.configs, live.known_config_ids));

  std::set<std::string> wanted_services;
  for (const auto& s : desired.services) {
    wanted_services.insert(s.name);
    Change c{ResourceKind::kService, s.name};
    auto it = live.services.find(s.name);
    if (it == live.services.end()) {
      c.action = Action::kCreate;
    } else {
      const Json spec = s.spec.Unpack();
      c.paths = ChangedPaths(NormalizeServiceSpec(spec, ctx), NormalizeServiceSpec(it->second.spec.Unpack(), ctx));
      if (!c.paths.empty()) {
        c.action = Action::kUpdate;
        std::string want = spec["Labels"].value(model::kSpecHashLabel, "");
        c.drift = LabelOf(it->second.labels, model::kSpecHashLabel) == want;
      }
    }
    diff.changes.push_back(std::move(c));
  }

  // Deletions: only objects of this stack that stackctl owns. Superseded
  // content-hash versions of secrets/configs still wanted under their key are
  // not deletions: the executor retires them after a successful rollout.
  auto orphan = [&](ResourceKind kind, const std::string& name,
                    const std::map<std::string, std::string>& labels) {
    if (!IsManaged(labels)) return;
    if (options.prune) {
      diff.changes.push_back(Change{kind, name, Action::kDelete});
    } else {
      diff.orphans.push_back(std::string(ResourceKindName(kind)) + " " + name);
    }
  };
  for (const auto& [name, svc] : live.services) {
    if (!wanted_services.count(name)) orphan(ResourceKind::kService, name, svc.labels);
  }
  for (const auto& [name, net] : live.networks) {
    if (!wanted_networks.count(name)) orphan(ResourceKind::kNetwork, name, net.labels);
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
      orphan(kind, name, obj.labels);
    }
  };
  orphan_blobs(desired.secrets, ResourceKind::kSecret, live.secrets);
  orphan_blobs(desired.configs, ResourceKind::kConfig, live.configs);
  return diff;
}

}  // namespace stackctl::reconciler
