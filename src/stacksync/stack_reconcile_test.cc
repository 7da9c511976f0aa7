// ReconcileStack over files in memory, the fake engine and the fake clock:
// the parts `stackctl deploy`/`diff` rely on (the controller's side is
// tested in controller/stack_target_test.cc).
#include "stacksync/stack_reconcile.h"

#include <gtest/gtest.h>

#include "stacksync/test_support.h"

namespace stackctl::stacksync {
namespace {

using reconciler::Decision;
using reconciler::SyncState;
using reconciler::Trigger;

std::string Compose(const std::string& image) {
  return "version: \"3.8\"\nservices:\n  app:\n    image: " + image + "\n    env_file: app.env\n";
}

class RecordingProgress : public reconciler::ProgressSink {
 public:
  void Info(const std::string& line) override { lines.push_back(line); }
  void Service(const std::string& name, const reconciler::ServiceHealth&) override { services.push_back(name); }
  std::vector<std::string> lines, services;
};

class StackSyncTest : public ::testing::Test {
 protected:
  StackSyncTest() {
    target_.stack = "web";
    target_.render.stack = "web";
    target_.render.compose_files = {"docker-compose.yml"};
    target_.render.working_dir = "/";
    target_.deploy.timeout = std::chrono::seconds(30);
    target_.deploy.images.mode = reconciler::ResolveMode::kNever;
    target_.deploy.pin = true;  // as `stackctl deploy` sets it
  }
  // The stack's directory on "disk" with `image` for its one service.
  ReconcileReport Run(const std::string& image, Trigger trigger, const std::string& revision = "manual") {
    MemoryFileSource files({{"docker-compose.yml", Compose(image)}, {"app.env", "A=1\n"}});
    ReconcileEnv env = world_.Env();
    env.progress = &progress_;
    return ReconcileStack(target_, {files, revision, ""}, trigger, /*commit_failed=*/false, env);
  }
  std::string Image() { return world_.Image("web_app"); }

  testing::FakeWorld world_;
  engine::FakeEngine& fake_ = world_.engine;
  RecordingProgress progress_;
  StackTarget target_;
};

TEST_F(StackSyncTest, AManualDeployPinsTheStackAndReportsItsProgress) {
  ReconcileReport r = Run("app:1", Trigger::kCli, "v1");
  ASSERT_FALSE(r.error) << r.error->ToString();
  EXPECT_EQ(r.decision, Decision::kDeploy);
  EXPECT_EQ(r.outcome, reconciler::ReconcileResult::kSucceeded);
  EXPECT_EQ(r.revision, "v1");
  EXPECT_EQ(Image(), "app:1");
  EXPECT_FALSE(progress_.lines.empty());
  // Inputs as the stack's directory names them (the caller knows where it
  // is), including the `.env` that was looked for and not found.
  EXPECT_EQ(r.inputs, (std::set<std::string>{"docker-compose.yml", "app.env", ".env"}));
  // An automatic reconcile of another image now respects the pin.
  ReconcileReport poll = Run("app:2", Trigger::kPoll, "c2");
  ASSERT_FALSE(poll.error) << poll.error->ToString();
  EXPECT_EQ(poll.sync, SyncState::kPinned);
  EXPECT_EQ(poll.outcome, reconciler::ReconcileResult::kPinned);
  EXPECT_EQ(poll.pending, std::vector<std::string>{"service web_app: update"});
  EXPECT_EQ(Image(), "app:1");
}

TEST_F(StackSyncTest, DiffOnlyComparesWhateverTheSyncOptionsSay) {
  ASSERT_FALSE(Run("app:1", Trigger::kCli).error);
  target_.sync = {/*auto_sync=*/true, /*self_heal=*/true};
  fake_.ResetCalls();
  ReconcileReport r = Run("app:2", Trigger::kDiff);
  ASSERT_FALSE(r.error) << r.error->ToString();
  EXPECT_EQ(r.decision, Decision::kCompare);
  EXPECT_EQ(r.sync, SyncState::kOutOfSync);
  EXPECT_EQ(r.message, "1 change(s) not applied (stackctl diff)");
  EXPECT_EQ(r.pending, std::vector<std::string>{"service web_app: update"});
  EXPECT_EQ(fake_.WriteCalls(), 0);
  EXPECT_EQ(Image(), "app:1");
}

TEST_F(StackSyncTest, ARenderErrorOfFilesOnDiskNamesTheStackAndWritesNothing) {
  ReconcileReport r = Run("[x]", Trigger::kCli);
  ASSERT_TRUE(r.error);
  EXPECT_TRUE(r.terminal);
  EXPECT_EQ(r.failed_step, FailedStep::kRender);
  EXPECT_EQ(r.error->code(), Code::kInvalidArgument);
  EXPECT_EQ(r.error->message().rfind("stack web: docker-compose.yml:", 0), 0u) << r.error->message();
  EXPECT_TRUE(r.inputs.count("docker-compose.yml"));
  EXPECT_EQ(fake_.WriteCalls(), 0);
}

TEST_F(StackSyncTest, ALiveStateTheCallerReadIsUsedInsteadOfReadingAgain) {
  ASSERT_FALSE(Run("app:1", Trigger::kCli).error);
  Result<reconciler::LiveState> live = reconciler::ReadLive(fake_, "web");
  ASSERT_TRUE(live.ok());
  fake_.ResetCalls();
  MemoryFileSource files({{"docker-compose.yml", Compose("app:1")}, {"app.env", "A=1\n"}});
  ReconcileEnv env = world_.Env();
  env.live = std::move(*live);
  ReconcileReport r = ReconcileStack(target_, {files, "manual", ""}, Trigger::kDiff, false, env);
  ASSERT_FALSE(r.error) << r.error->ToString();
  EXPECT_EQ(r.outcome, reconciler::ReconcileResult::kInSync);
  EXPECT_EQ(fake_.Calls("VisitServices"), 0);
}

}  // namespace
}  // namespace stackctl::stacksync
