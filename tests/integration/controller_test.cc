// stackctld end to end: a real Git repository (file://, and ssh:// through
// sshd on loopback), the real stackctld binary against the test-bed swarm,
// its webhooks, CI API and metrics.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "integration/testbed.h"

namespace stackctl::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Json = nlohmann::json;

class ControllerE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTBED(tb_);
    dir_ = fs::temp_directory_path() / ("stackctld-it-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "repo" / "app");
    port_ = FreeLoopbackPort();
    stack_ = "ctl" + std::to_string(getpid() % 100000);
    Write("api-token", "s3cr3t-token");
    Write("hook-secret", "hook-key");
    WriteRepo();
    Git("init -q -b main && git add -A && git commit -qm initial");
    Write("stackctld.yml",
          "engine: {host: \"" + tb_.docker_host + "\"}\n"
          "state_dir: " + (dir_ / "state").string() + "\n"
          "log: {level: info}\n"
          "http: {listen: \"127.0.0.1:" + std::to_string(port_) + "\", api_token_file: api-token}\n"
          "webhooks: {generic: {secret_file: hook-secret}}\n"
          "repositories:\n"
          "  - {name: repo, url: \"file://" + (dir_ / "repo").string() + "\", branch: main, poll_interval: " +
              poll_interval_ + "}\n"
          "defaults: {self_heal: true, timeout: 2m, rollout: {parallelism: 0}}\n"
          "stacks:\n"
          "  - {name: " + stack_ + ", repository: repo, path: app" + stack_options_ + "}\n");
    ctl_ = std::make_unique<Stackctld>(tb_, dir_.string(), port_, "s3cr3t-token");
    ASSERT_TRUE(ctl_->Start()) << ctl_->Log();
  }
  void TearDown() override {
    if (tb_.docker_host.empty()) return;
    ctl_.reset();
    std::string out;
    RunCommand("DOCKER_HOST=" + tb_.docker_host + " " + tb_.bin_dir + "/stackctl rm " + stack_, &out);
    fs::remove_all(dir_);
  }
  // The repository's first commit (a fixture may write another).
  virtual void WriteRepo() { WriteApp("1"); }
  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories((dir_ / rel).parent_path());
    std::ofstream(dir_ / rel) << text;
  }
  void WriteApp(const std::string& level, const std::string& extra = "") {
    Write("repo/app/docker-compose.yml",
          "version: \"3.8\"\nservices:\n  web:\n    image: " + tb_.image +
              "\n    command: [\"sleep\", \"3600\"]\n    environment:\n      LEVEL: \"" + level + "\"\n" + extra);
  }
  std::string Git(const std::string& cmd) { return GitInRepo((dir_ / "repo").string(), cmd); }
  std::pair<int, std::string> Curl(const std::string& method, const std::string& path, const std::string& body,
                                   const std::string& headers) {
    return ctl_->Http(method, path, body, headers);
  }
  std::string Auth() { return "-H 'Authorization: Bearer s3cr3t-token'"; }
  Json Stack() { return ctl_->Stack(stack_); }
  std::string Env() {
    return tb_.Docker("service inspect " + stack_ + "_web --format '{{json .Spec.TaskTemplate.ContainerSpec.Env}}'");
  }
  std::string Log() { return ctl_->Log(); }

  Testbed tb_;
  fs::path dir_;
  int port_ = 0;
  std::string stack_;
  std::string poll_interval_ = "1h";
  std::string stack_options_;  // more keys of the stack's entry, ", key: value"
  std::unique_ptr<Stackctld> ctl_;
};

