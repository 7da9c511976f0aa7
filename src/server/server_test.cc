#include "server/server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <thread>
#include <filesystem>
#include <map>
#include <mutex>

#include "common/crypto.h"

namespace stackctl::server {
namespace {

// A controller that records calls and serves canned values.
class FakeController : public ControllerApi {
 public:
  bool Ready() override { return ready; }
  std::string NotReadyReason() override { return not_ready_reason; }
  std::vector<std::string> OnPush(const RepositoryPush& push) override {
    std::lock_guard<std::mutex> lock(mu);
    pushes.push_back(push.ref + "@" + push.commit);
    push_urls = push.repo_urls;
    return watching;
  }
  Result<std::string> Sync(const std::string& stack,
                           const std::optional<std::string>& revision) override {
    if (stack != "web") return NotFound("stack \"" + stack + "\" not found");
    std::lock_guard<std::mutex> lock(mu);
    syncs.push_back(stack + "@" + revision.value_or("(default)"));
    return std::string("op-1");
  }
  Result<Operation> WaitOperation(const std::string& id, std::chrono::milliseconds timeout) override {
    waited_ms = timeout.count();
    if (id != "op-1") return NotFound("operation " + id + " not found");
    return op;
  }
  std::vector<StackView> ListStacks() override { return {Web()}; }
  Result<StackView> GetStack(const std::string& name) override {
    if (name != "web") return NotFound("stack \"" + name + "\" not found");
    return Web();
  }
  Result<std::vector<reconciler::HistoryRecord>> GetHistory(const std::string& name) override {
    if (name != "web") return NotFound("stack \"" + name + "\" not found");
    return history;
  }
  Result<Operation> GetOperation(const std::string& id) override {
    if (id != "op-1") return NotFound("operation " + id + " not found");
    return op;
  }
  Result<std::string> Rollback(const std::string& stack, int64_t seq) override {
    if (stack != "web") return NotFound("stack \"" + stack + "\" not found");
    if (seq == 99) return NotFound("stack web: no history record 99");
    std::lock_guard<std::mutex> lock(mu);
    rollbacks.push_back(seq);
    return std::string("op-2");
  }
  Status SetPinned(const std::string& stack, bool pinned) override {
    if (stack != "web") return NotFound("stack \"" + stack + "\" not found");
    std::lock_guard<std::mutex> lock(mu);
    pins.push_back(pinned ? "pin" : "resume");
    return OkStatus();
  }
  static StackView Web() {
    StackView v;
    v.name = "web";
    v.repository = "infra";
    v.path = "web";
    v.revision = "abc";
    v.sync = reconciler::SyncState::kSynced;
    v.health = reconciler::StackHealth::kHealthy;
    v.auto_sync = true;
    v.prune = true;
    return v;
  }

  std::mutex mu;
  bool ready = true;
  std::string not_ready_reason;
  std::vector<std::string> watching = {"infra"};  // what OnPush answers
  std::vector<std::string> pushes, push_urls, syncs, pins;
  std::vector<int64_t> rollbacks;
  long waited_ms = 0;
  std::vector<reconciler::HistoryRecord> history;
  Operation op = [] {
    Operation o;
    o.id = "op-1";
    o.stack = "web";
    o.revision = "abc";
    o.state = OperationState::kSucceeded;
    o.created_at = "2026-11-22T10:00:00Z";
    o.finished_at = "2026-11-22T10:00:05Z";
    return o;
  }();
};

constexpr char kToken[] = "ci-token-123";

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.max_body_bytes = 4096;
    o.api_token = kToken;
    o.webhook_secrets = {{"github", "gh-secret"}, {"gitlab", "gl-token"}, {"gitea", "gitea-secret"},
                         {"generic", "generic-secret"}};
    server_ = std::make_unique<Server>(fake_, metrics_, o);
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }

  httplib::Result Hook(const std::string& provider, const std::string& body,
                       httplib::Headers headers) {
    return client_->Post(("/hooks/" + provider).c_str(), headers, body, "application/json");
  }
  static std::string Sign(const std::string& secret, const std::string& body) {
    return HexEncode(HmacSha256(secret, body));
  }
  double Webhooks(const std::string& provider, const std::string& result) {
    return metrics_.webhook_requests_total.With({provider, result}).Value();
  }

  FakeController fake_;
  metrics::Registry registry_;
  metrics::ControllerMetrics metrics_{registry_};
  std::unique_ptr<Server> server_;
  std::unique_ptr<httplib::Client> client_;
};

