// The typed states a stack is reported with, and their wire spellings: one
// definition each, shared by `stackctl status`/`history` and the CI API.
#include <gtest/gtest.h>

#include "reconciler/health.h"
#include "reconciler/history.h"
#include "reconciler/policy.h"

namespace stackctl::reconciler {
namespace {

TEST(StackHealthTest, FromServicesWithNoServiceUnknown) {
  using H = HealthState;
  EXPECT_EQ(StackHealthOf({}), StackHealth::kUnknown);
  EXPECT_EQ(StackHealthOf({H::kConverged, H::kConverged}), StackHealth::kHealthy);
  EXPECT_EQ(StackHealthOf({H::kConverged, H::kProgressing}), StackHealth::kDegraded);
  EXPECT_EQ(StackHealthOf({H::kFailed}), StackHealth::kDegraded);
  EXPECT_EQ(StackHealthName(StackHealth::kHealthy), "healthy");
  EXPECT_EQ(StackHealthName(StackHealth::kDegraded), "degraded");
  EXPECT_EQ(StackHealthName(StackHealth::kUnknown), "unknown");
}

TEST(SyncStateTest, WireNames) {
  EXPECT_EQ(SyncStateName(SyncState::kUnknown), "Unknown");
  EXPECT_EQ(SyncStateName(SyncState::kSynced), "Synced");
  EXPECT_EQ(SyncStateName(SyncState::kOutOfSync), "OutOfSync");
  EXPECT_EQ(SyncStateName(SyncState::kProgressing), "Progressing");
  EXPECT_EQ(SyncStateName(SyncState::kFailed), "Failed");
  EXPECT_EQ(SyncStateName(SyncState::kPinned), "Pinned");
}

TEST(HistoryResultTest, RoundTripsThroughTheRecordAndRejectsUnknownValues) {
  for (HistoryResult r : {HistoryResult::kSucceeded, HistoryResult::kFailed, HistoryResult::kRolledBack}) {
    EXPECT_EQ(*ParseHistoryResult(std::string(HistoryResultName(r))), r);
  }
  EXPECT_EQ(HistoryResultName(HistoryResult::kRolledBack), "rolled-back");
  EXPECT_EQ(ParseHistoryResult("ok").status(),
            InvalidArgument("result: unknown value \"ok\" (succeeded, failed or rolled-back)"));

  HistoryRecord rec;
  rec.seq = 4;
  rec.revision = "abc";
  rec.result = HistoryResult::kRolledBack;
  Json j = RecordToJson(rec);
  EXPECT_EQ(j["result"], "rolled-back");
  EXPECT_EQ(RecordFromJson(j)->result, HistoryResult::kRolledBack);
  j["result"] = "exploded";
  EXPECT_EQ(RecordFromJson(j).status(),
            InvalidArgument("history record 4: result: unknown value \"exploded\" (succeeded, failed or rolled-back)"));
}

TEST(TriggerTest, RoundTripsThroughTheRecordAndRejectsUnknownValues) {
  const std::pair<Trigger, const char*> names[] = {
      {Trigger::kStart, "start"}, {Trigger::kPoll, "poll"}, {Trigger::kWebhook, "webhook"}, {Trigger::kApi, "api"},
      {Trigger::kDrift, "drift"}, {Trigger::kCli, "cli"},   {Trigger::kRollback, "rollback"},
      {Trigger::kDiff, "diff"}};
  for (const auto& [t, name] : names) {
    EXPECT_EQ(TriggerName(t), name);
    EXPECT_EQ(*ParseTrigger(name), t);
  }
  EXPECT_EQ(ParseTrigger("self-heal").status(),
            InvalidArgument("trigger: unknown value \"self-heal\" (start, poll, webhook, api, drift, cli, rollback or diff)"));

  HistoryRecord rec;
  rec.seq = 9;
  rec.trigger = Trigger::kRollback;
  Json j = RecordToJson(rec);
  EXPECT_EQ(j["trigger"], "rollback");
  EXPECT_EQ(RecordFromJson(j)->trigger, Trigger::kRollback);
  j["trigger"] = "cron";
  EXPECT_EQ(RecordFromJson(j).status(),
            InvalidArgument("history record 9: trigger: unknown value \"cron\" (start, poll, webhook, api, drift, cli, "
                            "rollback or diff)"));
}

TEST(ReconcileResultTest, WireNames) {
  using R = ReconcileResult;
  const std::pair<R, const char*> names[] = {{R::kNone, ""},           {R::kInSync, "in-sync"},
                                             {R::kSucceeded, "succeeded"}, {R::kFailed, "failed"},
                                             {R::kRolledBack, "rolled-back"}, {R::kPinned, "pinned"},
                                             {R::kOutOfSync, "out-of-sync"}, {R::kError, "error"}};
  for (const auto& [r, name] : names) EXPECT_EQ(ReconcileResultName(r), name);
}

}  // namespace
}  // namespace stackctl::reconciler
