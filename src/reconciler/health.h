// Health of a service during a rollout, from its live status and tasks
// (gitops-engine's pkg/health idea, for Swarm).
//
// A service has converged when as many tasks as it wants run the *current*
// task template (a task's Spec is a copy of the template it was created
// from), so a stale "running" count from before an update never counts. It
// has failed when Swarm paused or rolled back its update, or when as many
// tasks of the current template failed as it wants running. One-shot services
// (restart condition none/on-failure) converge when their tasks complete.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "engineapi/engine.h"
#include "reconciler/live.h"

namespace stackctl::reconciler {

enum class HealthState { kProgressing, kConverged, kFailed };
std::string_view HealthStateName(HealthState s);

// A stack's health, the one definition for `stackctl status` and the
// controller's API: no service -> unknown (nothing to judge, which is not
// healthy); every service converged -> healthy; otherwise degraded.
enum class StackHealth { kUnknown, kHealthy, kDegraded };
// The wire spelling, lower case like the services' (HealthStateName):
// "unknown", "healthy", "degraded".
std::string_view StackHealthName(StackHealth h);
StackHealth StackHealthOf(const std::vector<HealthState>& services);

struct ServiceHealth {
  HealthState state = HealthState::kProgressing;
  uint64_t running = 0;  // tasks running the current template
  uint64_t desired = 0;
  bool global = false;       // Mode.Global (read here anyway: status shows it)
  std::string update_state;  // UpdateStatus.State, "" when none
  std::string message;       // why it failed: engine update message and task errors
};

// `tasks` are the service's tasks (any state). Task specs are compared with
// the template after normalization (normalize.h), since inspect adds defaults,
// and without Placement (Swarm keeps tasks whose node still fits a changed one).
ServiceHealth EvaluateHealth(const LiveService& service, const std::vector<engine::Task>& tasks);

}  // namespace stackctl::reconciler
