#include "reconciler/policy.h"

namespace stackctl::reconciler {

std::string_view TriggerName(Trigger t) {
  switch (t) {
    case Trigger::kStart: return "start";
    case Trigger::kPoll: return "poll";
    case Trigger::kWebhook: return "webhook";
    case Trigger::kApi: return "api";
    case Trigger::kDrift: return "drift";
  }
  return "?";
}

Trigger RetryTrigger(Trigger t) { return t == Trigger::kApi ? Trigger::kPoll : t; }

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

ReconcilePlan DecideReconcile(Trigger trigger, const SyncOptions& options, bool commit_failed) {
  if (trigger == Trigger::kApi) return {Decision::kDeploy, /*respect_pin=*/false};
  if (commit_failed) return {Decision::kSkip, true};
  const bool deploy = trigger == Trigger::kDrift ? options.auto_sync && options.self_heal : options.auto_sync;
  return {deploy ? Decision::kDeploy : Decision::kCompare, true};
}

}  // namespace stackctl::reconciler
