#include "reconciler/live.h"

#include "common/parallel.h"
#include "model/stack.h"

namespace stackctl::reconciler {

bool IsManaged(const std::map<std::string, std::string>& labels) {
  auto it = labels.find(model::kManagedByLabel);
  return it != labels.end() && it->second == model::kManagedByValue;
}

bool OwnsNetwork(const LiveState& live, const engine::Object& network) {
  if (IsManaged(network.labels)) return true;
  auto it = live.adopted_networks.find(network.name);
  return it != live.adopted_networks.end() && it->second == network.id;
}

std::map<std::string, std::string> AdoptedNetworksOf(const std::map<std::string, std::string>& control_labels) {
  std::map<std::string, std::string> out;
  const std::string prefix = kAdoptedNetworkLabelPrefix;
  for (auto it = control_labels.lower_bound(prefix); it != control_labels.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    out.emplace(it->first.substr(prefix.size()), it->second);
  }
  return out;
}

LiveService LiveService::From(engine::Service&& service) {
  LiveService s;
  s.id = std::move(service.id);
  s.name = std::move(service.name);
  s.version = service.version;
  for (const char* key : kPlainLabels) {
    if (auto it = service.labels.find(key); it != service.labels.end()) s.labels.emplace(key, std::move(it->second));
  }
  const Json& container = service.spec.value("TaskTemplate", Json::object()).value("ContainerSpec", Json::object());
  s.image = container.value("Image", "");
  s.spec = PackedJson(service.spec);
  s.update_status = std::move(service.update_status);
  s.status = service.status;
  return s;
}

namespace {

// Reads services, networks, secrets and configs with one list call each,
// services and configs filtered by `filter` (one stack's namespace label, or
// that label's presence for every stack), and files what belongs to a stack
// of `out` (keyed by stack name, each entry's `stack` set) there; objects of
// other stacks are dropped as they arrive.
Status ReadInto(engine::Engine& engine, const engine::Filters& filter, bool with_status,
                std::map<std::string, LiveState>* out) {
  auto stack_of = [out](const std::map<std::string, std::string>& labels) -> LiveState* {
    auto ns = labels.find(model::kStackNamespaceLabel);
    if (ns == labels.end()) return nullptr;
    auto it = out->find(ns->second);
    return it == out->end() ? nullptr : &it->second;
  };

  // The four reads are independent and each is a round trip to the manager:
  // sent at once, a read costs the slowest of them, not their sum. Each task
  // writes only its own outputs; they are combined after. Each service is
  // packed as it is read, while its DOM is at hand; the IDs of the configs it
  // uses are taken from there too (external ones included).
  std::map<LiveState*, std::map<std::string, std::string>> service_config_ids;
  std::vector<engine::Object> networks, secrets, configs;
  Status read[4];
  auto list = [&](engine::Kind kind, const engine::Filters& filters, std::vector<engine::Object>* objects) {
    Result<std::vector<engine::Object>> r = engine.ListObjects(kind, filters);
    if (!r.ok()) return r.status();
    *objects = std::move(*r);
    return OkStatus();
  };
  ParallelFor(4, 4, [&](size_t i) {
    switch (i) {
      case 0:
        read[0] = engine.VisitServices(filter, with_status, [&](engine::Service&& s) {
          LiveState* live = stack_of(s.labels);
          if (!live) return;
          const Json& cs = s.spec.value("TaskTemplate", Json::object()).value("ContainerSpec", Json::object());
          for (const auto& ref : cs.value("Configs", Json::array())) {
            if (ref.contains("ConfigName") && ref.contains("ConfigID")) {
              service_config_ids[live].emplace(ref["ConfigName"].get<std::string>(),
                                               ref["ConfigID"].get<std::string>());
            }
          }
          std::string name = s.name;
          live->services.emplace(std::move(name), LiveService::From(std::move(s)));
        });
        break;
      case 1: read[1] = list(engine::Kind::kNetwork, {}, &networks); break;
      case 2: read[2] = list(engine::Kind::kSecret, {}, &secrets); break;
      case 3: read[3] = list(engine::Kind::kConfig, filter, &configs); break;
    }
  });
  // The first failure in a fixed order, whichever finished first.
  for (const Status& st : read) RETURN_IF_ERROR(st);

  std::map<std::string, std::string> network_ids, secret_ids;
  for (auto& n : networks) {
    network_ids[n.name] = n.id;
    if (LiveState* live = stack_of(n.labels)) live->networks.emplace(n.name, std::move(n));
  }
  for (auto& s : secrets) {
    secret_ids[s.name] = s.id;
    if (LiveState* live = stack_of(s.labels)) live->secrets.emplace(s.name, std::move(s));
  }
  for (auto& [stack, live] : *out) {
    live.all_network_ids = network_ids;
    live.all_secret_ids = secret_ids;
  }

  for (auto& c : configs) {
    LiveState* live = stack_of(c.labels);
    if (!live) continue;
    live->known_config_ids[c.name] = c.id;
    auto kind = c.labels.find(kKindLabel);
    if (kind != c.labels.end()) {
      if (kind->second == "control") {
        live->adopted_networks = AdoptedNetworksOf(c.labels);
        live->control = std::move(c);
      }
      continue;
    }
    live->configs.emplace(c.name, std::move(c));
  }
  // Externally created configs in use: listed ones take precedence.
  for (auto& [live, ids] : service_config_ids) live->known_config_ids.merge(ids);
  return OkStatus();
}

}  // namespace

Result<LiveState> ReadLive(engine::Engine& engine, const std::string& stack, bool with_status) {
  std::map<std::string, LiveState> out;
  out[stack].stack = stack;
  engine::Filters by_stack{{"label", {std::string(model::kStackNamespaceLabel) + "=" + stack}}};
  RETURN_IF_ERROR(ReadInto(engine, by_stack, with_status, &out));
  return std::move(out.begin()->second);
}

Result<std::map<std::string, LiveState>> ReadLiveStacks(engine::Engine& engine,
                                                        const std::set<std::string>& stacks) {
  std::map<std::string, LiveState> out;
  for (const std::string& stack : stacks) out[stack].stack = stack;
  engine::Filters of_any_stack{{"label", {model::kStackNamespaceLabel}}};
  RETURN_IF_ERROR(ReadInto(engine, of_any_stack, /*with_status=*/false, &out));
  return out;
}

}  // namespace stackctl::reconciler