std::string GitHubPush(const std::string& ref, const std::string& url) {
  return Json{{"ref", ref},
              {"after", "1111111111111111111111111111111111111111"},
              {"repository", {{"clone_url", url}, {"ssh_url", "git@github.com:acme/infra.git"}}}}
      .dump();
}

TEST_F(ServerTest, GitHubPushToWatchedBranchIsAccepted) {
  std::string body = GitHubPush("refs/heads/main", "https://github.com/acme/infra.git");
  auto res = Hook("github", body,
                  {{"X-GitHub-Event", "push"},
                   {"X-Hub-Signature-256", "sha256=" + Sign("gh-secret", body)}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202);
  EXPECT_EQ(Json::parse(res->body),
            (Json{{"status", "accepted"}, {"repositories", Json::array({"infra"})}}));
  EXPECT_EQ(fake_.pushes, (std::vector<std::string>{"refs/heads/main@1111111111111111111111111111111111111111"}));
  EXPECT_EQ(fake_.push_urls, (std::vector<std::string>{"https://github.com/acme/infra.git",
                                                        "git@github.com:acme/infra.git"}));
  EXPECT_EQ(Webhooks("github", "accepted"), 1);
}

TEST_F(ServerTest, FormEncodedGitHubDelivery) {
  std::string json = GitHubPush("refs/heads/main", "https://github.com/acme/infra.git");
  std::string body = "payload=" + httplib::detail::encode_query_param(json);
  auto res = client_->Post("/hooks/github",
                           {{"X-GitHub-Event", "push"},
                            {"X-Hub-Signature-256", "sha256=" + Sign("gh-secret", body)}},
                           body, "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202);
  EXPECT_EQ(fake_.pushes, (std::vector<std::string>{"refs/heads/main@1111111111111111111111111111111111111111"}));
}

// Which repositories a push concerns is the controller's answer.
TEST_F(ServerTest, TagPushAnswersWithTheRepositoriesTheControllerQueued) {
  fake_.watching = {"rel", "rel-mirror"};
  std::string body = GitHubPush("refs/tags/v1", "https://github.com/acme/infra.git");
  auto res = Hook("github", body,
                  {{"X-GitHub-Event", "push"},
                   {"X-Hub-Signature-256", "sha256=" + Sign("gh-secret", body)}});
  EXPECT_EQ(res->status, 202);
  EXPECT_EQ(Json::parse(res->body),
            (Json{{"status", "accepted"}, {"repositories", Json::array({"rel", "rel-mirror"})}}));
  EXPECT_EQ(fake_.pushes, (std::vector<std::string>{"refs/tags/v1@1111111111111111111111111111111111111111"}));
}

TEST_F(ServerTest, PushNoRepositoryWatchesIsIgnored) {
  fake_.watching.clear();
  for (auto [ref, url] : {std::pair<std::string, std::string>{"refs/heads/dev",
                                                              "https://github.com/acme/infra.git"},
                          {"refs/heads/main", "https://github.com/acme/other.git"}}) {
    std::string body = Json{{"ref", ref}, {"after", "12"}, {"repository", {{"clone_url", url}}}}.dump();
    auto res = Hook("github", body,
                    {{"X-GitHub-Event", "push"},
                     {"X-Hub-Signature-256", "sha256=" + Sign("gh-secret", body)}});
    EXPECT_EQ(res->status, 202);
    EXPECT_EQ(Json::parse(res->body),
              (Json{{"status", "ignored"},
                    {"reason", "no configured repository watches " + ref}}));
  }
  EXPECT_EQ(fake_.pushes, (std::vector<std::string>{"refs/heads/dev@12", "refs/heads/main@12"}));
  EXPECT_EQ(Webhooks("github", "ignored"), 2);
}

TEST_F(ServerTest, BadOrMissingSignatureIs401AndNothingHappens) {
  std::string body = GitHubPush("refs/heads/main", "https://github.com/acme/infra.git");
  auto bad = Hook("github", body,
                  {{"X-GitHub-Event", "push"},
                   {"X-Hub-Signature-256", "sha256=" + Sign("wrong", body)}});
  EXPECT_EQ(bad->status, 401);
  EXPECT_EQ(Json::parse(bad->body), (Json{{"error", "invalid or missing webhook signature"}}));
  EXPECT_EQ(Hook("github", body, {{"X-GitHub-Event", "push"}})->status, 401);
  EXPECT_EQ(Hook("gitlab", body, {{"X-Gitlab-Event", "Push Hook"}, {"X-Gitlab-Token", "nope"}})->status,
            401);
  EXPECT_EQ(Hook("gitea", body, {{"X-Gitea-Event", "push"}, {"X-Gitea-Signature", Sign("x", body)}})
                ->status,
            401);
  EXPECT_EQ(Hook("generic", body, {})->status, 401);
  EXPECT_TRUE(fake_.pushes.empty());
  EXPECT_EQ(Webhooks("github", "unauthorized"), 2);
  EXPECT_EQ(Webhooks("gitlab", "unauthorized"), 1);
}

TEST_F(ServerTest, PingAndUnknownProvider) {
  std::string body = R"({"zen":"Keep it logically awesome."})";
  auto ping = Hook("github", body,
                   {{"X-GitHub-Event", "ping"},
                    {"X-Hub-Signature-256", "sha256=" + Sign("gh-secret", body)}});
  EXPECT_EQ(ping->status, 200);
  EXPECT_EQ(Json::parse(ping->body), (Json{{"status", "pong"}}));
  auto unknown = Hook("bitbucket", body, {});
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(Json::parse(unknown->body), (Json{{"error", "unknown webhook provider"}}));
}

TEST_F(ServerTest, GitLabGiteaGenericPushes) {
  std::string gl =
      R"({"ref":"refs/heads/main","checkout_sha":"c1","project":{"git_http_url":"https://github.com/acme/infra.git"}})";
  EXPECT_EQ(Hook("gitlab", gl, {{"X-Gitlab-Event", "Push Hook"}, {"X-Gitlab-Token", "gl-token"}})->status,
            202);
  std::string gt =
      R"({"ref":"refs/heads/main","after":"c2","repository":{"clone_url":"https://github.com/acme/infra.git"}})";
  EXPECT_EQ(Hook("gitea", gt, {{"X-Gitea-Event", "push"}, {"X-Gitea-Signature", Sign("gitea-secret", gt)}})
                ->status,
            202);
  std::string gen = R"({"repository":"https://github.com/acme/infra","ref":"main","commit":"c3"})";
  EXPECT_EQ(Hook("generic", gen, {{"X-Signature", "sha256=" + Sign("generic-secret", gen)}})->status,
            202);
  EXPECT_EQ(fake_.pushes,
            (std::vector<std::string>{"refs/heads/main@c1", "refs/heads/main@c2", "refs/heads/main@c3"}));
}

TEST_F(ServerTest, BodyOverLimitIs413) {
  std::string body(5000, 'x');
  auto res = Hook("github", body,
                  {{"X-GitHub-Event", "push"},
                   {"X-Hub-Signature-256", "sha256=" + Sign("gh-secret", body)}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_TRUE(fake_.pushes.empty());
  EXPECT_EQ(Webhooks("github", "too_large"), 1);
}

TEST_F(ServerTest, DisabledProviderIs404) {
  ServerOptions o;
  Server s(fake_, metrics_, o);
  ASSERT_TRUE(s.Start().ok());
  httplib::Client c("127.0.0.1", s.port());
  auto res = c.Post("/hooks/github", "{}", "application/json");
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(Json::parse(res->body), (Json{{"error", "webhook provider github is not enabled"}}));
  // No token configured: the API refuses everyone.
  auto api = c.Get("/api/v1/stacks", {{"Authorization", "Bearer "}});
  EXPECT_EQ(api->status, 401);
}

TEST_F(ServerTest, ApiNeedsBearerToken) {
  auto none = client_->Get("/api/v1/stacks");
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(Json::parse(none->body),
            (Json{{"error", "missing or invalid bearer token"}, {"code", "UNAUTHENTICATED"}}));
  EXPECT_EQ(client_->Get("/api/v1/stacks", {{"Authorization", "Bearer wrong"}})->status, 401);
  EXPECT_EQ(client_->Get("/api/v1/stacks", {{"Authorization", kToken}})->status, 401);
  EXPECT_EQ(client_->Post("/api/v1/stacks/web/sync", "", "application/json")->status, 401);
  EXPECT_TRUE(fake_.syncs.empty());
}

TEST_F(ServerTest, ApiReadsAndSyncs) {
  httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kToken}};
  auto list = client_->Get("/api/v1/stacks", auth);
  EXPECT_EQ(list->status, 200);
  EXPECT_EQ(Json::parse(list->body), (Json{{"stacks", Json::array({StackJson(FakeController::Web())})}}));
  EXPECT_EQ(Json::parse(client_->Get("/api/v1/stacks/web", auth)->body), StackJson(FakeController::Web()));
  auto missing = client_->Get("/api/v1/stacks/nope", auth);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(Json::parse(missing->body),
            (Json{{"error", "stack \"nope\" not found"}, {"code", "NOT_FOUND"}}));
  auto history = client_->Get("/api/v1/stacks/web/history", auth);
  EXPECT_EQ(history->status, 200);
  EXPECT_EQ(Json::parse(history->body), (Json{{"stack", "web"}, {"history", Json::array()}}));
  auto op = client_->Get("/api/v1/operations/op-1", auth);
  EXPECT_EQ(op->status, 200);
  EXPECT_EQ(Json::parse(op->body), OperationJson(fake_.op));
  EXPECT_EQ(client_->Get("/api/v1/operations/op-9", auth)->status, 404);

  auto sync = client_->Post("/api/v1/stacks/web/sync", auth, "", "application/json");
  EXPECT_EQ(sync->status, 202);
  EXPECT_EQ(Json::parse(sync->body), (Json{{"operation", "op-1"}}));
  auto rev = client_->Post("/api/v1/stacks/web/sync", auth, R"({"revision":"v2"})",
                           "application/json");
  EXPECT_EQ(rev->status, 202);
  EXPECT_EQ(fake_.syncs, (std::vector<std::string>{"web@(default)", "web@v2"}));
  EXPECT_EQ(client_->Post("/api/v1/stacks/db/sync", auth, "", "application/json")->status, 404);
  auto bad = client_->Post("/api/v1/stacks/web/sync", auth, R"({"rev":"x"})", "application/json");
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(Json::parse(bad->body), (Json{{"error", "request body: unknown field \"rev\""},
                                          {"code", "INVALID_ARGUMENT"}}));
}

TEST_F(ServerTest, SyncWaitReportsOutcome) {
  httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kToken}};
  auto ok = client_->Post("/api/v1/stacks/web/sync?wait=true&timeout=90s", auth, "{}",
                          "application/json");
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(Json::parse(ok->body), OperationJson(fake_.op));
  EXPECT_EQ(fake_.waited_ms, 90000);

  // A rolled-back rollout is a terminal failure of the commit: 422.
  fake_.op.state = OperationState::kFailed;
  fake_.op.error = FailedPrecondition("service web_app: rolled back");
  fake_.op.failed_service = "web_app";
  auto failed = client_->Post("/api/v1/stacks/web/sync?wait=true", auth, "", "application/json");
  EXPECT_EQ(failed->status, 422);
  EXPECT_EQ(Json::parse(failed->body)["error"],
            (Json{{"code", "FAILED_PRECONDITION"}, {"message", "service web_app: rolled back"},
                  {"service", "web_app"}}));
  EXPECT_EQ(fake_.waited_ms, 600000);
  // A held stack lock: 409, try again.
  fake_.op.error = Aborted("stack web is locked by stackctl deploy");
  fake_.op.failed_service.clear();
  EXPECT_EQ(client_->Post("/api/v1/stacks/web/sync?wait=true", auth, "", "application/json")->status, 409);

  fake_.op.state = OperationState::kRunning;
  fake_.op.error.reset();
  EXPECT_EQ(client_->Post("/api/v1/stacks/web/sync?wait=true", auth, "", "application/json")->status,
            504);
  EXPECT_EQ(client_->Post("/api/v1/stacks/web/sync?wait=true&timeout=soon", auth, "",
                          "application/json")
                ->status,
            400);
}

