#include "secrets/materialize.h"

#include <algorithm>
#include <map>

#include "common/crypto.h"

namespace stackctl::secrets {
namespace {

// Repoints every reference in `list` (Secrets or Configs) whose `field`
// equals `from` to `to`.
void Repoint(Json* container_spec, const char* list, const char* field, const std::string& from,
             const std::string& to) {
  if (!container_spec->is_object() || !container_spec->contains(list)) return;
  Json& refs = (*container_spec)[list];
  if (!refs.is_array()) return;
  for (Json& r : refs) {
    if (r.is_object() && r.contains(field) && r[field].is_string() &&
        r[field].get<std::string>() == from)
      r[field] = to;
  }
}

Status MaterializeKind(std::vector<model::Blob>& blobs, const char* kind, const char* list,
                       const char* field, size_t max_size, std::vector<model::Service>& services) {
  std::map<std::string, std::string> used;  // new name -> key
  for (model::Blob& b : blobs) {
    const std::string what = std::string(kind) + " " + b.key;
    if (b.external) continue;
    if (b.data.size() >= max_size) {
      return InvalidArgument(what + ": content is " + std::to_string(b.data.size()) +
                             " bytes; Swarm accepts less than " + std::to_string(max_size));
    }
    const std::string full = Sha256Hex(b.data);
    std::string logical = b.name;
    if (b.spec.is_object() && b.spec.contains("Labels") && b.spec["Labels"].is_object() &&
        b.spec["Labels"].contains(model::kLogicalNameLabel) &&
        b.spec["Labels"][model::kLogicalNameLabel].is_string()) {
      logical = b.spec["Labels"][model::kLogicalNameLabel].get<std::string>();  // already materialized
    }
    const std::string old_name = b.name;
    const std::string name = HashedName(logical, b.data);
    if (auto [it, fresh] = used.emplace(name, b.key); !fresh) {
      return InvalidArgument(what + ": materializes to the same name as " + kind + " " +
                             it->second + " (" + name + ")");
    }
    if (!b.spec.is_object()) b.spec = Json::object();
    b.spec["Name"] = name;
    b.spec["Labels"][model::kLogicalNameLabel] = logical;
    b.spec["Labels"][model::kContentHashLabel] = "sha256:" + full;
    b.name = name;
    for (model::Service& s : services) {
      if (!s.spec.is_object() || !s.spec.contains("TaskTemplate")) continue;
      Json& tt = s.spec["TaskTemplate"];
      if (!tt.is_object() || !tt.contains("ContainerSpec")) continue;
      Repoint(&tt["ContainerSpec"], list, field, old_name, name);
    }
  }
  std::sort(blobs.begin(), blobs.end(),
            [](const model::Blob& a, const model::Blob& b) { return a.name < b.name; });
  return OkStatus();
}

}  // namespace

std::string HashedName(std::string_view logical_name, std::string_view data) {
  const std::string suffix = "-" + Sha256Hex(data).substr(0, kNameHashLength);
  std::string_view base = logical_name;
  if (base.size() + suffix.size() > kMaxSwarmNameLength)
    base = base.substr(0, kMaxSwarmNameLength - suffix.size());
  return std::string(base) + suffix;
}

Status Materialize(model::StackSpec& stack) {
  RETURN_IF_ERROR(MaterializeKind(stack.secrets, "secret", "Secrets", "SecretName", kMaxSecretSize,
                                  stack.services));
  return MaterializeKind(stack.configs, "config", "Configs", "ConfigName", kMaxConfigSize,
                         stack.services);
}

}  // namespace stackctl::secrets
