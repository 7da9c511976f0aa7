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

Result<LiveState> ReadLive(engine::Engine& engine, const std::string& stack, bool with_status) {
  LiveState live;
  live.stack = stack;
  engine::Filters by_stack{{"label", {std::string(model::kStackNamespaceLabel) + "=" + stack}}};

  // The four reads are independent and each is a round trip to the manager:
  // sent at once, a read of the stack costs the slowest of them, not their
  // sum. Each task writes only its own outputs; they are combined after.
  // Each service is packed as it is read, while its DOM is at hand; the IDs of
  // the configs it uses are taken from there too (external ones included).
  std::map<std::string, std::string> service_config_ids;
  std::vector<engine::Object> networks, secrets, configs;
  Status read[4];
  auto list = [&](engine::Kind kind, const engine::Filters& filters, std::vector<engine::Object>* out) {
    Result<std::vector<engine::Object>> r = engine.ListObjects(kind, filters);
    if (!r.ok()) return r.status();
    *out = std::move(*r);
    return OkStatus();
  };
  ParallelFor(4, 4, [&](size_t i) {
    switch (i) {
      case 0:
        read[0] = engine.VisitServices(by_stack, with_status, [&](engine::Service&& s) {
          const Json& cs = s.spec.value("TaskTemplate", Json::object()).value("ContainerSpec", Json::object());
          for (const auto& ref : cs.value("Configs", Json::array())) {
            if (ref.contains("ConfigName") && ref.contains("ConfigID")) {
              service_config_ids.emplace(ref["ConfigName"].get<std::string>(), ref["ConfigID"].get<std::string>());
            }
          }
          std::string name = s.name;
          live.services.emplace(std::move(name), LiveService::From(std::move(s)));
        });
        break;
      case 1: read[1] = list(engine::Kind::kNetwork, {}, &networks); break;
      case 2: read[2] = list(engine::Kind::kSecret, {}, &secrets); break;
      case 3: read[3] = list(engine::Kind::kConfig, by_stack, &configs); break;
    }
  });
  // The first failure in a fixed order, whichever finished first.
  for (const Status& st : read) RETURN_IF_ERROR(st);

  for (auto& n : networks) {
    live.all_network_ids[n.name] = n.id;
    auto ns = n.labels.find(model::kStackNamespaceLabel);
    if (ns != n.labels.end() && ns->second == stack) live.networks.emplace(n.name, std::move(n));
  }

  for (auto& s : secrets) {
    live.all_secret_ids[s.name] = s.id;
    auto ns = s.labels.find(model::kStackNamespaceLabel);
    if (ns != s.labels.end() && ns->second == stack) live.secrets.emplace(s.name, std::move(s));
  }

  for (auto& c : configs) {
    live.known_config_ids[c.name] = c.id;
    auto kind = c.labels.find(kKindLabel);
    if (kind != c.labels.end()) {
      if (kind->second == "control") {
        live.adopted_networks = AdoptedNetworksOf(c.labels);
        live.control = std::move(c);
      }
      continue;
    }
    live.configs.emplace(c.name, std::move(c));
  }
  // Externally created configs in use: listed ones take precedence.
  live.known_config_ids.merge(service_config_ids);
  return live;
}

}  // namespace stackctl::reconciler