// A waited sync holds one worker; webhooks and probes are still served.
TEST(ServerConcurrencyTest, WaitedSyncDoesNotBlockWebhooks) {
  class SlowController : public FakeController {
   public:
    Result<Operation> WaitOperation(const std::string& id, std::chrono::milliseconds) override {
      std::unique_lock<std::mutex> lock(m);
      cv.wait(lock, [this] { return released; });
      return op;
    }
    std::mutex m;
    std::condition_variable cv;
    bool released = false;
  } fake;
  metrics::Registry registry;
  metrics::ControllerMetrics metrics(registry);
  ServerOptions o;
  o.api_token = kToken;
  o.webhook_secrets = {{"generic", "generic-secret"}};
  o.worker_threads = 4;
  Server server(fake, metrics, o);
  ASSERT_TRUE(server.Start().ok());
  std::vector<std::thread> waiters;
  std::atomic<int> done{0};
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&] {
      httplib::Client c("127.0.0.1", server.port());
      c.set_read_timeout(30, 0);
      auto r = c.Post("/api/v1/stacks/web/sync?wait=true", {{"Authorization", std::string("Bearer ") + kToken}},
                      "", "application/json");
      if (r && r->status == 200) ++done;
    });
  }
  auto started = [&fake] {
    std::lock_guard<std::mutex> lock(fake.mu);
    return fake.syncs.size();
  };
  while (started() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  httplib::Client c("127.0.0.1", server.port());
  std::string gen = R"({"repository":"https://github.com/acme/infra","ref":"main","commit":"c9"})";
  auto hook = c.Post("/hooks/generic", {{"X-Signature", "sha256=" + HexEncode(HmacSha256("generic-secret", gen))}},
                     gen, "application/json");
  ASSERT_TRUE(hook);
  EXPECT_EQ(hook->status, 202);
  EXPECT_EQ(done.load(), 0);
  {
    std::lock_guard<std::mutex> lock(fake.m);
    fake.released = true;
  }
  fake.cv.notify_all();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(done.load(), 3);
  EXPECT_EQ(fake.pushes, (std::vector<std::string>{"refs/heads/main@c9"}));
}

