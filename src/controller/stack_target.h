// Where stackctld's configuration and Git meet the one reconcile function
// (stacksync/stack_reconcile.h):
//
//   TargetFromConfig(stack config) -> StackTarget   the one place a stack's
//                                                    configuration becomes render,
//                                                    deploy, sync and trust options
//   ReconcileAtCommit(target, dir, snapshot, ...)   ReconcileStack over the
//                                                    stack's directory at a commit,
//                                                    its inputs named as repository
//                                                    paths (change tracking)
//
// Thread safety: as ReconcileStack.
#pragma once

#include <string>

#include "config/config.h"
#include "gitsource/source.h"
#include "stacksync/stack_reconcile.h"

namespace stackctl::controller {

stacksync::StackTarget TargetFromConfig(const config::StackConfig& stack);

// `stack_dir` is the stack's `path` in the repository. The report's inputs
// are repository paths ("web/docker-compose.yml", "common/app.env"); a
// render error names the commit ("stack web at 1a2b3c4d5e6f: ...").
stacksync::ReconcileReport ReconcileAtCommit(const stacksync::StackTarget& target, const std::string& stack_dir,
                                             const gitsource::Snapshot& snapshot, reconciler::Trigger trigger,
                                             bool commit_failed, stacksync::ReconcileEnv& env);

}  // namespace stackctl::controller
