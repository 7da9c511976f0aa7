// stackctld end to end: a real Git repository (file://), the real stackctld
// binary against the test-bed swarm, its webhooks, CI API and metrics.
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
    WriteApp("1");
    Git("init -q -b main && git add -A && git commit -qm initial");
    Write("stackctld.yml",
          "engine: {host: \"" + tb_.docker_host + "\"}\n"
          "state_dir: " + (dir_ / "state").string() + "\n"
          "log: {level: info}\n"
          "http: {listen: \"127.0.0.1:" + std::to_string(port_) + "\", api_token_file: api-token}\n"
          "webhooks: {generic: {secret_file: hook-secret}}\n"
          "repositories:\n"
          "  - {name: repo, url: \"file://" + (dir_ / "repo").string() + "\", branch: main, poll_interval: 1h}\n"
          "defaults: {self_heal: true, timeout: 2m, rollout: {parallelism: 0}}\n"
          "stacks:\n"
          "  - {name: " + stack_ + ", repository: repo, path: app}\n");
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
  void Write(const std::string& rel, const std::string& text) { std::ofstream(dir_ / rel) << text; }
  void WriteApp(const std::string& level, const std::string& extra = "") {
    Write("repo/app/docker-compose.yml",
          "version: \"3.8\"\nservices:\n  web:\n    image: " + tb_.image +
              "\n    command: [\"sleep\", \"3600\"]\n    environment:\n      LEVEL: \"" + level + "\"\n" + extra);
  }
  std::string Git(const std::string& cmd) {
    std::string out;
    EXPECT_EQ(RunCommand("cd " + (dir_ / "repo").string() + " && git -c user.name=t -c user.email=t@t " + cmd +
                             " && git rev-parse HEAD",
                         &out),
              0)
        << out;
    return out.substr(0, out.find('\n'));
  }
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
  std::unique_ptr<Stackctld> ctl_;
};

TEST_F(ControllerE2E, GitPushWebhookApiDriftRestartAndMetrics) {
  std::string head = Git("rev-parse HEAD >/dev/null");
  ASSERT_TRUE(WaitFor([&] { return Stack().value("sync", "") == "Synced"; }, 60)) << Stack().dump() << Log();
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

}  // namespace
}  // namespace stackctl::testing
