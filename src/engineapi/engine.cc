#include "engineapi/engine.h"

namespace stackctl::engine {

std::string SwarmInfo::Role() const {
  if (local_node_state != "active") return "none";
  return control_available ? "manager" : "worker";
}

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kNetwork:
      return "network";
    case Kind::kSecret:
      return "secret";
    case Kind::kConfig:
      return "config";
  }
  return "object";
}

Result<std::vector<Service>> Engine::ListServices(const Filters& filters, bool with_status) {
  std::vector<Service> out;
  RETURN_IF_ERROR(VisitServices(filters, with_status, [&](Service&& s) { out.push_back(std::move(s)); }));
  return out;
}

int64_t EventTimeNano(const Json& event) {
  if (!event.is_object()) return 0;
  auto nano = event.find("timeNano");
  if (nano != event.end() && nano->is_number_integer()) return nano->get<int64_t>();
  auto secs = event.find("time");
  if (secs != event.end() && secs->is_number_integer()) return secs->get<int64_t>() * 1000000000LL;
  return 0;
}

}  // namespace stackctl::engine