TEST_F(ControllerE2E, GitPushWebhookApiDriftRestartAndMetrics) {
  std::string head = Git("rev-parse HEAD >/dev/null");
  ASSERT_TRUE(WaitFor([&] { return Stack().value("sync", "") == "Synced"; }, 60)) << Stack().dump() << Log();
  // stackctld re-executed itself (same pid) so that gnutls saw GNUTLS_NO_IMPLICIT_INIT at load.
  std::string environ = ReadFile("/proc/" + std::to_string(ctl_->pid()) + "/environ");
  EXPECT_THAT(environ, HasSubstr(std::string("GNUTLS_NO_IMPLICIT_INIT=1\0", 26)));
  EXPECT_EQ(Stack()["revision"], head);
  EXPECT_THAT(Env(), HasSubstr("LEVEL=1"));

  // A forged webhook: 401, nothing happens.
  WriteApp("2");
  std::string c2 = Git("commit -qam two");
  std::string push = R"({"ref":"refs/heads/main","commit":")" + c2 + R"(","repository":"file://)" +
                     (dir_ / "repo").string() + R"("})";
  auto forged = Curl("POST", "/hooks/generic", push, "-H 'X-Signature: sha256=" + HmacSha256Hex("wrong", push) + "'");
  EXPECT_EQ(forged.first, 401);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(Stack()["revision"], head);

  // A valid webhook: the new commit is deployed.
  auto t0 = std::chrono::steady_clock::now();
  auto ok = Curl("POST", "/hooks/generic", push, "-H 'X-Signature: sha256=" + HmacSha256Hex("hook-key", push) + "'");
  EXPECT_EQ(ok.first, 202) << ok.second;
  ASSERT_TRUE(WaitFor([&] { return Stack().value("revision", "") == c2 && Stack().value("sync", "") == "Synced"; }, 60))
      << Stack().dump();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  EXPECT_THAT(Env(), HasSubstr("LEVEL=2"));

  // A bad compose file: nothing changes, the status names the path; sync?wait=true reports it.
  WriteApp("3", "    replicas: 2\n");
  std::string bad = Git("commit -qam bad");
  auto sync = Curl("POST", "/api/v1/stacks/" + stack_ + "/sync?wait=true", "{}", Auth());
  EXPECT_GE(sync.first, 400) << sync.second;
  Json s = Stack();
  EXPECT_EQ(s["sync"], "Failed");
  EXPECT_THAT(s["last_error"].get<std::string>(), HasSubstr("services.web: additional property replicas is not allowed"));
  EXPECT_THAT(Env(), HasSubstr("LEVEL=2"));

  // Fix it; sync?wait=true returns the rollout result.
  WriteApp("4");
  std::string good = Git("commit -qam fixed");
  sync = Curl("POST", "/api/v1/stacks/" + stack_ + "/sync?wait=true", "{}", Auth());
  EXPECT_EQ(sync.first, 200) << sync.second;
  EXPECT_EQ(Json::parse(sync.second)["state"], "succeeded") << sync.second;
  EXPECT_EQ(Json::parse(sync.second)["revision"], good);
  EXPECT_THAT(Env(), HasSubstr("LEVEL=4"));
  EXPECT_EQ(Curl("POST", "/api/v1/stacks/" + stack_ + "/sync", "{}", "").first, 401);

  // Drift: a manual change is reverted (self_heal), seen through the event stream.
  tb_.Docker("service update --detach --env-add LEVEL=manual " + stack_ + "_web");
  EXPECT_TRUE(WaitFor([&] { return Env().find("LEVEL=4") != std::string::npos &&
                                   Env().find("LEVEL=manual") == std::string::npos; }, 60)) << Env();

  // Killed and restarted: picks up where it was, nothing duplicated.
  ctl_->Stop(SIGKILL);
  ASSERT_TRUE(ctl_->Start()) << Log();
  ASSERT_TRUE(WaitFor([&] { return Stack().value("sync", "") == "Synced"; }, 60)) << Stack().dump();
  EXPECT_EQ(Stack()["revision"], good);
  std::string services = tb_.Docker("service ls --filter label=com.docker.stack.namespace=" + stack_ + " -q");
  EXPECT_EQ(std::count(services.begin(), services.end(), '\n'), 1) << services;

  // Metrics pass promtool.
  auto metrics = Curl("GET", "/metrics", "", "");
  EXPECT_EQ(metrics.first, 200);
  EXPECT_THAT(metrics.second, HasSubstr("stackctl_reconcile_total{stack=\"" + stack_ + "\""));
  Write("metrics.txt", metrics.second);
  std::string out;
  EXPECT_EQ(RunCommand("promtool check metrics < " + (dir_ / "metrics.txt").string(), &out), 0) << out;
}

