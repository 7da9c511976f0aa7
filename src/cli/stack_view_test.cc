#include "cli/stack_view.h"

#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace stackctl::cli {
namespace {

using ::testing::HasSubstr;

reconciler::StackStatus LocalStatus() {
  reconciler::StackStatus st;
  st.stack = "web";
  st.exists = true;
  st.control.pinned = true;
  st.control.pinned_by = "deploy";
  reconciler::HistoryRecord last;
  last.seq = 3;
  last.revision = "manual";
  last.result = reconciler::HistoryResult::kSucceeded;
  last.message = "1 service updated";
  last.finished_at = "2026-11-22T10:00:00Z";
  st.last = last;
  reconciler::ServiceStatusLine s;
  s.name = "web_app";
  s.image = "127.0.0.1:5000/busybox:1@sha256:aa";
  s.mode = "replicated";
  s.health.state = reconciler::HealthState::kConverged;
  s.health.running = 2;
  s.health.desired = 2;
  st.services.push_back(s);
  return st;
}

TEST(StackViewTest, LocalStatusText) {
  std::ostringstream out;
  PrintStatusText(StatusJson(LocalStatus()), out);
  EXPECT_EQ(out.str(),
            "Stack:     web\n"
            "Revision:  manual (succeeded at 2026-11-22T10:00:00Z)\n"
            "Pinned:    yes, by deploy (stackctl resume web to hand it back to the controller)\n"
            "Health:    healthy\n"
            "\n"
            "SERVICE                         MODE       REPLICAS  HEALTH       UPDATE     IMAGE\n"
            "web_app                         replicated 2/2       converged    -          "
            "127.0.0.1:5000/busybox:1@sha256:aa\n");
}

TEST(StackViewTest, LocalStatusJson) {
  Json j = StatusJson(LocalStatus());
  EXPECT_EQ(j["stack"], "web");
  EXPECT_EQ(j["revision"], "manual");
  EXPECT_EQ(j["last_result"], "succeeded");
  EXPECT_EQ(j["health"], "healthy");
  EXPECT_EQ(j["services"][0]["running"], 2);
  EXPECT_EQ(j["services"][0]["health"], "converged");
  EXPECT_FALSE(j.contains("sync"));
}

Json ControllerStack() {
  return Json::parse(R"({
    "name": "web", "repository": "infra", "path": "stacks/web",
    "revision": "0123456789abcdef0123456789abcdef01234567",
    "target_revision": "fedcba9876543210fedcba9876543210fedcba98",
    "failed_revision": "fedcba9876543210fedcba9876543210fedcba98",
    "repository_error": "", "sync": "OutOfSync", "health": "degraded",
    "last_result": "failed", "last_error": "service web_app: rolled back",
    "last_sync_time": "2026-11-22T10:05:00Z", "out_of_sync": true,
    "auto_sync": true, "self_heal": false, "prune": true, "pinned": false,
    "pinned_by": "", "pinned_revision": "",
    "services": [{"name": "web_app", "image": "busybox:1", "mode": "replicated", "running": 1,
                  "desired": 2, "health": "progressing", "update_state": "rollback_completed",
                  "message": "task exited 1"}],
    "history": [{"seq": 7, "revision": "fedcba9876543210fedcba9876543210fedcba98", "trigger": "api",
                 "started_at": "2026-11-22T10:04:00Z", "finished_at": "2026-11-22T10:05:00Z",
                 "result": "rolled-back", "message": "service web_app: rolled back", "changes": []}]
  })");
}

