// What the notifier (notify/notifier.h) is told about one reconcile: the
// ReconcileReport of a stack mapped to a notify::StackOutcome, with the
// repository's URL and commit-status host. Kept apart from the loop so the
// mapping is tested on its own.
//
// Thread safety: a pure function.
#pragma once

#include "config/config.h"
#include "stacksync/stack_reconcile.h"
#include "notify/notifier.h"
#include "reconciler/policy.h"

namespace stackctl::controller {

//   error, render                -> kRenderFailed
//   error, images (trust policy) -> kImageRefused, service: the first refused one
//   error, other, terminal       -> kDeployFailed; retryable -> kRetrying
//   succeeded -> kDeployed; rolled back -> kRolledBack; failed -> kDeployFailed;
//   pinned -> kPinned; in sync -> kInSync, or kOutOfSync when changes were
//   found but not applied
notify::StackOutcome StackOutcomeOf(const std::string& stack,
                                    const config::RepositoryConfig& repository,
                                    reconciler::Trigger trigger, const stacksync::ReconcileReport& report);

}  // namespace stackctl::controller
