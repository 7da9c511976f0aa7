// Normalization of Swarm specs before comparison (gitops-engine's diff idea):
// the engine stores a spec in its own shape (network names resolved to IDs,
// defaults such as Isolation "default" or EndpointSpec.Mode "vip" filled in,
// empty values dropped), so a spec we sent and the spec the engine returns
// differ in form but not in meaning. Both sides are brought to one canonical
// form; whatever still differs is a real change (or drift).
//
// The rules are checked against every request/stored-spec pair of the
// conformance corpus (normalize_test.cc).
//
// Thread safety: pure functions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/json.h"

namespace stackctl::reconciler {

struct NormalizeContext {
  // Network name -> ID (and ID -> ID), to compare TaskTemplate.Networks targets.
  std::map<std::string, std::string> network_ids;
  // Labels ignored on both sides (ours that change without a spec change).
  std::vector<std::string> ignored_labels;
};

// Both take their argument by value: pass a spec that is not needed after
// (std::move) and it is normalized in place, without a copy.
Json NormalizeServiceSpec(Json spec, const NormalizeContext& ctx);
Json NormalizeNetworkSpec(const Json& spec);  // NetworkCreate body or network inspect
// A TaskTemplate (or a task's Spec, which is a copy of the template it was
// created from), with the defaults the engine inserts on inspect removed.
Json NormalizeTaskTemplate(Json templ, const NormalizeContext& ctx);

// Paths at which `live` does not carry what `desired` asks for: objects are
// compared key by key over desired's keys only (the engine adds its own, e.g.
// the VXLAN id option or an allocated subnet); other values must be equal.
std::vector<std::string> SubsetChangedPaths(const Json& desired, const Json& live);

// The JSON paths ("TaskTemplate.ContainerSpec.Image", "Labels.tier") at which
// two normalized documents differ; objects are descended, arrays compared whole.
std::vector<std::string> ChangedPaths(const Json& a, const Json& b);

}  // namespace stackctl::reconciler
