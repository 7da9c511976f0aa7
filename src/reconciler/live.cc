#include "reconciler/live.h"

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

  // Each service is packed as it is read, while its DOM is at hand; the IDs of
  // the configs it uses are taken from there too (external ones included).
  std::map<std::string, std::string> service_config_ids;
  RETURN_IF_ERROR(engine.VisitServices(by_stack, with_status, [&](engine::Service&& s) {
    const Json& cs = s.spec.value("TaskTemplate", Json::object()).value("ContainerSpec", Json::object());
    for (const auto& ref : cs.value("Configs", Json::array())) {
      if (ref.contains("ConfigName") && ref.contains("ConfigID")) {
        service_config_ids.emplace(ref["ConfigName"].get<std::string>(), ref["ConfigID"].get<std::string>());
      }
    }
    std::string name = s.name;
    live.services.emplace(std::move(name), LiveService::From(std::move(s)));
  }));

  ASSIGN_OR_RETURN(auto networks, engine.ListObjects(engine::Kind::kNetwork, {}));
  for (auto& n : networks) {
    live.all_network_ids[n.name] = n.id;
    auto ns = n.labels.find(model::kStackNamespaceLabel);
    if (ns != n.labels.end() && ns->second == stack) live.networks.emplace(n.name, std::move(n));
  }

  ASSIGN_OR_RETURN(auto secrets, engine.ListObjects(engine::Kind::kSecret, {}));
  for (auto& s : secrets) {
    live.all_secret_ids[s.name] = s.id;
    auto ns = s.labels.find(model::kStackNamespaceLabel);
    if (ns != s.labels.end() && ns->second == stack) live.secrets.emplace(s.name, std::move(s));
  }

  ASSIGN_OR_RETURN(auto configs, engine.ListObjects(engine::Kind::kConfig, by_stack));
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
