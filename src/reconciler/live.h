// LiveState: what the swarm holds for one stack, read with one list call per
// kind (services, networks, secrets, configs), filtered by the stack's
// namespace label where the engine allows it; ReadLiveStacks reads many
// stacks with the same four calls.
//
// Networks and secrets are listed whole (their lists carry no payload) so that
// external ones resolve without extra calls; configs are listed by label since
// a config list carries every config's data.
//
// Thread safety: plain values.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "common/json.h"
#include "common/status.h"
#include "engineapi/engine.h"
#include "model/stack.h"

namespace stackctl::reconciler {

// Labels of stackctl's own bookkeeping objects (see history.h).
inline constexpr char kKindLabel[] = "io.stackctl.kind";  // "control" | "history" | "lock"
// Networks cannot be relabelled, so a network stackctl adopted (one made by
// `docker stack deploy`, say) is recorded on the stack's control record as
// "io.stackctl.adopted-network.<name>=<network ID>" instead of carrying
// kManagedByLabel. The ID makes a same-named network made later a stranger.
inline constexpr char kAdoptedNetworkLabelPrefix[] = "io.stackctl.adopted-network.";

// A live service as the reconciler keeps it. A reconcile holds every service
// of the stack at once (a stackctld managing 1,000 services: all 1,000), so
// the spec is packed and unpacked only where it is read whole: the diff of
// one service, the spec a rollout undoes to, status. What is read of every
// service stays plain.
struct LiveService {
  std::string id, name;
  uint64_t version = 0;                       // Version.Index, sent back on update
  // Only the labels a reconcile reads of every service (ownership, spec hash,
  // stack image: kPlainLabels); all of them are in the packed spec. Every
  // label kept costs about 130 bytes per service.
  std::map<std::string, std::string> labels;
  std::string image;                          // Spec.TaskTemplate.ContainerSpec.Image
  PackedJson spec;
  // The spec unpacked and normalized with the live state's context
  // (NormalizeLiveServices, for a caller with a thread idle before it
  // compares); null otherwise. Cleared with `spec`.
  std::shared_ptr<const Json> normalized;
  Json update_status;            // UpdateStatus, null when none
  engine::ServiceStatus status;  // only filled by ReadLive(..., with_status=true)

  static LiveService From(engine::Service&& service);
  static constexpr const char* kPlainLabels[] = {model::kManagedByLabel, model::kSpecHashLabel,
                                                 model::kStackImageLabel};
};

struct LiveState {
  std::string stack;
  std::map<std::string, LiveService> services;  // by name, this stack's
  std::map<std::string, engine::Object> networks;   // by name, this stack's
  std::map<std::string, engine::Object> secrets;    // by name, this stack's
  std::map<std::string, engine::Object> configs;    // by name, this stack's (no bookkeeping)
  std::optional<engine::Object> control;            // the stack's control record
  // Networks the control record says stackctl adopted: name -> ID.
  std::map<std::string, std::string> adopted_networks;
  // Every network and secret of the swarm by name -> ID (externals included).
  std::map<std::string, std::string> all_network_ids;
  std::map<std::string, std::string> all_secret_ids;
  // Config name -> ID for this stack's configs and those live services reference.
  std::map<std::string, std::string> known_config_ids;
};

// with_status fills each service's task counts (ServiceStatus), which costs
// the engine a task scan: only `status` needs them, not the diff.
Result<LiveState> ReadLive(engine::Engine& engine, const std::string& stack, bool with_status = false);

// The live state of many stacks from the same four list calls, services and
// configs filtered by the presence of the namespace label instead of one
// stack's value: stackctld's periodic full check of every stack it manages.
// Each entry (one per name in `stacks`, empty for a stack with nothing live)
// equals what ReadLive(engine, stack) would return at that moment; objects of
// other stacks are dropped as they arrive.
Result<std::map<std::string, LiveState>> ReadLiveStacks(engine::Engine& engine,
                                                        const std::set<std::string>& stacks);

// True when the object carries stackctl's ownership label.
bool IsManaged(const std::map<std::string, std::string>& labels);
// True when stackctl owns the live network: by label, or adopted with this ID.
bool OwnsNetwork(const LiveState& live, const engine::Object& network);
// The adopted networks (name -> ID) recorded in a control record's labels.
std::map<std::string, std::string> AdoptedNetworksOf(const std::map<std::string, std::string>& control_labels);

}  // namespace stackctl::reconciler
