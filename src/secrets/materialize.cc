#include "secrets/materialize.h"

#include <algorithm>
#include <map>

#include "common/crypto.h"

namespace stackctl::secrets {
namespace {

// Renames the blobs of one kind and records each rename in `renames`.
Status MaterializeKind(std::vector<model::Blob>& blobs, const char* kind, size_t max_size,
                       std::map<std::string, std::string>* renames) {
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
    if (old_name != name) (*renames)[old_name] = name;
  }
  std::sort(blobs.begin(), blobs.end(),
            [](const model::Blob& a, const model::Blob& b) { return a.name < b.name; });
  return OkStatus();
}

// Repoints every reference in `list` (Secrets or Configs) whose `field` names
// a renamed blob; true when one changed.
bool Repoint(Json* container_spec, const char* list, const char* field,
             const std::map<std::string, std::string>& renames) {
  if (renames.empty() || !container_spec->contains(list)) return false;
  Json& refs = (*container_spec)[list];
  if (!refs.is_array()) return false;
  bool changed = false;
  for (Json& r : refs) {
    if (!r.is_object() || !r.contains(field) || !r[field].is_string()) continue;
    auto it = renames.find(r[field].get<std::string>());
    if (it == renames.end()) continue;
    r[field] = it->second;
    changed = true;
  }
  return changed;
}

}  // namespace

std::string HashedName(std::string_view logical_name, std::string_view data) {
  const std::string suffix = "-" + Sha256Hex(data).substr(0, kNameHashLength);
  std::string_view base = logical_name;
  if (base.size() + suffix.size() > kMaxSwarmNameLength)
    base = base.substr(0, kMaxSwarmNameLength - suffix.size());
  return std::string(base) + suffix;
}

Result<Renames> MaterializeObjects(model::StackSpec& stack) {
  Renames renames;
  RETURN_IF_ERROR(MaterializeKind(stack.secrets, "secret", kMaxSecretSize, &renames.secrets));
  RETURN_IF_ERROR(MaterializeKind(stack.configs, "config", kMaxConfigSize, &renames.configs));
  return renames;
}

bool RepointReferences(Json& spec, const Renames& renames) {
  if (!spec.is_object() || !spec.contains("TaskTemplate")) return false;
  Json& tt = spec["TaskTemplate"];
  if (!tt.is_object() || !tt.contains("ContainerSpec")) return false;
  Json& cs = tt["ContainerSpec"];
  if (!cs.is_object()) return false;
  bool changed = Repoint(&cs, "Secrets", "SecretName", renames.secrets);
  return Repoint(&cs, "Configs", "ConfigName", renames.configs) || changed;
}

Status Materialize(model::StackSpec& stack) {
  ASSIGN_OR_RETURN(Renames renames, MaterializeObjects(stack));
  if (renames.secrets.empty() && renames.configs.empty()) return OkStatus();
  for (model::Service& s : stack.services) {
    Json spec = s.spec.Unpack();
    if (RepointReferences(spec, renames)) s.spec = PackedJson(spec);
  }
  return OkStatus();
}

}  // namespace stackctl::secrets