// `stackctl --server URL` against the real stackctld: status, history and
// sync go through the CI API; errors are the server's, exit codes non-zero.
TEST_F(ControllerE2E, StackctlServerStatusHistoryAndSync) {
  std::string head = Git("rev-parse HEAD >/dev/null");
  ASSERT_TRUE(WaitFor([&] { return Stack().value("sync", "") == "Synced"; }, 60)) << Stack().dump() << Log();
  // stackctld re-executed itself (same pid) so that gnutls saw GNUTLS_NO_IMPLICIT_INIT at load.
  std::string environ = ReadFile("/proc/" + std::to_string(ctl_->pid()) + "/environ");
  EXPECT_THAT(environ, HasSubstr(std::string("GNUTLS_NO_IMPLICIT_INIT=1\0", 26)));
  const std::string url = "http://127.0.0.1:" + std::to_string(port_);
  const std::string cli = "cd " + dir_.string() + " && " + tb_.bin_dir + "/stackctl ";
  const std::string server = "--server " + url + " --token-file api-token ";
  std::string out;

  ASSERT_EQ(RunCommand(cli + server + "status " + stack_, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("Stack:     " + stack_ + "\n"));
  EXPECT_THAT(out, HasSubstr("Revision:  " + head + " (succeeded at "));
  EXPECT_THAT(out, HasSubstr("Sync:      Synced\n"));
  EXPECT_THAT(out, HasSubstr("Pinned:    no\n"));
  EXPECT_THAT(out, HasSubstr("Health:    healthy\n"));
  EXPECT_THAT(out, ::testing::ContainsRegex(stack_ + "_web +replicated 1/1 +converged +- +" + tb_.image));

  // The environment instead of flags; no stack: every stack of the controller.
  const std::string env = "STACKCTL_SERVER=" + url + " STACKCTL_TOKEN_FILE=api-token ";
  ASSERT_EQ(RunCommand("cd " + dir_.string() + " && " + env + tb_.bin_dir + "/stackctl status -o json", &out, false), 0)
      << out;
  Json list = Json::parse(out);
  ASSERT_EQ(list["stacks"].size(), 1u) << out;
  EXPECT_EQ(list["stacks"][0]["name"], stack_);
  EXPECT_EQ(list["stacks"][0]["revision"], head);
  ASSERT_EQ(RunCommand("cd " + dir_.string() + " && " + env + tb_.bin_dir + "/stackctl status", &out), 0) << out;
  EXPECT_THAT(out, ::testing::StartsWith("STACK "));
  EXPECT_THAT(out, ::testing::ContainsRegex("\n" + stack_ + " +repo +" + head.substr(0, 12) + " +Synced +healthy "));

  ASSERT_EQ(RunCommand(cli + server + "history -o json " + stack_, &out, false), 0) << out;
  Json hist = Json::parse(out);
  ASSERT_EQ(hist.size(), 1u) << out;
  EXPECT_EQ(hist[0]["revision"], head);
  EXPECT_EQ(hist[0]["result"], "succeeded");
  EXPECT_EQ(hist[0]["trigger"], "start");
  EXPECT_FALSE(hist[0].contains("spec"));

  // A new commit, synced and waited for.
  WriteApp("2");
  std::string c2 = Git("commit -qam two");
  ASSERT_EQ(RunCommand(cli + server + "sync " + stack_ + " --wait --timeout 2m", &out), 0) << out << Log();
  EXPECT_THAT(out, ::testing::MatchesRegex("stack " + stack_ + ": .* at " + c2.substr(0, 12) +
                                           " \\(history record 2\\)\n"));
  EXPECT_THAT(Env(), HasSubstr("LEVEL=2"));
  ASSERT_EQ(RunCommand(cli + server + "sync " + stack_ + " --wait", &out), 0) << out;
  EXPECT_EQ(out, "stack " + stack_ + ": in sync at " + c2.substr(0, 12) + ", nothing to do\n");
  ASSERT_EQ(RunCommand(cli + server + "history " + stack_, &out), 0) << out;
  EXPECT_THAT(out, ::testing::StartsWith("SEQ  FINISHED              RESULT       TRIGGER   REVISION      MESSAGE\n"));
  EXPECT_THAT(out, ::testing::ContainsRegex("\n2 +[-0-9T:Z]+ +succeeded +api +" + c2.substr(0, 12) + " "));

  // A broken rollout: rolled back, the waited sync exits non-zero with the rollout's error.
  Write("repo/app/docker-compose.yml", "version: \"3.8\"\nservices:\n  web:\n    image: " + tb_.image +
                                           "\n    command: [\"/no/such/binary\"]\n");
  std::string broken = Git("commit -qam broken");
  EXPECT_EQ(RunCommand(cli + server + "sync " + stack_ + " --wait --timeout 3m --revision " + broken, &out), 1)
      << out;
  EXPECT_THAT(out, ::testing::StartsWith("stackctl sync: stack " + stack_ + ": POST " + url + "/api/v1/stacks/" +
                                         stack_ + "/sync?wait=true"));
  EXPECT_THAT(out, HasSubstr("no such file or directory"));
  EXPECT_THAT(Env(), HasSubstr("LEVEL=2"));
  ASSERT_EQ(RunCommand(cli + server + "status -o json " + stack_, &out, false), 0) << out;
  EXPECT_EQ(Json::parse(out)["last_result"], "rolled-back") << out;
  // The swarm runs c2 again: that is the stack's revision; the broken commit is named apart.
  EXPECT_EQ(Json::parse(out)["revision"], c2) << out;
  EXPECT_EQ(Json::parse(out)["failed_revision"], broken) << out;
  ASSERT_EQ(RunCommand(cli + server + "status " + stack_, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("\nFailed:    " + broken + " (not tried again until a new commit)\n"));
  // Over the API: a rolled-back rollout is a terminal failure of the commit,
  // 422 FAILED_PRECONDITION (409 is for conflicts, to be retried).
  auto rolled = Curl("POST", "/api/v1/stacks/" + stack_ + "/sync?wait=true&timeout=3m",
                     R"({"revision":")" + broken + R"("})", Auth());
  EXPECT_EQ(rolled.first, 422) << rolled.second;
  Json op_doc = Json::parse(rolled.second);
  EXPECT_EQ(op_doc["state"], "failed");
  EXPECT_EQ(op_doc["result"], "rolled-back");
  EXPECT_EQ(op_doc["error"]["code"], "FAILED_PRECONDITION");
  EXPECT_EQ(op_doc["error"]["service"], stack_ + "_web");
  EXPECT_THAT(Env(), HasSubstr("LEVEL=2"));

  // Errors: a wrong token, an unknown stack, an unreachable server, sync without a controller.
  Write("wrong-token", "not-the-token\n");
  EXPECT_EQ(RunCommand(cli + "--server " + url + " --token-file wrong-token status " + stack_, &out), 1);
  EXPECT_EQ(out, "stackctl status: " + url + " rejected the API token from wrong-token (GET " + url +
                     "/api/v1/stacks/" + stack_ + ": missing or invalid bearer token)\n");
  EXPECT_EQ(RunCommand(cli + server + "status nosuch", &out), 1);
  EXPECT_EQ(out, "stackctl status: stack nosuch not found (GET " + url +
                     "/api/v1/stacks/nosuch: stack nosuch: not managed by this controller)\n");
  EXPECT_EQ(RunCommand(cli + server + "history nosuch", &out), 1);
  EXPECT_THAT(out, ::testing::StartsWith("stackctl history: stack nosuch not found ("));
  EXPECT_EQ(RunCommand(cli + server + "sync nosuch --wait", &out), 1);
  EXPECT_THAT(out, ::testing::StartsWith("stackctl sync: stack nosuch not found ("));
  EXPECT_EQ(RunCommand(cli + "--server http://127.0.0.1:1 --token-file api-token status " + stack_, &out), 1);
  EXPECT_THAT(out, ::testing::StartsWith("stackctl status: GET http://127.0.0.1:1/api/v1/stacks/" + stack_ + ": "));
  EXPECT_EQ(RunCommand(cli + "sync " + stack_, &out), 1);
  EXPECT_THAT(out, ::testing::StartsWith("stackctl sync: needs a controller: give the URL of a running stackctld "
                                         "with --server URL"));

  // Without --wait: the operation id at once, then the operation finishes.
  ASSERT_EQ(RunCommand(cli + server + "sync " + stack_ + " -o json", &out, false), 0) << out;
  std::string op = Json::parse(out)["operation"];
  EXPECT_FALSE(op.empty());
  EXPECT_TRUE(WaitFor([&] {
    auto r = Curl("GET", "/api/v1/operations/" + op, "", Auth());
    return r.first == 200 && Json::parse(r.second).value("state", "") != "pending" &&
           Json::parse(r.second).value("state", "") != "running";
  }, 120));
}

// A stack that reads files outside its folder: an env_file, an override
// compose file and a secret file. A commit that changes only one of them is
// deployed, after a webhook and after a poll; a commit that changes nothing the
// stack reads deploys nothing.
class ControllerInputsE2E : public ControllerE2E {
 protected:
  ControllerInputsE2E() {
    poll_interval_ = "5s";
    stack_options_ = ", compose_files: [docker-compose.yml, ../common/override.yml], self_heal: false";
  }
  void WriteRepo() override {
    Write("repo/app/docker-compose.yml", "version: \"3.8\"\nservices:\n  web:\n    image: " + tb_.image +
                                             "\n    command: [\"sleep\", \"3600\"]\n"
                                             "    env_file: ../common/common.env\n    secrets: [token]\n"
                                             "secrets:\n  token:\n    file: ../secrets/token.txt\n");
    Write("repo/common/override.yml", "version: \"3.8\"\nservices:\n  web:\n    labels: {tier: \"1\"}\n");
    Write("repo/common/common.env", "LEVEL=1\n");
    Write("repo/secrets/token.txt", "token-1");
    Write("repo/README.md", "one\n");
  }
  void Webhook(const std::string& commit) {
    std::string push = R"({"ref":"refs/heads/main","commit":")" + commit + R"(","repository":"file://)" +
                       (dir_ / "repo").string() + R"("})";
    auto r = Curl("POST", "/hooks/generic", push, "-H 'X-Signature: sha256=" + HmacSha256Hex("hook-key", push) + "'");
    EXPECT_EQ(r.first, 202) << r.second;
  }
  bool SyncedAt(const std::string& commit) {
    return WaitFor([&] { return Stack().value("revision", "") == commit && Stack().value("sync", "") == "Synced"; },
                   60);
  }
  std::string Inspect(const std::string& format) {
    return Trim(tb_.Docker("service inspect " + stack_ + "_web --format '" + format + "'"));
  }
};

