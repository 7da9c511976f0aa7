// The reconcile policy of an automatic controller, as one pure function:
// given what started a reconcile (its Trigger), the stack's sync options and
// whether its target commit already failed for good, decide whether to deploy,
// only compare (report what is out of sync), or skip.
//
//   trigger                auto_sync  self_heal  failed before  -> decision
//   api, cli, rollback     any        any        any               deploy, pin overridden
//   start, poll, webhook   on         any        no                deploy, pin respected
//   start, poll, webhook   off        any        no                compare
//   drift                  on         on         no                deploy, pin respected
//   drift                  on/off     off/any    no                compare
//   any automatic          any        any        yes               skip (wait for a new commit)
//   diff                   any        any        any               compare
//
// A pin (`stackctl deploy`/`rollback` took the stack over) is checked by the
// Deployer under the stack lock, so "pin respected" travels with the decision.
// A retry after a retryable error keeps the trigger that started the attempt
// (RetryTrigger), so an engine hiccup during a drift check with self_heal off
// never turns into a deploy that reverts the drift the user chose to keep.
//
// Thread safety: pure functions over values.
#pragma once

#include <string_view>

#include "common/status.h"

namespace stackctl::reconciler {

enum class Trigger {
  kStart,    // the controller started: every stack is checked once
  kPoll,     // a poll found a new commit that changes a file the stack reads
  kWebhook,  // a push webhook, then the same as a poll
  kApi,      // an explicit sync through the CI API (or the CLI)
  kDrift,    // an engine event or the periodic full check
  kCli,      // `stackctl deploy` (manual, pins the stack)
  kRollback, // `stackctl rollback` (manual, pins the stack)
  kDiff,     // `stackctl diff`: only compares, writes nothing
};

// "start", "poll", "webhook", "api", "drift", "cli", "rollback", "diff": the spelling
// in history records and control records (pinned_by), logs and metrics.
std::string_view TriggerName(Trigger t);
// The inverse of TriggerName; kInvalidArgument naming the value otherwise.
Result<Trigger> ParseTrigger(std::string_view name);
// A person asked for this deploy (api, cli, rollback): it deploys whatever
// the sync options say and overrides a pin.
bool IsManual(Trigger t);

// The trigger a retry of a failed attempt runs with. An API sync already
// answered its caller; its retries are automatic, like a poll.
Trigger RetryTrigger(Trigger t);

struct SyncOptions {
  bool auto_sync = true;
  bool self_heal = false;
};

// Where a stack stands after its last reconcile (Argo CD's names, the API's
// wire spelling): Synced (the swarm matches the commit), OutOfSync (changes
// found and not applied: auto_sync or self_heal off), Progressing (a
// reconcile is deploying), Failed (the last reconcile failed), Pinned
// (`stackctl deploy`/`rollback` took the stack over), Unknown (not yet
// reconciled).
enum class SyncState { kUnknown, kSynced, kOutOfSync, kProgressing, kFailed, kPinned };
std::string_view SyncStateName(SyncState s);

// The one sync state shown for a stack (the API's stacks list and stack
// alike): `reconciled` is what the last reconcile found (never kPinned),
// `pinned` whether the stack's control record pins it. A deploy in progress
// (Progressing) and a failed one (Failed) show as such; otherwise a pinned
// stack is Pinned, whatever the comparison with its branch said.
SyncState ShownSyncState(SyncState reconciled, bool pinned);

// How the controller's last reconcile of a stack ended (the API's
// last_result and an operation's result): the Deployer's outcome when it ran
// ("in-sync", "succeeded", "failed", "rolled-back", "pinned"), or
// "out-of-sync" (compared only and found changes), "error" (a retryable
// failure: the commit has no verdict yet); kNone ("") before the first.
// A terminal failure before the Deployer ran (render, verification) is
// kFailed, like a failed rollout: both wait for a new commit.
enum class ReconcileResult { kNone, kInSync, kSucceeded, kFailed, kRolledBack, kPinned, kOutOfSync, kError };
std::string_view ReconcileResultName(ReconcileResult r);

enum class Decision { kDeploy, kCompare, kSkip };
std::string_view DecisionName(Decision d);

struct ReconcilePlan {
  Decision decision = Decision::kCompare;
  bool respect_pin = true;  // with kDeploy: a pinned stack is only compared

  bool operator==(const ReconcilePlan&) const = default;
};

// Why a reconcile of `trigger` only compared: "auto_sync is off",
// "self_heal is off" (drift) or "stackctl diff".
std::string_view CompareReason(Trigger trigger, const SyncOptions& options);

// The table above. `commit_failed` is true when the commit to reconcile is the
// one whose last reconcile failed for good (a rolled-back rollout, a render or
// verification error).
ReconcilePlan DecideReconcile(Trigger trigger, const SyncOptions& options, bool commit_failed);

}  // namespace stackctl::reconciler