TEST_F(ServerTest, HealthReadinessMetrics) {
  EXPECT_EQ(client_->Get("/healthz")->status, 200);
  EXPECT_EQ(client_->Get("/readyz")->status, 200);
  EXPECT_EQ(client_->Get("/readyz")->body, "ready\n");
  fake_.ready = false;
  EXPECT_EQ(client_->Get("/readyz")->status, 503);
  EXPECT_EQ(client_->Get("/readyz")->body, "not ready\n");
  fake_.not_ready_reason = "repository infra failing since 2026-01-02T03:04:05Z: git ls-remote x: refused";
  EXPECT_EQ(client_->Get("/readyz")->status, 503);
  EXPECT_EQ(client_->Get("/readyz")->body,
            "not ready: repository infra failing since 2026-01-02T03:04:05Z: git ls-remote x: refused\n");
  metrics_.reconcile_total.With({"web", "success"}).Inc();
  auto m = client_->Get("/metrics");
  EXPECT_EQ(m->status, 200);
  EXPECT_EQ(m->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(m->body, registry_.Render());
  EXPECT_NE(m->body.find("stackctl_reconcile_total{stack=\"web\",result=\"success\"} 1\n"),
            std::string::npos);
}

// The dashboard: its files, compiled in, each with the strict security
// headers; the page itself carries no stack data.
TEST_F(ServerTest, DashboardFilesWithSecurityHeaders) {
  const std::map<std::string, std::string> types = {
      {"/", "text/html; charset=utf-8"},
      {"/ui/app.js", "text/javascript; charset=utf-8"},
      {"/ui/app.css", "text/css; charset=utf-8"}};
  for (const auto& [path, type] : types) {
    SCOPED_TRACE(path);
    auto res = client_->Get(path.c_str());
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->get_header_value("Content-Type"), type);
    EXPECT_EQ(res->get_header_value("Content-Security-Policy"),
              "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(res->get_header_value("X-Frame-Options"), "DENY");
    EXPECT_EQ(res->get_header_value("Referrer-Policy"), "no-referrer");
    EXPECT_FALSE(res->has_header("Set-Cookie"));
    EXPECT_GT(res->body.size(), 500u);
  }
  const std::string html = client_->Get("/")->body;
  EXPECT_NE(html.find(R"(<script src="/ui/app.js" defer></script>)"), std::string::npos);
  EXPECT_NE(html.find(R"(<link rel="stylesheet" href="/ui/app.css">)"), std::string::npos);
  EXPECT_EQ(html.find("web"), std::string::npos) << "no stack data in the page";
  EXPECT_EQ(client_->Get("/ui/missing.js")->status, 404);
}

// The CSP forbids inline script and style: every <script> has a src, no
// element has an on* handler or a style attribute; and the script never
// parses data as HTML.
TEST_F(ServerTest, DashboardHasNoInlineScriptAndNoHtmlParsing) {
  const std::string html = client_->Get("/")->body;
  size_t scripts = 0;
  for (size_t at = html.find("<script"); at != std::string::npos; at = html.find("<script", at + 1)) {
    ++scripts;
    EXPECT_EQ(html.compare(at, 13, "<script src=\""), 0) << html.substr(at, 40);
    EXPECT_EQ(html.compare(html.find('>', at), 10, "></script>"), 0) << html.substr(at, 60);
  }
  EXPECT_EQ(scripts, 1u);
  EXPECT_EQ(html.find(" style="), std::string::npos);
  EXPECT_EQ(html.find("<style"), std::string::npos);
  EXPECT_EQ(html.find(" on"), std::string::npos);
  const std::string js = client_->Get("/ui/app.js")->body;
  for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                           "new Function", "localStorage", "document.cookie"}) {
    EXPECT_EQ(js.find(sink), std::string::npos) << sink;
  }
  EXPECT_NE(js.find("sessionStorage"), std::string::npos);
}