TEST_F(ControllerInputsE2E, CommitsToFilesOutsideTheStackFolderAreDeployed) {
  std::string c1 = Git("rev-parse HEAD >/dev/null");
  ASSERT_TRUE(SyncedAt(c1)) << Stack().dump() << Log();
  EXPECT_THAT(Env(), HasSubstr("LEVEL=1"));
  EXPECT_EQ(Inspect("{{index .Spec.TaskTemplate.ContainerSpec.Labels \"tier\"}}"), "1");
  const std::string secret1 = Inspect("{{(index .Spec.TaskTemplate.ContainerSpec.Secrets 0).SecretName}}");

  // The env_file outside app/, announced by webhook.
  Write("repo/common/common.env", "LEVEL=2\n");
  std::string c2 = Git("commit -qam env");
  Webhook(c2);
  ASSERT_TRUE(SyncedAt(c2)) << Stack().dump() << Log();
  EXPECT_THAT(Env(), HasSubstr("LEVEL=2"));

  // The secret file outside app/, found by the 5 s poll (no webhook).
  Write("repo/secrets/token.txt", "token-2");
  std::string c3 = Git("commit -qam secret");
  ASSERT_TRUE(SyncedAt(c3)) << Stack().dump() << Log();
  EXPECT_NE(Inspect("{{(index .Spec.TaskTemplate.ContainerSpec.Secrets 0).SecretName}}"), secret1);

  // The override compose file outside app/, by webhook.
  Write("repo/common/override.yml", "version: \"3.8\"\nservices:\n  web:\n    labels: {tier: \"2\"}\n");
  std::string c4 = Git("commit -qam override");
  Webhook(c4);
  ASSERT_TRUE(SyncedAt(c4)) << Stack().dump() << Log();
  EXPECT_EQ(Inspect("{{index .Spec.TaskTemplate.ContainerSpec.Labels \"tier\"}}"), "2");

  // Files the stack does not read: nothing is deployed (no write, no history
  // record). A later drift check may render the new head and find it in sync.
  const std::string version = Inspect("{{.Version.Index}}");
  const size_t records = Stack()["history"].size();
  Write("repo/README.md", "two\n");
  Write("repo/common/other.env", "X=1\n");
  std::string c5 = Git("add -A && git -c user.name=t -c user.email=t@t commit -qm unrelated");
  Webhook(c5);
  // The webhook has been resolved and a poll interval has passed.
  std::this_thread::sleep_for(std::chrono::seconds(5));
  ASSERT_TRUE(WaitFor([&] { return Stack().value("target_revision", "") == c5; }, 30)) << Stack().dump();
  Json after = Stack();
  EXPECT_EQ(after["sync"], "Synced");
  EXPECT_EQ(after["history"].size(), records) << after.dump();
  EXPECT_EQ(after["history"][0]["revision"], c4) << after.dump();  // newest first
  EXPECT_EQ(Inspect("{{.Version.Index}}"), version);
}

