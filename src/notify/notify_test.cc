#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/crypto.h"
#include "common/json.h"
#include "notify/commit_status.h"
#include "notify/dispatcher.h"
#include "notify/events.h"
#include "notify/notifier.h"

namespace stackctl::notify {
namespace {

using namespace std::chrono_literals;

// Records every request; answers with the queued statuses, then OK.
class FakeSender : public Sender {
 public:
  Status Send(const HttpRequest& r) override {
    sent.push_back(r);
    if (answers.empty()) return OkStatus();
    Status st = answers.front();
    answers.erase(answers.begin());
    return st;
  }
  std::vector<HttpRequest> sent;
  std::vector<Status> answers;
};

std::string Header(const HttpRequest& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "";
}

double Count(metrics::Registry& reg, const std::string& series) {
  const std::string text = reg.Render();
  auto at = text.find(series + " ");
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + series.size() + 1));
}

TEST(CommitStatus, DerivesHostsFromRepositoryUrls) {
  auto gh = ResolveStatusHost("git@github.com:acme/app.git", "", "", "");
  ASSERT_TRUE(gh.ok()) << gh.status().ToString();
  EXPECT_EQ(gh->host, GitHost::kGitHub);
  EXPECT_EQ(gh->api_url, "https://api.github.com");
  EXPECT_EQ(gh->project, "acme/app");
  auto gl = ResolveStatusHost("https://gitlab.com/group/sub/app.git", "", "", "");
  ASSERT_TRUE(gl.ok());
  EXPECT_EQ(gl->api_url, "https://gitlab.com/api/v4");
  EXPECT_EQ(gl->project, "group/sub/app");
  auto gitea = ResolveStatusHost("ssh://git@git.example.com:2222/ops/app.git", "forgejo", "", "");
  ASSERT_TRUE(gitea.ok());
  EXPECT_EQ(gitea->host, GitHost::kGitea);
  EXPECT_EQ(gitea->api_url, "https://git.example.com/api/v1");
  auto ghe = ResolveStatusHost("https://ghe.example.com/acme/app", "github", "", "");
  ASSERT_TRUE(ghe.ok());
  EXPECT_EQ(ghe->api_url, "https://ghe.example.com/api/v3");

  auto unknown = ResolveStatusHost("https://git.example.com/a/b.git", "", "", "");
  EXPECT_EQ(unknown.status().message(),
            "provider: cannot tell the Git host of \"https://git.example.com/a/b.git\"; set "
            "provider (github, "
            "gitlab or gitea)");
  EXPECT_EQ(ResolveStatusHost("https://github.com/a/b", "", "http://x", "").status().message(),
            "api_url: must be an https:// URL (got \"http://x\")");
  EXPECT_EQ(ResolveStatusHost("https://github.com/a/b", "bitbucket", "", "").status().message(),
            "provider: must be github, gitlab or gitea (got \"bitbucket\")");
  EXPECT_EQ(ResolveStatusHost("https://github.com/a/b/c", "", "", "").status().message(),
            "project: must be \"owner/repo\" (got \"a/b/c\")");
}

