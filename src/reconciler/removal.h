// Removal waits: what a removal asked the engine to delete, and the wait
// until the engine has really let it go.
//
// The engine answers a DELETE at once, but keeps listing what it removed
// while it tears it down: a network stays in /networks for seconds while the
// tasks attached to it stop (seen on Docker 20.10: a redeploy right after a
// rolled-back first deploy read the network as present, did not create it,
// and its service creates failed "network x not found"). So every removal
// of a stack (the rollback of a first deploy, prune, retirement of old secret
// and config versions, `stackctl rm`) ends by waiting, with a bound, until
// nothing it removed is listed any more, and reports what still is.
//
// Thread safety: plain functions over an Engine (safe for concurrent calls).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "engineapi/engine.h"

namespace stackctl::reconciler {

// One object a removal deleted.
struct Removed {
  std::optional<engine::Kind> kind;  // nullopt: a service
  std::string id;
  std::string what;  // "service web_app", "network web_default"
};

// Polls the engine's lists of `stack`'s objects (one list per kind removed)
// every `poll` until none of `removed` is listed, for at most `wait`.
// Returns the `what` of those still listed then (empty: all gone), in the
// order of `removed`. A failing list is returned as its error.
Result<std::vector<std::string>> WaitUntilGone(engine::Engine& engine, Clock& clock, const std::string& stack,
                                               const std::vector<Removed>& removed,
                                               std::chrono::milliseconds wait, std::chrono::milliseconds poll);

// Whether `st` is the engine refusing a service create or update because a
// network, secret or config it references, or the service itself, does not
// exist (any more): "network x not found", "service x not found" (404),
// "secret not found: x" / "config not found: x" (swarmkit, 400).
bool IsMissingReference(const Status& st);

}  // namespace stackctl::reconciler
