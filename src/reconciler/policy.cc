#include "reconciler/policy.h"

namespace stackctl::reconciler {

std::string_view TriggerName(Trigger t) {
  switch (t) {
    case Trigger::kStart: return "start";
    case Trigger::kPoll: return "poll";
    case Trigger::kWebhook: return "webhook";
    case Trigger::kApi: return "api";
    case Trigger::kDrift: return "drift";
    case Trigger::kCli: return "cli";
    case Trigger::kRollback: return "rollback";
    case Trigger::kDiff: return "diff";
  }
  return "?";
}

Result<Trigger> ParseTrigger(std::string_view name) {
  for (Trigger t : {Trigger::kStart, Trigger::kPoll, Trigger::kWebhook, Trigger::kApi, Trigger::kDrift, Trigger::kCli,
                    Trigger::kRollback, Trigger::kDiff}) {
    if (TriggerName(t) == name) return t;
  }
  return InvalidArgument("trigger: unknown value \"" + std::string(name) +
                         "\" (start, poll, webhook, api, drift, cli, rollback or diff)");
}

bool IsManual(Trigger t) { return t == Trigger::kApi || t == Trigger::kCli || t == Trigger::kRollback; }

Trigger RetryTrigger(Trigger t) { return t == Trigger::kApi ? Trigger::kPoll : t; }

std::string_view ReconcileResultName(ReconcileResult r) {
  switch (r) {
    case ReconcileResult::kNone: return "";
    case ReconcileResult::kInSync: return "in-sync";
    case ReconcileResult::kSucceeded: return "succeeded";
    case ReconcileResult::kFailed: return "failed";
    case ReconcileResult::kRolledBack: return "rolled-back";
    case ReconcileResult::kPinned: return "pinned";
    case ReconcileResult::kOutOfSync: return "out-of-sync";
    case ReconcileResult::kError: return "error";
  }
  return "";
}

std::string_view CompareReason(Trigger trigger, const SyncOptions& options) {
  if (trigger == Trigger::kDiff) return "stackctl diff";
  return options.auto_sync ? "self_heal is off" : "auto_sync is off";
}

std::string_view DecisionName(Decision d) {
  switch (d) {
    case Decision::kDeploy: return "deploy";
    case Decision::kCompare: return "compare";
    case Decision::kSkip: return "skip";
  }
  return "?";
}

std::string_view SyncStateName(SyncState s) {
  switch (s) {
    case SyncState::kUnknown: return "Unknown";
    case SyncState::kSynced: return "Synced";
    case SyncState::kOutOfSync: return "OutOfSync";
    case SyncState::kProgressing: return "Progressing";
    case SyncState::kFailed: return "Failed";
    case SyncState::kPinned: return "Pinned";
  }
  return "Unknown";
}

SyncState ShownSyncState(SyncState reconciled, bool pinned) {
  if (!pinned || reconciled == SyncState::kProgressing || reconciled == SyncState::kFailed) return reconciled;
  return SyncState::kPinned;
}

ReconcilePlan DecideReconcile(Trigger trigger, const SyncOptions& options, bool commit_failed) {
  if (trigger == Trigger::kDiff) return {Decision::kCompare, true};
  if (IsManual(trigger)) return {Decision::kDeploy, /*respect_pin=*/false};
  if (commit_failed) return {Decision::kSkip, true};
  const bool deploy = trigger == Trigger::kDrift ? options.auto_sync && options.self_heal : options.auto_sync;
  return {deploy ? Decision::kDeploy : Decision::kCompare, true};
}

}  // namespace stackctl::reconciler
