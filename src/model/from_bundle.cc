#include <algorithm>
#include <set>

#include "dab/bundle.h"
#include "model/from_compose.h"

namespace stackctl::model {

Result<StackSpec> FromBundle(const dab::Bundle& bundle, const std::string& stack) {
  StackSpec out;
  out.name = stack;
  auto scope = [&](const std::string& k) { return stack + "_" + k; };
  auto stack_labels = [&](const std::map<std::string, std::string>& labels) {
    Json l = Json::object();
    for (const auto& [k, v] : labels) l[k] = v;
    l[kStackNamespaceLabel] = stack;
    return l;
  };
  std::set<std::string> nets;
  for (const auto& [name, s] : bundle.services) {
    for (const auto& n : s.networks) nets.insert(n);
  }
  for (const auto& n : nets) {
    Network net;
    net.key = n;
    net.name = scope(n);
    net.spec = {{"CheckDuplicate", false}, {"Driver", "overlay"},  {"Scope", ""},
                {"EnableIPv6", false},     {"IPAM", nullptr},      {"Internal", false},
                {"Attachable", false},     {"Ingress", false},     {"ConfigOnly", false},
                {"ConfigFrom", nullptr},   {"Options", nullptr},   {"Labels", stack_labels({})},
                {"Name", net.name}};
    out.networks.push_back(std::move(net));
  }
  std::sort(out.networks.begin(), out.networks.end(),
            [](const Network& a, const Network& b) { return a.name < b.name; });
  for (const auto& [key, s] : bundle.services) {
    if (s.image.empty()) return InvalidArgument("Services." + key + ".Image: must not be empty");
    Json cs = {{"Image", ImageWithTag(s.image)}, {"Labels", stack_labels({})}};
    if (!s.command.empty()) cs["Command"] = s.command;
    if (!s.args.empty()) cs["Args"] = s.args;
    if (!s.env.empty()) cs["Env"] = s.env;
    if (s.working_dir && !s.working_dir->empty()) cs["Dir"] = *s.working_dir;
    if (s.user && !s.user->empty()) cs["User"] = *s.user;
    Json ep = Json::object();
    if (!s.ports.empty()) {
      Json ports = Json::array();
      for (const auto& p : s.ports) ports.push_back({{"Protocol", p.protocol}, {"TargetPort", p.port}});
      ep["Ports"] = ports;
    }
    Json spec = {{"Name", scope(key)},
                 {"Labels", stack_labels(s.labels)},
                 {"TaskTemplate", {{"ContainerSpec", cs}, {"ForceUpdate", 0}}},
                 {"Mode", {{"Replicated", Json::object()}}},
                 {"EndpointSpec", ep}};
    // `docker deploy --bundle-file` sent these in the deprecated
    // service-level Networks field; TaskTemplate.Networks is where current
    // engines keep them (see docs/compose-parity.md).
    if (!s.networks.empty()) {
      Json attach = Json::array();
      for (const auto& n : s.networks) attach.push_back({{"Target", scope(n)}, {"Aliases", {key}}});
      spec["TaskTemplate"]["Networks"] = attach;
    }
    Service svc;
    svc.key = key;
    svc.name = scope(key);
    svc.spec = PackedJson(spec);
    out.services.push_back(std::move(svc));
  }
  std::sort(out.services.begin(), out.services.end(),
            [](const Service& a, const Service& b) { return a.name < b.name; });
  return out;
}

}  // namespace stackctl::model