TEST(StackViewTest, ControllerStatusUsesTheSameDocument) {
  Json j = StatusJsonFromController(ControllerStack());
  EXPECT_EQ(j["stack"], "web");
  EXPECT_EQ(j["revision"], "0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(j["last_result"], "rolled-back");
  EXPECT_EQ(j["last_finished"], "2026-11-22T10:05:00Z");
  EXPECT_EQ(j["health"], "degraded");
  EXPECT_EQ(j["sync"], "OutOfSync");
  EXPECT_EQ(j["out_of_sync"], true);
  EXPECT_EQ(j["services"][0]["desired"], 2);
  EXPECT_EQ(j["services"][0]["message"], "task exited 1");
  std::ostringstream out;
  PrintStatusText(j, out);
  EXPECT_EQ(
      out.str(),
      "Stack:     web\n"
      "Revision:  0123456789abcdef0123456789abcdef01234567 (rolled-back at 2026-11-22T10:05:00Z)\n"
      "Sync:      OutOfSync (target fedcba9876543210fedcba9876543210fedcba98)\n"
      "Failed:    fedcba9876543210fedcba9876543210fedcba98 (not tried again until a new commit)\n"
      "Error:     service web_app: rolled back\n"
      "Pinned:    no\n"
      "Health:    degraded\n"
      "\n"
      "SERVICE                         MODE       REPLICAS  HEALTH       UPDATE     IMAGE\n"
      "web_app                         replicated 1/2       progressing  rollback_completed "
      "busybox:1\n");
}

TEST(StackViewTest, ControllerStatusBeforeAnyDeploy) {
  Json stack = {{"name", "new"}, {"sync", "Unknown"}, {"revision", ""}, {"health", "Unknown"}};
  std::ostringstream out;
  PrintStatusText(StatusJsonFromController(stack), out);
  EXPECT_EQ(out.str(),
            "Stack:     new\n"
            "Sync:      Unknown\n"
            "Pinned:    no\n"
            "Health:    unknown\n"
            "\n"
            "SERVICE                         MODE       REPLICAS  HEALTH       UPDATE     IMAGE\n");
  // The same without a controller: a stack with no service is not "healthy".
  reconciler::StackStatus empty;
  empty.stack = "new";
  empty.exists = true;
  EXPECT_EQ(StatusJson(empty)["health"], "unknown");
}

// A repository that cannot be resolved: its error, since when, and whether it
// is stale (failing for longer than three poll intervals).
TEST(StackViewTest, ControllerStatusShowsAFailingRepository) {
  Json stack = ControllerStack();
  stack["repository_error"] =
      "git ls-remote http://127.0.0.1:8080/git/infra.git: authentication failed: credentials "
      "rejected";
  stack["repository_failing_since"] = "2026-11-22T10:00:00Z";
  stack["repository_stale"] = false;
  Json j = StatusJsonFromController(stack);
  EXPECT_EQ(j["repository_error"], stack["repository_error"]);
  EXPECT_EQ(j["repository_failing_since"], "2026-11-22T10:00:00Z");
  EXPECT_EQ(j["repository_stale"], false);
  std::ostringstream out;
  PrintStatusText(j, out);
  EXPECT_THAT(
      out.str(),
      ::testing::HasSubstr(
          "Error:     service web_app: rolled back\n"
          "Remote:    failing since 2026-11-22T10:00:00Z: git ls-remote "
          "http://127.0.0.1:8080/git/infra.git: authentication failed: credentials rejected\n"
          "Pinned:    no\n"));
  stack["repository_stale"] = true;
  out.str("");
  PrintStatusText(StatusJsonFromController(stack), out);
  EXPECT_THAT(out.str(),
              ::testing::HasSubstr(
                  "Remote:    failing since 2026-11-22T10:00:00Z (stale): git ls-remote "));
  // A healthy repository prints no such line.
  out.str("");
  PrintStatusText(StatusJsonFromController(ControllerStack()), out);
  EXPECT_THAT(out.str(), ::testing::Not(::testing::HasSubstr("Remote:")));
}

TEST(StackViewTest, StackList) {
  Json list = {{"stacks", Json::array({ControllerStack()})}};
  std::ostringstream out;
  PrintStackListText(list, out);
  EXPECT_EQ(out.str(),
            "STACK                   REPOSITORY      REVISION      SYNC         HEALTH     LAST SYNC             "
            "LAST RESULT\n"
            "web                     infra           0123456789ab  OutOfSync    degraded   2026-11-22T10:05:00Z  "
            "failed\n");
}

TEST(StackViewTest, HistoryFromControllerPrintsLikeLocal) {
  auto records = HistoryFromController({{"stack", "web"}, {"history", ControllerStack()["history"]}});
  ASSERT_TRUE(records.ok()) << records.status().message();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].seq, 7);
  std::ostringstream out;
  PrintHistoryText(*records, out);
  EXPECT_EQ(out.str(),
            "SEQ  FINISHED              RESULT       TRIGGER   REVISION      MESSAGE\n"
            "7    2026-11-22T10:05:00Z  rolled-back  api       fedcba987654  service web_app: rolled back\n");
  Json j = HistoryJson(*records);
  EXPECT_EQ(j[0]["seq"], 7);
  EXPECT_EQ(j[0]["trigger"], "api");
  EXPECT_FALSE(j[0].contains("spec"));
}

TEST(StackViewTest, HistoryFromControllerRejectsOtherDocuments) {
  auto none = HistoryFromController({{"stack", "web"}});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(none.status().message(), "history answer without a \"history\" array");
  auto bad = HistoryFromController({{"history", Json::array({{{"seq", 1}}})}});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("history record: "));
}

}  // namespace
}  // namespace stackctl::cli