// The same stack with polling off (webhooks only), so only the webhook can
// have deployed: a commit that changes only the env_file outside app/ is
// deployed after its webhook; a commit that changes only files the stack does
// not read deploys nothing, though the webhook was accepted and resolved.
class ControllerWebhookOnlyE2E : public ControllerInputsE2E {
 protected:
  ControllerWebhookOnlyE2E() { poll_interval_ = "0s"; }
};

TEST_F(ControllerWebhookOnlyE2E, WebhookDeploysAnOutsideInputAndNothingForAnUnrelatedFile) {
  std::string c1 = Git("rev-parse HEAD >/dev/null");
  ASSERT_TRUE(SyncedAt(c1)) << Stack().dump() << Log();
  const size_t records = Stack()["history"].size();

  Write("repo/common/common.env", "LEVEL=2\n");
  std::string c2 = Git("commit -qam env");
  Webhook(c2);
  ASSERT_TRUE(SyncedAt(c2)) << Stack().dump() << Log();
  EXPECT_THAT(Env(), HasSubstr("LEVEL=2"));
  Json deployed = Stack();
  ASSERT_EQ(deployed["history"].size(), records + 1) << deployed.dump();
  EXPECT_EQ(deployed["history"][0]["revision"], c2);
  EXPECT_EQ(deployed["history"][0]["trigger"], "webhook");

  const std::string version = Inspect("{{.Version.Index}}");
  Write("repo/README.md", "two\n");
  std::string c3 = Git("commit -qam readme");
  Webhook(c3);
  ASSERT_TRUE(WaitFor([&] { return Stack().value("target_revision", "") == c3; }, 30)) << Stack().dump() << Log();
  // The stacks to reconcile were chosen right after the head moved; a deploy
  // would have started within this time.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  // No deploy: no history record, no service update. (The drift check that
  // follows c2's own rollout events may render the new head and find it in
  // sync; that is a compare, not a deploy.)
  Json after = Stack();
  EXPECT_EQ(after["sync"], "Synced");
  EXPECT_EQ(after["history"].size(), records + 1) << after.dump();
  EXPECT_EQ(Inspect("{{.Version.Index}}"), version);
}