TEST(ServerUiTest, DisabledServesNoDashboard) {
  FakeController fake;
  metrics::Registry registry;
  metrics::ControllerMetrics metrics(registry);
  ServerOptions o;
  o.api_token = kToken;
  o.ui_enabled = false;
  Server server(fake, metrics, o);
  ASSERT_TRUE(server.Start().ok());
  httplib::Client c("127.0.0.1", server.port());
  EXPECT_EQ(c.Get("/")->status, 404);
  EXPECT_EQ(c.Get("/ui/app.js")->status, 404);
  EXPECT_EQ(c.Get("/api/v1/stacks", {{"Authorization", std::string("Bearer ") + kToken}})->status, 200);
}

// Without a token (and without anonymous_read) no stack data leaves the
// server; anonymous_read opens the read calls only.
TEST(ServerUiTest, AnonymousReadOpensReadsOnly) {
  for (bool anonymous : {false, true}) {
    SCOPED_TRACE(anonymous ? "anonymous_read" : "token required");
    FakeController fake;
    fake.op.state = OperationState::kRunning;
    metrics::Registry registry;
    metrics::ControllerMetrics metrics(registry);
    ServerOptions o;
    o.api_token = kToken;
    o.anonymous_read = anonymous;
    Server server(fake, metrics, o);
    ASSERT_TRUE(server.Start().ok());
    httplib::Client c("127.0.0.1", server.port());
    for (const char* path : {"/api/v1/stacks", "/api/v1/stacks/web", "/api/v1/stacks/web/history",
                             "/api/v1/operations/op-1"}) {
      SCOPED_TRACE(path);
      auto res = c.Get(path);
      ASSERT_TRUE(res);
      EXPECT_EQ(res->status, anonymous ? 200 : 401);
      if (anonymous) {
        EXPECT_NE(res->body.find("web"), std::string::npos);
      } else {
        EXPECT_EQ(Json::parse(res->body),
                  (Json{{"error", "missing or invalid bearer token"}, {"code", "UNAUTHENTICATED"}}));
      }
    }
    // A wrong token is as good as none for reads only with anonymous_read.
    EXPECT_EQ(c.Get("/api/v1/stacks", {{"Authorization", "Bearer nope"}})->status, anonymous ? 200 : 401);
    for (const char* path : {"/api/v1/stacks/web/sync", "/api/v1/stacks/web/pin", "/api/v1/stacks/web/resume",
                             "/api/v1/stacks/web/rollback"}) {
      SCOPED_TRACE(path);
      EXPECT_EQ(c.Post(path, "{}", "application/json")->status, 401);
      EXPECT_EQ(c.Post(path, {{"Authorization", "Bearer nope"}}, "{}", "application/json")->status, 401);
    }
    EXPECT_TRUE(fake.syncs.empty());
    EXPECT_TRUE(fake.pins.empty());
    EXPECT_TRUE(fake.rollbacks.empty());
  }
}

