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

}  // namespace stackctl::engine
