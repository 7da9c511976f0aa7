#include "reconciler/policy.h"

#include <gtest/gtest.h>

namespace stackctl::reconciler {
namespace {

constexpr Decision D = Decision::kDeploy, C = Decision::kCompare, S = Decision::kSkip;

struct Row {
  Trigger trigger;
  bool auto_sync, self_heal, failed;
  Decision decision;
  bool respect_pin;
};

// Every trigger x auto_sync x self_heal x (commit failed before).
TEST(ReconcilePolicy, Table) {
  const Row rows[] = {
      // An explicit sync always deploys, over a pin and a failed commit.
      {Trigger::kApi, false, false, false, D, false},
      {Trigger::kApi, true, true, false, D, false},
      {Trigger::kApi, false, false, true, D, false},
      {Trigger::kApi, true, false, true, D, false},
      // So do the manual deploys of the CLI (they pin the stack).
      {Trigger::kCli, false, false, false, D, false},
      {Trigger::kCli, true, false, true, D, false},
      {Trigger::kRollback, false, false, true, D, false},
      {Trigger::kRollback, true, true, false, D, false},
      // New commits: auto_sync decides.
      {Trigger::kStart, true, false, false, D, true},
      {Trigger::kStart, false, true, false, C, true},
      {Trigger::kPoll, true, false, false, D, true},
      {Trigger::kPoll, true, true, false, D, true},
      {Trigger::kPoll, false, false, false, C, true},
      {Trigger::kPoll, false, true, false, C, true},
      {Trigger::kWebhook, true, false, false, D, true},
      {Trigger::kWebhook, false, true, false, C, true},
      // Drift: only auto_sync and self_heal together revert it.
      {Trigger::kDrift, true, true, false, D, true},
      {Trigger::kDrift, true, false, false, C, true},
      {Trigger::kDrift, false, true, false, C, true},
      {Trigger::kDrift, false, false, false, C, true},
      // A commit that already failed for good is not tried again automatically.
      {Trigger::kStart, true, true, true, S, true},
      {Trigger::kPoll, true, false, true, S, true},
      {Trigger::kWebhook, true, true, true, S, true},
      {Trigger::kDrift, true, true, true, S, true},
      {Trigger::kDrift, false, false, true, S, true},
      // `stackctl diff` compares whatever the options and the commit's past.
      {Trigger::kDiff, true, true, false, C, true},
      {Trigger::kDiff, true, false, true, C, true},
      {Trigger::kDiff, false, false, false, C, true},
  };
  for (const Row& r : rows) {
    ReconcilePlan got = DecideReconcile(r.trigger, {r.auto_sync, r.self_heal}, r.failed);
    EXPECT_EQ(got, (ReconcilePlan{r.decision, r.respect_pin}))
        << TriggerName(r.trigger) << " auto_sync=" << r.auto_sync << " self_heal=" << r.self_heal
        << " failed=" << r.failed << ": " << DecisionName(got.decision);
  }
}

// A retry keeps its trigger: a drift check that failed on an engine hiccup
// is retried as a drift check, and with self_heal off it only compares.
TEST(ReconcilePolicy, RetryKeepsTheTrigger) {
  EXPECT_EQ(RetryTrigger(Trigger::kDrift), Trigger::kDrift);
  EXPECT_EQ(RetryTrigger(Trigger::kPoll), Trigger::kPoll);
  EXPECT_EQ(RetryTrigger(Trigger::kWebhook), Trigger::kWebhook);
  EXPECT_EQ(RetryTrigger(Trigger::kStart), Trigger::kStart);
  EXPECT_EQ(RetryTrigger(Trigger::kApi), Trigger::kPoll);
  EXPECT_EQ(DecideReconcile(RetryTrigger(Trigger::kDrift), {true, false}, false).decision, Decision::kCompare);
}

TEST(ReconcilePolicy, CompareReasonNamesTheOptionThatIsOff) {
  EXPECT_EQ(CompareReason(Trigger::kPoll, {false, true}), "auto_sync is off");
  EXPECT_EQ(CompareReason(Trigger::kDrift, {true, false}), "self_heal is off");
  EXPECT_EQ(CompareReason(Trigger::kDiff, {true, true}), "stackctl diff");
}

TEST(ReconcilePolicy, Names) {
  EXPECT_EQ(TriggerName(Trigger::kWebhook), "webhook");
  EXPECT_EQ(TriggerName(Trigger::kDrift), "drift");
  EXPECT_EQ(DecisionName(Decision::kSkip), "skip");
}

// The one sync state the stacks list and a stack's page show: the pin hides
// a comparison's finding, never a deploy in progress or a failure.
TEST(ReconcilePolicy, ShownSyncState) {
  struct Row {
    SyncState reconciled;
    bool pinned;
    SyncState shown;
  };
  const Row rows[] = {
      {SyncState::kSynced, false, SyncState::kSynced},
      {SyncState::kOutOfSync, false, SyncState::kOutOfSync},
      {SyncState::kUnknown, false, SyncState::kUnknown},
      {SyncState::kSynced, true, SyncState::kPinned},
      {SyncState::kOutOfSync, true, SyncState::kPinned},
      {SyncState::kUnknown, true, SyncState::kPinned},
      {SyncState::kProgressing, true, SyncState::kProgressing},
      {SyncState::kFailed, true, SyncState::kFailed},
      {SyncState::kProgressing, false, SyncState::kProgressing},
      {SyncState::kFailed, false, SyncState::kFailed},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(ShownSyncState(r.reconciled, r.pinned), r.shown)
        << SyncStateName(r.reconciled) << (r.pinned ? " pinned" : "");
  }
}

}  // namespace
}  // namespace stackctl::reconciler
