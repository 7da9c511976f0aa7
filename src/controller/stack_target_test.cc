// The controller's side of one reconcile over the fake engine and fake clock:
// a stack's configuration as a target, ReconcileStack at a commit with its
// inputs as repository paths, and the report as the notifier sees it.
#include "controller/stack_target.h"

#include <gtest/gtest.h>

#include "controller/report_notify.h"
#include "notary/failed_resolutions.h"
#include "stacksync/test_support.h"

namespace stackctl::controller {
namespace {

using reconciler::Decision;
using reconciler::SyncState;
using reconciler::Trigger;
using stacksync::FailedStep;
using stacksync::ReconcileEnv;
using stacksync::ReconcileReport;

gitsource::Snapshot Snap(const std::string& commit, std::map<std::string, std::string> files) {
  return gitsource::Snapshot({commit, "msg", "t <t@t>", 0}, std::make_shared<MemoryFileSource>(std::move(files)));
}

std::string Compose(const std::string& image) {
  return "version: \"3.8\"\nservices:\n  app:\n    image: " + image + "\n    env_file: ../common/app.env\n";
}

class StackReconcileTest : public ::testing::Test {
 protected:
  StackReconcileTest() {
    config::StackConfig cfg;
    cfg.name = "web";
    cfg.repository = "repo";
    cfg.path = "web";
    cfg.compose_files = {"docker-compose.yml"};
    cfg.options.rollout.parallelism = 0;
    cfg.options.timeout = std::chrono::seconds(30);
    cfg.options.resolve_image = reconciler::ResolveMode::kNever;
    target_ = TargetFromConfig(cfg);
  }
  ReconcileReport Run(const gitsource::Snapshot& snap, Trigger trigger, bool failed_before = false) {
    ReconcileEnv env = world_.Env([this](Decision d) { decided_.push_back(d); });
    return ReconcileAtCommit(target_, "web", snap, trigger, failed_before, env);
  }
  std::string Image() { return world_.Image("web_app"); }

  stacksync::testing::FakeWorld world_;
  engine::FakeEngine& fake_ = world_.engine;
  stacksync::StackTarget target_;
  std::vector<Decision> decided_;
  gitsource::Snapshot c1_ = Snap("c1", {{"web/docker-compose.yml", Compose("app:1")}, {"common/app.env", "A=1\n"}});
  gitsource::Snapshot c2_ = Snap("c2", {{"web/docker-compose.yml", Compose("app:2")}, {"common/app.env", "A=1\n"}});
};

TEST_F(StackReconcileTest, TargetComesFromTheConfigurationInOnePlace) {
  EXPECT_EQ(target_.stack, "web");
  EXPECT_EQ(target_.render.compose_files, std::vector<std::string>{"docker-compose.yml"});
  EXPECT_TRUE(target_.sync.auto_sync);
  EXPECT_FALSE(target_.sync.self_heal);
  EXPECT_TRUE(target_.deploy.prune);
  EXPECT_EQ(target_.deploy.timeout, std::chrono::seconds(30));
  EXPECT_EQ(target_.deploy.images.mode, reconciler::ResolveMode::kNever);
  EXPECT_EQ(target_.trust, notary::ImageTrustPolicy::Notary(notary::TrustPolicy::kOff));
  EXPECT_FALSE(target_.deploy.images.required);
}

TEST_F(StackReconcileTest, PollDeploysAndReportsWhatTheRenderRead) {
  ReconcileReport r = Run(c1_, Trigger::kPoll);
  ASSERT_FALSE(r.error) << r.error->ToString();
  EXPECT_EQ(decided_, std::vector<Decision>{Decision::kDeploy});
  EXPECT_EQ(r.revision, "c1");
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.sync, SyncState::kSynced);
  EXPECT_EQ(r.outcome, reconciler::ReconcileResult::kSucceeded);
  EXPECT_GT(r.result.history_seq, 0);
  EXPECT_EQ(Image(), "app:1");
  EXPECT_TRUE(r.inputs_known);
  EXPECT_TRUE(r.inputs.count("web/docker-compose.yml"));
  EXPECT_TRUE(r.inputs.count("common/app.env"));  // outside the stack's folder
  EXPECT_TRUE(r.inputs.count("web/.env"));        // looked for, not found
}

TEST_F(StackReconcileTest, WithoutAutoSyncAPollOnlyCompares) {
  ASSERT_FALSE(Run(c1_, Trigger::kPoll).error);
  target_.sync.auto_sync = false;
  ReconcileReport r = Run(c2_, Trigger::kPoll);
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.decision, Decision::kCompare);
  EXPECT_TRUE(r.changes_not_applied);
  EXPECT_EQ(r.sync, SyncState::kOutOfSync);
  EXPECT_EQ(r.outcome, reconciler::ReconcileResult::kOutOfSync);
  EXPECT_EQ(r.message, "1 change(s) not applied (auto_sync is off)");
  EXPECT_EQ(r.pending, std::vector<std::string>{"service web_app: update"});
  EXPECT_EQ(Image(), "app:1");
  // An API sync deploys all the same.
  ReconcileReport api = Run(c2_, Trigger::kApi);
  EXPECT_EQ(api.decision, Decision::kDeploy);
  EXPECT_EQ(api.sync, SyncState::kSynced);
  EXPECT_EQ(Image(), "app:2");
}

