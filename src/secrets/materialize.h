// secrets::Materialize: content-hash naming of Swarm secrets and configs.
//
// Swarm secrets and configs are immutable, so a change of content must be a
// new object. Materialize renames every non-external secret and config of a
// stack to "<name>-<first 12 hex of sha256(data)>" (the name part truncated so
// the result fits Swarm's 64-character limit), records the logical name and
// the full content hash in labels, and repoints every service reference
// (TaskTemplate.ContainerSpec.Secrets[].SecretName and
// Configs[].ConfigName). A content change therefore yields a new name, a
// service update that swaps the object, and the old object becomes unused
// (the reconciler prunes it). External objects are left alone.
//
// Deterministic and idempotent: running it twice gives the same spec.
// Errors name the object ("secret db_pass: content is larger than ...")
// and never contain content.
//
// Ownership: mutates `stack` in place; reads Blob::data, never copies it.
// Thread safety: pure function over its argument.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/status.h"
#include "model/stack.h"

namespace stackctl::secrets {

// Labels: model::kLogicalNameLabel (the name before hashing, e.g.
// "mystack_db_pass") and model::kContentHashLabel ("sha256:<64 hex>").
inline constexpr size_t kMaxSwarmNameLength = 64;
inline constexpr size_t kNameHashLength = 12;
// Swarm's limits (swarmkit api/validation): data must be shorter than these.
inline constexpr size_t kMaxSecretSize = 500 * 1024;
inline constexpr size_t kMaxConfigSize = 1000 * 1024;

// "<logical>-<hash12>", the logical part cut so the whole is <= 64 chars.
std::string HashedName(std::string_view logical_name, std::string_view data);

// The names each step below changed, old -> new.
struct Renames {
  std::map<std::string, std::string> secrets, configs;
};

// Materialize in two steps: the secrets and configs are renamed first, then
// each service spec is repointed. A caller that makes the specs itself
// (render, through model::AddComposeServices) repoints each before packing it.
Result<Renames> MaterializeObjects(model::StackSpec& stack);
// True when a reference changed.
bool RepointReferences(Json& service_spec, const Renames& renames);

// Both steps, each packed service spec unpacked at most once.
Status Materialize(model::StackSpec& stack);

}  // namespace stackctl::secrets