TEST(CommitStatus, RequestsFollowEachHostsApi) {
  CommitStatus st{"abc123", CommitState::kPending, "stackctl/web", "rollout started",
                  "https://d/stacks/web"};
  StatusHost gh{GitHost::kGitHub, "https://api.github.com", "acme/app", "", ""};
  HttpRequest r = BuildStatusRequest(gh, "tok", st);
  EXPECT_EQ(r.url, "https://api.github.com/repos/acme/app/statuses/abc123");
  EXPECT_EQ(Header(r, "Authorization"), "Bearer tok");
  EXPECT_EQ(
      r.body,
      R"({"context":"stackctl/web","description":"rollout started","state":"pending","target_url":"https://d/stacks/web"})");

  StatusHost gl{GitHost::kGitLab, "https://gitlab.com/api/v4", "group/sub/app", "", ""};
  st.state = CommitState::kError;
  r = BuildStatusRequest(gl, "tok", st);
  EXPECT_EQ(r.url, "https://gitlab.com/api/v4/projects/group%2Fsub%2Fapp/statuses/abc123");
  EXPECT_EQ(Header(r, "PRIVATE-TOKEN"), "tok");
  EXPECT_EQ(Header(r, "Authorization"), "");
  EXPECT_EQ(
      r.body,
      R"({"description":"rollout started","name":"stackctl/web","state":"failed","target_url":"https://d/stacks/web"})");

  StatusHost gt{GitHost::kGitea, "https://git.example.com/api/v1", "ops/app", "", "/ca.pem"};
  st.state = CommitState::kFailure;
  st.target_url.clear();
  r = BuildStatusRequest(gt, "tok", st);
  EXPECT_EQ(r.url, "https://git.example.com/api/v1/repos/ops/app/statuses/abc123");
  EXPECT_EQ(Header(r, "Authorization"), "token tok");
  EXPECT_EQ(r.ca_file, "/ca.pem");
  EXPECT_EQ(r.body,
            R"({"context":"stackctl/web","description":"rollout started","state":"failure"})");
}

TEST(CommitStatus, StateNamesPerHost) {
  EXPECT_EQ(CommitStateOn(GitHost::kGitHub, CommitState::kPending), "pending");
  EXPECT_EQ(CommitStateOn(GitHost::kGitHub, CommitState::kError), "error");
  EXPECT_EQ(CommitStateOn(GitHost::kGitea, CommitState::kFailure), "failure");
  EXPECT_EQ(CommitStateOn(GitHost::kGitLab, CommitState::kPending), "running");
  EXPECT_EQ(CommitStateOn(GitHost::kGitLab, CommitState::kSuccess), "success");
  EXPECT_EQ(CommitStateOn(GitHost::kGitLab, CommitState::kFailure), "failed");
  EXPECT_EQ(CommitStateOn(GitHost::kGitLab, CommitState::kError), "failed");
}

// Code points in `s` (UTF-8), to check lengths the way the hosts count them.
size_t CodePoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

TEST(CommitStatus, DescriptionLimitsAreTheHostsDocumentedOnes) {
  EXPECT_EQ(DescriptionLimit(GitHost::kGitHub), 140u);  // enforced by the API (422)
  EXPECT_EQ(DescriptionLimit(GitHost::kGitLab), 255u);  // GitLab commits API docs
  EXPECT_EQ(DescriptionLimit(GitHost::kGitea), 255u);   // undocumented; safe value
}

TEST(CommitStatus, DescriptionsAreCutToTheHostsLimit) {
  const std::string euro = "\xE2\x82\xAC";  // one character, three bytes
  struct Case {
    GitHost host;
    std::string api;
    size_t limit;
  };
  for (const Case& c : {Case{GitHost::kGitHub, "https://api.github.com", 140},
                        Case{GitHost::kGitLab, "https://gitlab.com/api/v4", 255},
                        Case{GitHost::kGitea, "https://git.example.com/api/v1", 255}}) {
    SCOPED_TRACE(std::string(GitHostName(c.host)));
    StatusHost host{c.host, c.api, "a/b", "", ""};
    auto description = [&](const std::string& text) {
      CommitStatus st{"abc", CommitState::kFailure, "stackctl/web", text, ""};
      return Json::parse(BuildStatusRequest(host, "t", st).body)["description"].get<std::string>();
    };
    // ASCII: exactly `limit` characters, the last three "...".
    EXPECT_EQ(description(std::string(300, 'x')), std::string(c.limit - 3, 'x') + "...");
    // At the limit nothing is cut; one over and it is.
    EXPECT_EQ(description(std::string(c.limit, 'y')), std::string(c.limit, 'y'));
    EXPECT_EQ(description(std::string(c.limit + 1, 'y')), std::string(c.limit - 3, 'y') + "...");
    // A three-byte character straddling the cut is kept whole or dropped whole:
    // limit-4 ASCII + euro signs keeps exactly one euro sign before "...".
    std::string mixed = std::string(c.limit - 4, 'z');
    for (int i = 0; i < 10; ++i) mixed += euro;
    const std::string cut = description(mixed);
    EXPECT_EQ(cut, std::string(c.limit - 4, 'z') + euro + "...");
    EXPECT_EQ(CodePoints(cut), c.limit);
    EXPECT_EQ(cut.size(), c.limit + 2);  // the euro sign's two extra bytes
  }
  // Characters, not bytes: a multi-byte character is never split.
  EXPECT_EQ(CutText("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", 4), "\xC3\xA9...");
  EXPECT_EQ(CutText("\xC3\xA9\xC3\xA9", 2), "\xC3\xA9\xC3\xA9");
}

TEST(Events, MessagesHaveTheirShapeAndSignature) {
  Event e;
  e.kind = EventKind::kRolledBack;
  e.stack = "web";
  e.commit = "0123456789abcdef0123";
  e.repository = "https://git.example.com/a/b.git";
  e.service = "web_app";
  e.message = "service web_app: task exited with code 1";
  e.time = Clock::TimePoint(std::chrono::seconds(1700000000));
  EXPECT_EQ(
      SlackBody(e),
      R"({"text":"stackctl: stack web rolled back at 0123456789ab: service web_app: task exited with code 1"})");
  Target t;
  t.name = "ops";
  t.type = TargetType::kWebhook;
  HttpRequest r = BuildTargetRequest(t, "https://hooks.example.com/x", "s3cret", e);
  EXPECT_EQ(
      r.body,
      R"({"commit":"0123456789abcdef0123","event":"rolled_back","message":"service web_app: task exited with code 1","repository":"https://git.example.com/a/b.git","service":"web_app","stack":"web","time":"2023-11-14T22:13:20Z"})");
  EXPECT_EQ(Header(r, "X-Event"), "rolled_back");
  // The same scheme the incoming generic webhook checks.
  EXPECT_TRUE(VerifyBodySignature("s3cret", Header(r, kBodySignatureHeader), r.body));
  EXPECT_FALSE(VerifyBodySignature("other", Header(r, kBodySignatureHeader), r.body));
  EXPECT_EQ(r.body.find("s3cret"), std::string::npos);
  // Slack targets are not signed.
  t.type = TargetType::kSlack;
  EXPECT_EQ(Header(BuildTargetRequest(t, "https://hooks.example.com/x", "s3cret", e),
                   kBodySignatureHeader),
            "");
}

TEST(Events, TargetsFilterByEventAndStackGlob) {
  Target t;
  t.events = {EventKind::kRolledBack};
  t.stacks = {"web*", "api"};
  Event e;
  e.kind = EventKind::kRolledBack;
  e.stack = "web-prod";
  EXPECT_TRUE(t.Wants(e));
  e.stack = "db";
  EXPECT_FALSE(t.Wants(e));
  e.stack = "api";
  e.kind = EventKind::kRecovered;
  EXPECT_FALSE(t.Wants(e));
  t.events.clear();
  EXPECT_TRUE(t.Wants(e));
}

class DispatcherTest : public ::testing::Test {
 protected:
  FakeClock clock;
  FakeSender sender;
  metrics::Registry registry;
  metrics::ControllerMetrics metrics{registry};
  Dispatcher dispatcher{sender, clock, metrics, {4, 1000ms, 3000ms}};

  Delivery Make(const std::string& body, const std::string& key = "") {
    return Delivery{"webhook", "test " + body, key, [body]() -> Result<HttpRequest> {
                      HttpRequest r;
                      r.url = "https://x";
                      r.body = body;
                      return r;
                    }};
  }
};

TEST_F(DispatcherTest, RetriesWithBackoffThenGivesUp) {
  sender.answers = {Unavailable("HTTP 503"), Unavailable("HTTP 503"), Unavailable("HTTP 503"),
                    Unavailable("down")};
  dispatcher.Enqueue(Make("a"));
  EXPECT_EQ(dispatcher.RunDue(), 1);
  EXPECT_EQ(*dispatcher.NextDue() - clock.Steady(), 1000ms);
  clock.Advance(999ms);
  EXPECT_EQ(dispatcher.RunDue(), 0);
  clock.Advance(1ms);
  EXPECT_EQ(dispatcher.RunDue(), 1);
  EXPECT_EQ(*dispatcher.NextDue() - clock.Steady(), 2000ms);
  clock.Advance(2000ms);
  EXPECT_EQ(dispatcher.RunDue(), 1);
  EXPECT_EQ(*dispatcher.NextDue() - clock.Steady(), 3000ms);  // capped
  clock.Advance(3000ms);
  EXPECT_EQ(dispatcher.RunDue(), 1);  // the 4th and last attempt
  EXPECT_FALSE(dispatcher.NextDue().has_value());
  EXPECT_EQ(sender.sent.size(), 4u);
  EXPECT_EQ(Count(registry, "stackctl_notifications_failed_total{kind=\"webhook\"}"), 4);
  EXPECT_EQ(Count(registry, "stackctl_notifications_dropped_total{kind=\"webhook\"}"), 1);
  EXPECT_EQ(Count(registry, "stackctl_notifications_sent_total{kind=\"webhook\"}"), 0);
}

TEST_F(DispatcherTest, PermanentErrorsAreNotRetried) {
  sender.answers = {FailedPrecondition("HTTP 401: bad credentials")};
  dispatcher.Enqueue(Make("a"));
  dispatcher.Enqueue(Make("b"));
  EXPECT_EQ(dispatcher.RunDue(), 2);
  EXPECT_EQ(dispatcher.Queued(), 0u);
  EXPECT_EQ(Count(registry, "stackctl_notifications_dropped_total{kind=\"webhook\"}"), 1);
  EXPECT_EQ(Count(registry, "stackctl_notifications_sent_total{kind=\"webhook\"}"), 1);
}

TEST_F(DispatcherTest, ANewerStateReplacesOneWaitingForRetry) {
  sender.answers = {Unavailable("down")};
  dispatcher.Enqueue(Make("pending", "k"));
  EXPECT_EQ(dispatcher.RunDue(), 1);  // fails, waits 1 s
  dispatcher.Enqueue(Make("success", "k"));
  EXPECT_EQ(dispatcher.RunDue(), 1);
  clock.Advance(5s);
  EXPECT_EQ(dispatcher.RunDue(), 0);
  ASSERT_EQ(sender.sent.size(), 2u);
  EXPECT_EQ(sender.sent[0].body, "pending");
  EXPECT_EQ(sender.sent[1].body, "success");
}

class NotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("notify_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "token") << "gh-token\n";
    host = StatusHost{GitHost::kGitHub, "https://api.github.com", "acme/app",
                      (dir / "token").string(), ""};
    NotifyConfig cfg;
    cfg.dashboard_url = "https://stackctl.example.com/stacks/{stack}";
    Target slack;
    slack.name = "chat";
    slack.type = TargetType::kSlack;
    slack.url = "https://chat.example.com/hooks/abc";
    cfg.targets = {slack};
    notifier = std::make_unique<Notifier>(cfg, dispatcher, clock);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  StackOutcome Outcome(Ending r, const std::string& commit = "c1") {
    StackOutcome o;
    o.stack = "web";
    o.commit = commit;
    o.repository = "https://user:secret@github.com/acme/app.git";
    o.status_host = host;
    o.ending = r;
    return o;
  }
  // What was sent since the last call: "status <state> <description>" or "chat <text>".
  std::vector<std::string> Sent() {
    dispatcher.RunDue();
    std::vector<std::string> out;
    for (const auto& r : sender.sent) {
      Json b = Json::parse(r.body);
      if (b.contains("text")) {
        out.push_back("chat " + b["text"].get<std::string>());
      } else {
        out.push_back("status " + b["state"].get<std::string>() + " " +
                      b["description"].get<std::string>());
      }
    }
    sender.sent.clear();
    return out;
  }

  std::filesystem::path dir;
  StatusHost host;
  FakeClock clock;
  FakeSender sender;
  metrics::Registry registry;
  metrics::ControllerMetrics metrics{registry};
  Dispatcher dispatcher{sender, clock, metrics};
  std::unique_ptr<Notifier> notifier;
};

TEST_F(NotifierTest, PendingThenSuccess) {
  notifier->Started("web", "c1", host, false);
  dispatcher.RunDue();  // sent while the rollout runs (an unsent pending would be superseded)
  notifier->Finished(Outcome(Ending::kDeployed));
  dispatcher.RunDue();
  ASSERT_EQ(sender.sent.size(), 2u);
  EXPECT_EQ(sender.sent[0].url, "https://api.github.com/repos/acme/app/statuses/c1");
  EXPECT_EQ(Header(sender.sent[0], "Authorization"), "Bearer gh-token");
  EXPECT_EQ(Json::parse(sender.sent[0].body)["context"], "stackctl/web");
  EXPECT_EQ(Json::parse(sender.sent[0].body)["target_url"],
            "https://stackctl.example.com/stacks/web");
  EXPECT_EQ(Sent(), (std::vector<std::string>{"status pending rollout started",
                                              "status success deployed"}));
  // A drift check of the same commit changes no status.
  StackOutcome again = Outcome(Ending::kInSync);
  again.drift = true;
  notifier->Finished(again);
  EXPECT_TRUE(Sent().empty());
}

TEST_F(NotifierTest, RepeatedFailureIsSentOnceAndRecoveryAlways) {
  StackOutcome failed = Outcome(Ending::kRolledBack);
  failed.service = "web_app";
  failed.message = "service web_app: task exited (1)";
  notifier->Started("web", "c1", host, false);
  dispatcher.RunDue();
  notifier->Finished(failed);
  EXPECT_EQ(Sent(),
            (std::vector<std::string>{
                "status pending rollout started", "status failure service web_app: task exited (1)",
                "chat stackctl: stack web rolled back at c1: service web_app: task exited "
                "(1) (https://stackctl.example.com/stacks/web)"}));
  // The controller retries (or a resync repeats) the same failure: nothing new.
  notifier->Finished(failed);
  notifier->Finished(failed);
  EXPECT_TRUE(Sent().empty());
  // Retryable errors of the same commit: one rollout_failed.
  StackOutcome retry = Outcome(Ending::kRetrying);
  retry.message = "engine unavailable";
  notifier->Finished(retry);
  notifier->Finished(retry);
  std::vector<std::string> s = Sent();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0],
            "chat stackctl: stack web rollout failed at c1: engine unavailable "
            "(https://stackctl.example.com/stacks/web)");
  // A new commit that works: success and recovered.
  notifier->Started("web", "c2", host, false);
  dispatcher.RunDue();
  notifier->Finished(Outcome(Ending::kDeployed, "c2"));
  EXPECT_EQ(
      Sent(),
      (std::vector<std::string>{
          "status pending rollout started", "status success deployed",
          "chat stackctl: stack web recovered at c2 (https://stackctl.example.com/stacks/web)"}));
  // The same failure again later (after a recovery) is news again.
  notifier->Finished(failed);
  EXPECT_EQ(Sent().size(), 2u);
}

TEST_F(NotifierTest, RenderFailureIsAnErrorAndNeverCarriesCredentials) {
  StackOutcome o = Outcome(Ending::kRenderFailed);
  o.message = "stack web at c1: services.web.image: must be a string";
  notifier->Finished(o);
  dispatcher.RunDue();
  ASSERT_EQ(sender.sent.size(), 2u);
  EXPECT_EQ(Json::parse(sender.sent[0].body)["state"], "error");
  for (const auto& r : sender.sent) {
    EXPECT_EQ(r.body.find("secret"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("gh-token"), std::string::npos) << r.body;
  }
}

// A refused image: the JSON webhook's "service" field names the refused
// service (the report carries it typed), the status is a failure.
TEST_F(NotifierTest, ImageRefusalCarriesTheServiceInTheWebhookBody) {
  NotifyConfig cfg;
  Target hook;
  hook.name = "hook";
  hook.type = TargetType::kWebhook;
  hook.url = "https://hooks.example.com/in";
  cfg.targets = {hook};
  Notifier with_hook(cfg, dispatcher, clock);
  StackOutcome o = Outcome(Ending::kImageRefused);
  o.service = "web_app";
  o.message = "stack web: service app: image app:9: not signed";
  with_hook.Finished(o);
  dispatcher.RunDue();
  ASSERT_EQ(sender.sent.size(), 2u);
  Json status = Json::parse(sender.sent[0].body);
  EXPECT_EQ(status["state"], "failure");
  EXPECT_EQ(status["description"],
            "service web_app: stack web: service app: image app:9: not signed");
  Json body = Json::parse(sender.sent[1].body);
  EXPECT_EQ(body["event"], "image_refused");
  EXPECT_EQ(body["service"], "web_app");
  EXPECT_EQ(body["message"], "stack web: service app: image app:9: not signed");
}

TEST_F(NotifierTest, DriftDetectedOnceAndRevertedEachTime) {
  StackOutcome o = Outcome(Ending::kOutOfSync);
  o.drift = true;
  o.drifted = 1;
  o.message = "1 change(s) not applied (self_heal is off)";
  notifier->Finished(o);
  notifier->Finished(o);
  EXPECT_EQ(Sent(), (std::vector<std::string>{
                        "chat stackctl: stack web drift detected at c1: 1 change(s) not applied "
                        "(self_heal is off) (https://stackctl.example.com/stacks/web)"}));
  StackOutcome healed = Outcome(Ending::kDeployed);
  healed.drift = true;
  healed.drifted = 1;
  notifier->Finished(healed);
  EXPECT_EQ(Sent(), (std::vector<std::string>{"chat stackctl: stack web drift reverted at c1 "
                                              "(https://stackctl.example.com/stacks/web)"}));
}

TEST_F(NotifierTest, AnUnreadableTokenDropsTheStatusOnly) {
  host.token_file = (dir / "missing").string();
  notifier->Finished(Outcome(Ending::kRenderFailed));
  EXPECT_EQ(Sent().size(), 1u);  // the chat message; the status is dropped
  EXPECT_EQ(Count(registry, "stackctl_notifications_dropped_total{kind=\"github\"}"), 1);
}

}  // namespace
}  // namespace stackctl::notify