// A stack whose repository is an ssh:// remote (sshd on loopback, started by
// tests/testbed/git-server.sh): key login, host key checked against
// known_hosts; a pushed commit reaches the swarm through the poll.
TEST(ControllerOverSsh, PushedCommitIsDeployedFromAnSshRemote) {
  Testbed tb;
  REQUIRE_TESTBED(tb);
  const fs::path dir = fs::temp_directory_path() / ("stackctld-ssh-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "work" / "app");
  const std::string stack = "ssh" + std::to_string(getpid() % 100000);
  const std::string git_server = STACKCTL_SOURCE_DIR "/tests/testbed/git-server.sh";
  const std::string server_name = "ctl-ssh-" + std::to_string(getpid());
  std::string out;
  auto sh = [&](const std::string& cmd) {
    EXPECT_EQ(RunCommand(cmd, &out), 0) << cmd << ": " << out;
    return Trim(out);
  };
  auto push = [&](const std::string& level) {
    WriteFile((dir / "work" / "app" / "docker-compose.yml").string(),
              "version: \"3.8\"\nservices:\n  web:\n    image: " + tb.image +
                  "\n    command: [\"sleep\", \"3600\"]\n    environment:\n      LEVEL: \"" + level + "\"\n");
    return sh("cd " + (dir / "work").string() + " && git add -A && git -c user.name=t -c user.email=t@t commit -qm " +
              level + " && git push -q origin HEAD:main && git rev-parse HEAD");
  };
  sh("git init -q --bare -b main " + (dir / "repos" / "infra.git").string() + " && git init -q -b main " +
     (dir / "work").string() + " && git -C " + (dir / "work").string() + " remote add origin " +
     (dir / "repos" / "infra.git").string());
  sh("ssh-keygen -q -t ed25519 -N '' -C stackctld -f " + (dir / "deploy-key").string());
  std::string c1 = push("1");
  const std::string base = sh("GIT_SERVER_STATE_DIR=" + (dir / "sshd").string() + " " + git_server + " ssh " +
                              server_name + " " + (dir / "repos").string() + " " + (dir / "deploy-key.pub").string());
  ASSERT_EQ(base.rfind("ssh://", 0), 0u) << base;
  const std::string url = base + "infra.git";

  const int port = FreeLoopbackPort();
  WriteFile((dir / "api-token").string(), "tok\n");
  WriteFile((dir / "stackctld.yml").string(),
            "engine: {host: \"" + tb.docker_host + "\"}\n"
            "state_dir: " + (dir / "state").string() + "\n"
            "http: {listen: \"127.0.0.1:" + std::to_string(port) + "\", api_token_file: api-token}\n"
            "repositories:\n"
            "  - name: infra\n"
            "    url: \"" + url + "\"\n"
            "    poll_interval: 5s\n"
            "    auth: {ssh_private_key_file: deploy-key, known_hosts_file: sshd/known_hosts}\n"
            "defaults: {timeout: 2m, rollout: {parallelism: 0}}\n"
            "stacks:\n"
            "  - {name: " + stack + ", repository: infra, path: app}\n");
  {
    Stackctld ctl(tb, dir.string(), port, "tok");
    ASSERT_TRUE(ctl.Start()) << ctl.Log();
    auto synced_on = [&](const std::string& rev) {
      Json s = ctl.Stack(stack);
      return s.value("revision", "") == rev && s.value("sync", "") == "Synced";
    };
    ASSERT_TRUE(WaitFor([&] { return synced_on(c1); }, 60)) << ctl.Stack(stack).dump() << ctl.Log();
    auto env = [&] {
      return tb.Docker("service inspect " + stack + "_web --format '{{json .Spec.TaskTemplate.ContainerSpec.Env}}'");
    };
    EXPECT_THAT(env(), HasSubstr("LEVEL=1"));

    std::string c2 = push("2");
    ASSERT_TRUE(WaitFor([&] { return synced_on(c2); }, 60)) << ctl.Stack(stack).dump() << ctl.Log();
    EXPECT_THAT(env(), HasSubstr("LEVEL=2"));
    EXPECT_EQ(ctl.Stack(stack).value("repository_error", "?"), "");
    EXPECT_GE(ctl.Metric(R"(stackctl_git_fetch_total{repo="infra",result="success"})"), 2);
    EXPECT_EQ(ctl.Metric(R"(stackctl_git_fetch_total{repo="infra",result="error"})"), -1);
  }
  RunCommand(git_server + " stop " + server_name, &out);
  RunCommand("DOCKER_HOST=" + tb.docker_host + " " + tb.bin_dir + "/stackctl rm " + stack, &out);
  fs::remove_all(dir);
}

// --server https://...: --server-ca is the trust anchor. A static HTTPS
// server (tests/testbed/static-https.py, the bed's server certificate for
// 127.0.0.1) stands in for a TLS proxy in front of stackctld.
TEST(StackctlServerTls, ServerCaIsTheTrustAnchor) {
  Testbed tb;
  REQUIRE_TESTBED(tb);
  fs::path dir = fs::temp_directory_path() / ("stackctl-server-tls-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "root" / "api" / "v1");
  std::ofstream(dir / "root" / "api" / "v1" / "stacks")
      << R"({"stacks": [{"name": "web", "repository": "infra", "revision": "0123456789abcdef0123",)"
      << R"( "sync": "Synced", "health": "healthy", "last_sync_time": "2026-11-22T10:00:00Z", "last_result": "succeeded"}]})";
  std::ofstream(dir / "token") << "t\n";
  const int port = 30000 + getpid() % 10000;
  std::string out;
  ASSERT_EQ(RunCommand("python3 " STACKCTL_SOURCE_DIR "/tests/testbed/static-https.py " + (dir / "root").string() +
                           " 127.0.0.1 " + std::to_string(port) + " " + tb.tls_dir + "/server-cert.pem " + tb.tls_dir +
                           "/server-key.pem > " + (dir / "https.log").string() + " 2>&1 & echo $!",
                       &out),
            0);
  const int pid = std::stoi(out);
  RunCommand("for i in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(port) +
                 ") 2>/dev/null && break; sleep 0.1; done",
             &out);
  const std::string url = "https://127.0.0.1:" + std::to_string(port);
  const std::string cli = tb.bin_dir + "/stackctl --server " + url + " --token-file " + (dir / "token").string() + " ";

  EXPECT_EQ(RunCommand(cli + "--server-ca " + tb.tls_dir + "/ca.pem status", &out), 0) << out;
  EXPECT_THAT(out, ::testing::ContainsRegex("\nweb +infra +0123456789ab +Synced +healthy +2026-11-22T10:00:00Z +succeeded\n"));
  EXPECT_EQ(RunCommand("STACKCTL_SERVER_CA=" + tb.tls_dir + "/ca.pem " + cli + "status -o json", &out, false), 0);
  EXPECT_EQ(Json::parse(out)["stacks"][0]["name"], "web");
  // Another CA, or the system CAs: the certificate is refused.
  EXPECT_EQ(RunCommand(cli + "--server-ca " + tb.tls_dir + "/wrong-ca.pem status", &out), 1);
  EXPECT_THAT(out, ::testing::StartsWith("stackctl status: GET " + url + "/api/v1/stacks: "));
  EXPECT_THAT(out, HasSubstr("certificate"));
  EXPECT_EQ(RunCommand(cli + "status", &out), 1);
  EXPECT_THAT(out, HasSubstr("certificate"));

  kill(pid, SIGTERM);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace stackctl::testing