TEST_F(ServerTest, PinAndResumeAnswerWithTheStack) {
  httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kToken}};
  auto pin = client_->Post("/api/v1/stacks/web/pin", auth, "", "application/json");
  ASSERT_TRUE(pin);
  EXPECT_EQ(pin->status, 200);
  EXPECT_EQ(Json::parse(pin->body), StackJson(FakeController::Web()));
  auto resume = client_->Post("/api/v1/stacks/web/resume", auth, "{}", "application/json");
  EXPECT_EQ(resume->status, 200);
  auto unknown = client_->Post("/api/v1/stacks/db/pin", auth, "", "application/json");
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(Json::parse(unknown->body), (Json{{"error", "stack \"db\" not found"}, {"code", "NOT_FOUND"}}));
  EXPECT_EQ(fake_.pins, (std::vector<std::string>{"pin", "resume"}));
}

TEST_F(ServerTest, RollbackToARecord) {
  httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kToken}};
  auto ok = client_->Post("/api/v1/stacks/web/rollback", auth, R"({"to": 3})", "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 202);
  EXPECT_EQ(Json::parse(ok->body), (Json{{"operation", "op-2"}}));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "request body: to is required"},
      {"{}", "request body: to is required"},
      {R"({"to": 0})", "request body: to must be a history record number (1 or more)"},
      {R"({"to": "3"})", "request body: to must be a history record number (1 or more)"},
      {R"({"to": 3, "force": true})", "request body: unknown field \"force\""},
      {"[3]", "request body: must be a JSON object"}};
  for (const auto& [body, error] : bad) {
    SCOPED_TRACE(body);
    auto res = client_->Post("/api/v1/stacks/web/rollback", auth, body, "application/json");
    EXPECT_EQ(res->status, 400);
    EXPECT_EQ(Json::parse(res->body), (Json{{"error", error}, {"code", "INVALID_ARGUMENT"}}));
  }
  auto missing = client_->Post("/api/v1/stacks/web/rollback", auth, R"({"to": 99})", "application/json");
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(Json::parse(missing->body)["error"], "stack web: no history record 99");
  EXPECT_EQ(fake_.rollbacks, std::vector<int64_t>{3});
}

