// Plan: the ordered steps that take a stack from its live to its desired
// state (gitops-engine's sync tasks ordered by phase and wave).
//
//   prepare  networks, then configs, then secrets to create or adopt
//            (before the services that use them)
//   waves    services to create, update or adopt, in depends_on order (a service
//            never starts before what it depends on), then by name, at most
//            `parallelism` services per wave (0 = one wave per dependency level)
//   cleanup  deletions (prune): services first, then networks, configs, secrets
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "model/stack.h"
#include "reconciler/diff.h"

namespace stackctl::reconciler {

struct Step {
  ResourceKind kind;
  Action action;
  std::string name;
  bool operator==(const Step&) const = default;
};

struct Plan {
  std::vector<Step> prepare;
  std::vector<std::vector<Step>> waves;
  std::vector<Step> cleanup;
  bool empty() const { return prepare.empty() && waves.empty() && cleanup.empty(); }
};

struct PlanOptions {
  int parallelism = 0;  // services per wave; 0 = a whole dependency level
};

// Fails with InvalidArgument on a depends_on cycle or an unknown dependency,
// and with FailedPrecondition for a network that would have to be recreated.
Result<Plan> BuildPlan(const model::StackSpec& desired, const StackDiff& diff, const PlanOptions& options);

}  // namespace stackctl::reconciler
