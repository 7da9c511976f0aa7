#include "server/server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <thread>
#include <filesystem>
#include <mutex>

#include "common/crypto.h"

namespace stackctl::server {
namespace {

// A controller that records calls and serves canned documents.
class FakeController : public ControllerApi {
 public:
  bool Ready() override { return ready; }
  std::string NotReadyReason() override { return not_ready_reason; }
  void OnPush(const std::string& repository, const std::string& commit) override {
    std::lock_guard<std::mutex> lock(mu);
    pushes.push_back(repository + "@" + commit);
  }
  Result<std::string> Sync(const std::string& stack,
                           const std::optional<std::string>& revision) override {
    if (stack != "web") return NotFound("stack \"" + stack + "\" not found");
    std::lock_guard<std::mutex> lock(mu);
    syncs.push_back(stack + "@" + revision.value_or("(default)"));
    return std::string("op-1");
  }
  Result<Json> WaitOperation(const std::string& id, std::chrono::milliseconds timeout) override {
    waited_ms = timeout.count();
    if (id != "op-1") return NotFound("operation " + id + " not found");
    return op;
  }
  Json ListStacks() override { return Json{{"stacks", Json::array({Json{{"name", "web"}}})}}; }
  Result<Json> GetStack(const std::string& name) override {
    if (name != "web") return NotFound("stack \"" + name + "\" not found");
    return Json{{"name", "web"}, {"revision", "abc"}};
  }
  Result<Json> GetHistory(const std::string& name) override {
    if (name != "web") return NotFound("stack \"" + name + "\" not found");
    return Json{{"stack", "web"}, {"history", Json::array()}};
  }
  Result<Json> GetOperation(const std::string& id) override {
    if (id != "op-1") return NotFound("operation " + id + " not found");
    return op;
  }

  std::mutex mu;
  bool ready = true;
  std::string not_ready_reason;
  std::vector<std::string> pushes, syncs;
  long waited_ms = 0;
  Json op = Json{{"id", "op-1"}, {"stack", "web"}, {"state", "succeeded"}};
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
    o.repositories = {{"infra", "https://github.com/acme/infra", gitsource::RefKind::kBranch, "main"},
                      {"rel", "git@github.com:acme/infra.git", gitsource::RefKind::kTag, "v1"},
                      {"pinned", "https://github.com/acme/infra.git", gitsource::RefKind::kCommit,
                       std::string(40, 'a')}};
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
  EXPECT_EQ(fake_.pushes, (std::vector<std::string>{"infra@1111111111111111111111111111111111111111"}));
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
  EXPECT_EQ(fake_.pushes, (std::vector<std::string>{"infra@1111111111111111111111111111111111111111"}));
}

TEST_F(ServerTest, TagPushMatchesTagRepository) {
  std::string body = GitHubPush("refs/tags/v1", "https://github.com/acme/infra.git");
  auto res = Hook("github", body,
                  {{"X-GitHub-Event", "push"},
                   {"X-Hub-Signature-256", "sha256=" + Sign("gh-secret", body)}});
  EXPECT_EQ(res->status, 202);
  EXPECT_EQ(fake_.pushes, (std::vector<std::string>{"rel@1111111111111111111111111111111111111111"}));
}

TEST_F(ServerTest, OtherBranchAndOtherRepositoryAreIgnored) {
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
  EXPECT_TRUE(fake_.pushes.empty());
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
  EXPECT_EQ(fake_.pushes, (std::vector<std::string>{"infra@c1", "infra@c2", "infra@c3"}));
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
  EXPECT_EQ(Json::parse(list->body), fake_.ListStacks());
  EXPECT_EQ(Json::parse(client_->Get("/api/v1/stacks/web", auth)->body),
            (Json{{"name", "web"}, {"revision", "abc"}}));
  auto missing = client_->Get("/api/v1/stacks/nope", auth);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(Json::parse(missing->body),
            (Json{{"error", "stack \"nope\" not found"}, {"code", "NOT_FOUND"}}));
  EXPECT_EQ(client_->Get("/api/v1/stacks/web/history", auth)->status, 200);
  EXPECT_EQ(client_->Get("/api/v1/operations/op-1", auth)->status, 200);
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
  EXPECT_EQ(Json::parse(ok->body), fake_.op);
  EXPECT_EQ(fake_.waited_ms, 90000);

  fake_.op = Json{{"id", "op-1"},
                  {"state", "failed"},
                  {"error", {{"code", "FAILED_PRECONDITION"}, {"message", "bad compose"}}}};
  auto failed = client_->Post("/api/v1/stacks/web/sync?wait=true", auth, "", "application/json");
  EXPECT_EQ(failed->status, 422);
  EXPECT_EQ(Json::parse(failed->body), fake_.op);
  EXPECT_EQ(fake_.waited_ms, 600000);

  fake_.op = Json{{"id", "op-1"}, {"state", "running"}};
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
    Result<Json> WaitOperation(const std::string& id, std::chrono::milliseconds) override {
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
  o.repositories = {{"infra", "https://github.com/acme/infra", gitsource::RefKind::kBranch, "main"}};
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
  EXPECT_EQ(fake.pushes, (std::vector<std::string>{"infra@c9"}));
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

TEST(ServerOptionsTest, FromConfig) {
  char tmpl[] = "/tmp/server_options.XXXXXX";
  std::string dir = mkdtemp(tmpl);
  FILE* f = fopen((dir + "/token").c_str(), "w");
  fputs("tok\n", f);
  fclose(f);
  f = fopen((dir + "/gh").c_str(), "w");
  fputs("ghs", f);
  fclose(f);
  Config c;
  c.http.listen = "0.0.0.0:8080";
  c.http.api_token_file = dir + "/token";
  c.webhooks.github_secret_file = dir + "/gh";
  RepositoryConfig r;
  r.remote = {"infra", "https://x/y.git", gitsource::RefKind::kBranch, "main", {}};
  c.repositories.push_back(r);
  auto o = OptionsFromConfig(c);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->host, "0.0.0.0");
  EXPECT_EQ(o->port, 8080);
  EXPECT_EQ(o->api_token, "tok");
  EXPECT_EQ(o->webhook_secrets, (std::map<std::string, std::string>{{"github", "ghs"}}));
  ASSERT_EQ(o->repositories.size(), 1u);
  EXPECT_EQ(o->repositories[0].url, "https://x/y.git");
  c.webhooks.gitlab_secret_file = dir + "/missing";
  EXPECT_EQ(OptionsFromConfig(c).status(),
            FailedPrecondition(dir + "/missing: cannot read secret file"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace stackctl::server