TEST(ApiJsonTest, DocumentsOfTypedValues) {
  StackView v = FakeController::Web();
  v.out_of_sync = {"service web_app: update"};
  reconciler::StackStatus live;
  live.control.pinned = true;
  v.pinned = true;
  live.control.pinned_by = "deploy";
  live.control.pinned_revision = "def";
  reconciler::ServiceStatusLine svc;
  svc.name = "web_app";
  svc.image = "app:1";
  svc.mode = "replicated";
  svc.health.state = reconciler::HealthState::kConverged;
  live.services.push_back(svc);
  v.live = live;
  reconciler::HistoryRecord r;
  r.seq = 3;
  r.revision = "abc";
  r.result = reconciler::HistoryResult::kSucceeded;
  v.history = std::vector<reconciler::HistoryRecord>{r};
  Json j = StackJson(v);
  EXPECT_EQ(j["name"], "web");
  EXPECT_EQ(j["sync"], "Synced");
  EXPECT_EQ(j["health"], "healthy");
  EXPECT_EQ(j["out_of_sync"], Json::array({"service web_app: update"}));
  EXPECT_EQ(j["revision_summary"], "");
  EXPECT_EQ(j["last_failed_service"], "");
  EXPECT_EQ(j["failed_revision"], "");
  EXPECT_FALSE(j.contains("operations"));
  EXPECT_EQ(j["pinned"], true);
  EXPECT_EQ(j["pinned_by"], "deploy");
  EXPECT_EQ(j["pinned_revision"], "def");
  Json line = reconciler::ServiceStatusJson(svc);
  line["signature"] = {{"verdict", "unknown"}, {"detail", "not deployed by this controller since it started"}};
  EXPECT_EQ(j["services"], Json::array({line}));
  EXPECT_FALSE(j.contains("live_error"));
  ASSERT_EQ(j["history"].size(), 1u);
  EXPECT_EQ(j["history"][0]["seq"], 3);
  EXPECT_FALSE(j["history"][0].contains("spec"));
  // A stack listed (not read with GetStack) has no live part.
  EXPECT_FALSE(StackJson(FakeController::Web()).contains("services"));
  // The commit, the failing service and the operations not finished.
  v.repository_url = "https://github.com/acme/infra.git";
  v.revision_summary = "web: <script>alert(1)</script>";
  v.revision_author = "Ann <ann@example.com>";
  v.revision_time = "2026-11-22T10:00:00Z";
  v.last_failed_service = "web_app";
  v.failed_revision = "bad1234";
  Operation running;
  running.id = "op-9";
  running.stack = "web";
  running.state = OperationState::kRunning;
  running.created_at = "t9";
  v.operations = {running};
  j = StackJson(v);
  EXPECT_EQ(j["repository_url"], "https://github.com/acme/infra.git");
  EXPECT_EQ(j["revision_summary"], "web: <script>alert(1)</script>");
  EXPECT_EQ(j["revision_author"], "Ann <ann@example.com>");
  EXPECT_EQ(j["revision_time"], "2026-11-22T10:00:00Z");
  EXPECT_EQ(j["last_failed_service"], "web_app");
  EXPECT_EQ(j["failed_revision"], "bad1234");
  EXPECT_FALSE(j.contains("rollout"));  // none runs
  v.rollout = reconciler::WaveProgress{1, 2, {"web_db"}, 0};
  EXPECT_EQ(StackJson(v)["rollout"],
            (Json{{"wave", 1}, {"waves", 2}, {"services", {"web_db"}}, {"converged", 0}, {"total", 1}}));
  EXPECT_EQ(j["operations"], Json::array({OperationJson(running)}));

  Operation op;
  op.id = "op-2";
  op.stack = "web";
  op.revision = "abc";
  op.state = OperationState::kPending;
  op.created_at = "t0";
  EXPECT_EQ(OperationJson(op), (Json{{"id", "op-2"}, {"stack", "web"}, {"revision", "abc"},
                                     {"state", "pending"}, {"created_at", "t0"}}));
  op.state = OperationState::kSucceeded;
  op.finished_at = "t1";
  op.report = OperationReport{reconciler::ReconcileResult::kSucceeded, "2 services updated", 4, {"service web_app: update"},
                              {"network web_old"}};
  EXPECT_EQ(OperationJson(op), (Json{{"id", "op-2"}, {"stack", "web"}, {"revision", "abc"},
                                     {"state", "succeeded"}, {"created_at", "t0"}, {"finished_at", "t1"},
                                     {"result", "succeeded"}, {"message", "2 services updated"},
                                     {"history_seq", 4}, {"changes", {"service web_app: update"}},
                                     {"still_removing", {"network web_old"}}}));
}

