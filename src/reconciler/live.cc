#include "reconciler/live.h"

#include "model/stack.h"

namespace stackctl::reconciler {

bool IsManaged(const std::map<std::string, std::string>& labels) {
  auto it = labels.find(model::kManagedByLabel);
  return it != labels.end() && it->second == model::kManagedByValue;
}

Result<LiveState> ReadLive(engine::Engine& engine, const std::string& stack, bool with_status) {
  LiveState live;
  live.stack = stack;
  engine::Filters by_stack{{"label", {std::string(model::kStackNamespaceLabel) + "=" + stack}}};

  ASSIGN_OR_RETURN(auto services, engine.ListServices(by_stack, with_status));
  for (auto& s : services) live.services.emplace(s.name, std::move(s));

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
      if (kind->second == "control") live.control = std::move(c);
      continue;
    }
    live.configs.emplace(c.name, std::move(c));
  }
  // Externally created configs in use: their IDs are in the services' specs.
  for (const auto& [name, svc] : live.services) {
    const Json& cs = svc.spec.value("TaskTemplate", Json::object()).value("ContainerSpec", Json::object());
    for (const auto& ref : cs.value("Configs", Json::array())) {
      if (ref.contains("ConfigName") && ref.contains("ConfigID")) {
        live.known_config_ids.emplace(ref["ConfigName"].get<std::string>(),
                                      ref["ConfigID"].get<std::string>());
      }
    }
  }
  return live;
}

}  // namespace stackctl::reconciler