TEST_F(StackReconcileTest, DriftWithoutSelfHealIsReportedNotReverted) {
  ASSERT_FALSE(Run(c1_, Trigger::kPoll).error);
  auto svc = fake_.InspectService("web_app");
  Json spec = svc->spec;
  spec["TaskTemplate"]["ContainerSpec"]["Image"] = "manual:1";
  ASSERT_TRUE(fake_.UpdateService(svc->id, svc->version, spec, "").ok());
  ReconcileReport r = Run(c1_, Trigger::kDrift);
  EXPECT_EQ(r.decision, Decision::kCompare);
  EXPECT_EQ(r.sync, SyncState::kOutOfSync);
  EXPECT_EQ(r.drifted, 1u);
  EXPECT_EQ(r.message, "1 change(s) not applied (self_heal is off)");
  EXPECT_EQ(Image(), "manual:1");
  // Told to the notifier as drift found by a drift check.
  config::RepositoryConfig repo;
  repo.remote.url = "https://u:pw@git.example.com/a/b.git";
  notify::StackOutcome o = StackOutcomeOf("web", repo, Trigger::kDrift, r);
  EXPECT_EQ(o.ending, notify::Ending::kOutOfSync);
  EXPECT_TRUE(o.drift);
  EXPECT_EQ(o.drifted, 1u);
  EXPECT_EQ(o.commit, "c1");
  EXPECT_FALSE(o.status_host.has_value());
}

TEST_F(StackReconcileTest, ACommitThatFailedBeforeIsSkippedWithoutRendering) {
  fake_.ResetCalls();
  ReconcileReport r = Run(c1_, Trigger::kWebhook, /*failed_before=*/true);
  EXPECT_EQ(r.decision, Decision::kSkip);
  EXPECT_FALSE(r.inputs_known);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(fake_.Calls("CreateService"), 0);
}

TEST_F(StackReconcileTest, ABadComposeFileIsATerminalErrorThatStillRecordsTheInputs) {
  gitsource::Snapshot bad = Snap("c3", {{"web/docker-compose.yml", "version: \"3.8\"\nservices:\n  app: {image: [x]}\n"}});
  ReconcileReport r = Run(bad, Trigger::kPoll);
  ASSERT_TRUE(r.error);
  EXPECT_TRUE(r.terminal);
  EXPECT_EQ(r.sync, SyncState::kFailed);
  EXPECT_EQ(r.error->code(), Code::kInvalidArgument);
  EXPECT_EQ(r.error->message().rfind("stack web at c3: ", 0), 0u) << r.error->message();
  EXPECT_TRUE(r.inputs_known);
  EXPECT_TRUE(r.inputs.count("web/docker-compose.yml"));
  EXPECT_EQ(r.failed_step, FailedStep::kRender);
  config::RepositoryConfig repo;
  repo.commit_status = notify::StatusHost{notify::GitHost::kGitea, "https://g/api/v1", "a/b", "/t", ""};
  notify::StackOutcome o = StackOutcomeOf("web", repo, Trigger::kPoll, r);
  EXPECT_EQ(o.ending, notify::Ending::kRenderFailed);
  EXPECT_FALSE(o.drift);
  EXPECT_EQ(o.message, r.error->message());
  EXPECT_EQ(o.status_host, repo.commit_status);
}

// An image a `require` rule refuses (here a refusal the controller remembers,
// so no registry is asked): the commit fails at the images step, naming the
// refused service typed, and the notifier hears it as image_refused for it.
TEST_F(StackReconcileTest, ARefusedImageFailsTheImagesStepNamingItsService) {
  notary::FailedResolutions failed(world_.clock, std::chrono::minutes(5));
  failed.Remember("app:9", PermissionDenied("no trust data for app"));
  target_.trust = notary::ImageTrustPolicy::Notary(notary::TrustPolicy::kRequire);
  target_.deploy.images.required = true;
  ReconcileEnv env = world_.Env();
  env.failed_images = &failed;
  gitsource::Snapshot c9 =
      Snap("c9", {{"web/docker-compose.yml", Compose("app:9")}, {"common/app.env", "A=1\n"}});
  ReconcileReport r = ReconcileAtCommit(target_, "web", c9, Trigger::kPoll, false, env);
  ASSERT_TRUE(r.error);
  EXPECT_TRUE(r.terminal);
  EXPECT_EQ(r.failed_step, FailedStep::kImages);
  EXPECT_EQ(r.refused_services, std::vector<std::string>{"web_app"});
  EXPECT_EQ(fake_.Calls("CreateService"), 0);
  config::RepositoryConfig repo;
  notify::StackOutcome o = StackOutcomeOf("web", repo, Trigger::kPoll, r);
  EXPECT_EQ(o.ending, notify::Ending::kImageRefused);
  EXPECT_EQ(o.service, "web_app");
}

// An image refused by its trust policy: the notifier is told which service,
// typed (the webhook's "service" field), not only inside the message.
TEST(StackOutcome, AnImageRefusalNamesTheRefusedService) {
  ReconcileReport r;
  r.revision = "c9";
  r.error = FailedPrecondition("stack web: service app: image app:9: not signed");
  r.terminal = true;
  r.failed_step = FailedStep::kImages;
  r.refused_services = {"web_app", "web_side"};
  config::RepositoryConfig repo;
  notify::StackOutcome o = StackOutcomeOf("web", repo, Trigger::kPoll, r);
  EXPECT_EQ(o.ending, notify::Ending::kImageRefused);
  EXPECT_EQ(o.service, "web_app");
  EXPECT_EQ(o.message, "stack web: service app: image app:9: not signed");
  EXPECT_EQ(o.commit, "c9");
  // Other failures before a rollout name no service.
  r.failed_step = FailedStep::kRender;
  EXPECT_EQ(StackOutcomeOf("web", repo, Trigger::kPoll, r).service, "");
}

}  // namespace
}  // namespace stackctl::controller