// Each service's image verdict as the dashboard shows it, and the wave
// progress of an operation.
TEST(ApiJsonTest, SignatureVerdictsAndRolloutProgress) {
  StackView v = FakeController::Web();
  reconciler::StackStatus live;
  const std::string digest = "sha256:" + std::string(64, '1');
  for (const char* name : {"web_app", "web_db", "web_cache", "web_moved", "web_new"}) {
    reconciler::ServiceStatusLine svc;
    svc.name = name;
    svc.image = "127.0.0.1:5000/app:1@" + digest;
    live.services.push_back(svc);
  }
  live.services[2].image = "cache:1";  // unpinned
  v.live = live;
  using reconciler::ImageVerdict;
  using reconciler::VerdictKind;
  v.image_verdicts = {
      {"web_app", {VerdictKind::kVerified, "127.0.0.1:5000/app:1", digest, "cosign key release.pub", true}},
      {"web_db", {VerdictKind::kNotChecked, "127.0.0.1:5000/app:1", digest, "trust policy off", true}},
      {"web_cache", {VerdictKind::kWarned, "cache:1", "", "could not be verified or pinned: manifest unknown", true}},
      {"web_moved", {VerdictKind::kVerified, "127.0.0.1:5000/app:1", "sha256:" + std::string(64, '2'), "targets", true}}};
  Json j = StackJson(v);
  ASSERT_EQ(j["services"].size(), 5u);
  EXPECT_EQ(j["services"][0]["signature"], (Json{{"verdict", "verified"}, {"detail", "cosign key release.pub"},
                                                 {"image", "127.0.0.1:5000/app:1"}, {"digest", digest}}));
  EXPECT_EQ(j["services"][1]["signature"]["verdict"], "not-checked");
  EXPECT_EQ(j["services"][1]["signature"]["detail"], "trust policy off");
  EXPECT_EQ(j["services"][2]["signature"],
            (Json{{"verdict", "warned"}, {"detail", "could not be verified or pinned: manifest unknown"},
                  {"image", "cache:1"}, {"digest", ""}}));
  // Runs another digest than the one verified: no verdict is claimed.
  EXPECT_EQ(j["services"][3]["signature"],
            (Json{{"verdict", "unknown"},
                  {"detail", "the service no longer runs the digest this controller deployed (sha256:" +
                                 std::string(64, '2') + ")"}}));
  EXPECT_EQ(j["services"][4]["signature"]["verdict"], "unknown");
  // Text goes out as data; the page escapes it.
  v.image_verdicts["web_app"].detail = "cosign key <b>k</b>.pub";
  EXPECT_EQ(StackJson(v)["services"][0]["signature"]["detail"], "cosign key <b>k</b>.pub");

  Operation op;
  op.id = "op-3";
  op.stack = "web";
  op.state = OperationState::kRunning;
  op.created_at = "t0";
  op.progress = reconciler::WaveProgress{2, 3, {"web_app", "web_db"}, 1};
  EXPECT_EQ(OperationJson(op), (Json{{"id", "op-3"}, {"stack", "web"}, {"revision", ""}, {"state", "running"},
                                     {"created_at", "t0"},
                                     {"progress", {{"wave", 2}, {"waves", 3}, {"services", {"web_app", "web_db"}},
                                                   {"converged", 1}, {"total", 2}}}}));
  v.operations = {op};
  EXPECT_EQ(StackJson(v)["operations"][0]["progress"]["wave"], 2);
  // The list carries the pin too (the same `sync` as the stack's page).
  v.pinned = true;
  v.sync = reconciler::SyncState::kPinned;
  EXPECT_EQ(StackJson(v)["pinned"], true);
  EXPECT_EQ(StackJson(v)["sync"], "Pinned");
}

}  // namespace
}  // namespace stackctl::server
