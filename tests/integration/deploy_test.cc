// The reconciler end to end: the real `stackctl` binary against the test-bed
// swarm, the scenarios of docs/reconciler.md. Engine API calls are counted
// through tests/tools/engine_proxy.py.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
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

class DeployTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTBED(tb_);
    dir_ = fs::temp_directory_path() / ("stackctl-deploy-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    stack_ = "it" + std::to_string(getpid() % 100000) + std::to_string(counter_++);
  }
  void TearDown() override {
    if (tb_.docker_host.empty()) return;
    std::string out;
    RunCommand(Stackctl("rm " + stack_), &out);
    proxy_.reset();
    fs::remove_all(dir_);
  }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::string Stackctl(const std::string& args, const std::string& host = "") const {
    return "cd " + dir_.string() + " && DOCKER_HOST=" + (host.empty() ? tb_.docker_host : host) + " " +
           tb_.bin_dir + "/stackctl " + args;
  }
  int Run(const std::string& args, std::string* out, const std::string& host = "") {
    int rc = RunCommand(Stackctl(args, host), out);
    return rc;
  }
  // Starts a counting proxy (testbed EngineProxy) in front of the engine;
  // returns its DOCKER_HOST.
  std::string StartProxy() {
    proxy_.emplace(tb_, dir_.string(), "proxy");
    proxy_mark_ = proxy_->Mark();
    return proxy_->host();
  }
  // The calls since the last ProxyCalls (or StartProxy): "METHOD TARGET".
  std::vector<std::string> ProxyCalls() {
    std::vector<std::string> calls;
    for (const auto& c : proxy_->CallsSince(proxy_mark_)) calls.push_back(c.method + " " + c.target);
    proxy_mark_ = proxy_->Mark();
    return calls;
  }
  static std::vector<std::string> Writes(const std::vector<std::string>& calls) {
    std::vector<std::string> w;
    for (const auto& c : calls) {
      if (c.rfind("GET ", 0) != 0 && c.rfind("HEAD ", 0) != 0) w.push_back(c);
    }
    return w;
  }
  Json Inspect(const std::string& what) { return Json::parse(tb_.Docker("inspect " + what))[0]; }
  std::string Env(const std::string& service) {
    return Inspect(stack_ + "_" + service)["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"].dump();
  }

  Testbed tb_;
  fs::path dir_;
  std::string stack_;
  std::optional<EngineProxy> proxy_;
  size_t proxy_mark_ = 0;
  static inline int counter_ = 0;
};

std::string Compose(const std::string& image, const std::string& web_env, const std::string& extra = "") {
  return "version: \"3.8\"\n"
         "services:\n"
         "  web:\n"
         "    image: " + image + "\n"
         "    command: [\"sleep\", \"3600\"]\n"
         "    environment:\n"
         "      LEVEL: \"" + web_env + "\"\n"
         "    secrets: [token]\n"
         "    configs: [settings]\n"
         "    networks: [back]\n"
         "  worker:\n"
         "    image: " + image + "\n"
         "    command: [\"sleep\", \"3600\"]\n"
         "    depends_on: [web]\n"
         "    networks: [back]\n" + extra +
         "networks:\n"
         "  back: {}\n"
         "secrets:\n"
         "  token:\n"
         "    file: ./token.txt\n"
         "configs:\n"
         "  settings:\n"
         "    file: ./settings.ini\n";
}

TEST_F(DeployTest, FirstDeployThenNoOpThenOneServiceChange) {
  Write("token.txt", "t0ken-value\n");
  Write("settings.ini", "[main]\nx=1\n");
  Write("docker-compose.yml", Compose(tb_.image, "1"));
  std::string host = StartProxy();
  std::string out;
  ASSERT_EQ(Run("deploy -c docker-compose.yml " + stack_, &out, host), 0) << out;
  EXPECT_THAT(out, HasSubstr("rollout complete"));
  auto first = ProxyCalls();
  EXPECT_GE(Writes(first).size(), 5u);  // network, secret, config, 2 services (+ history)
  Json web = Inspect(stack_ + "_web");
  EXPECT_EQ(web["Spec"]["Labels"]["com.docker.stack.namespace"], stack_);
  EXPECT_EQ(web["Spec"]["Labels"]["io.stackctl.managed-by"], "stackctl");
  // Pinned to the registry digest; the tag stays in the stack label.
  EXPECT_EQ(web["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"], tb_.image + "@" + tb_.image_digest);
  EXPECT_EQ(web["Spec"]["Labels"]["com.docker.stack.image"], tb_.image);

  ASSERT_EQ(Run("deploy -c docker-compose.yml " + stack_, &out, host), 0) << out;
  EXPECT_THAT(out, HasSubstr("in sync, nothing to do"));
  auto noop = ProxyCalls();
  EXPECT_EQ(Writes(noop), std::vector<std::string>{});
  EXPECT_LE(noop.size(), 6u) << ::testing::PrintToString(noop);

  Write("docker-compose.yml", Compose(tb_.image, "2"));
  ASSERT_EQ(Run("deploy -c docker-compose.yml " + stack_, &out, host), 0) << out;
  std::vector<std::string> service_writes;
  for (const auto& w : Writes(ProxyCalls())) {
    if (w.find("/services/") != std::string::npos) service_writes.push_back(w);
  }
  ASSERT_EQ(service_writes.size(), 1u) << ::testing::PrintToString(service_writes);
  EXPECT_THAT(service_writes[0], HasSubstr("POST /v1.41/services/" + web["ID"].get<std::string>() + "/update"));
  EXPECT_THAT(Env("web"), HasSubstr("LEVEL=2"));
}

// deploy and diff read the engine while they render: a broken file is still
// reported as such when the engine is down too, and a good file then gets
// the engine's error, as when the two ran one after the other.
TEST_F(DeployTest, RenderErrorComesFirstAndThenTheEngineErrorWhenTheEngineIsDown) {
  const std::string down = "unix://" + (dir_ / "no-engine.sock").string();
  Write("token.txt", "t0ken-value\n");
  Write("settings.ini", "[main]\nx=1\n");
  Write("broken.yml", "version: \"3.8\"\nservices:\n  web:\n    image: [a, b]\n");
  Write("docker-compose.yml", Compose(tb_.image, "1"));
  for (const std::string cmd : {"deploy", "diff"}) {
    SCOPED_TRACE(cmd);
    std::string out;
    EXPECT_EQ(Run(cmd + " -c broken.yml " + stack_, &out, down), 1) << out;
    EXPECT_THAT(out, HasSubstr("stackctl " + cmd + ": "));
    EXPECT_THAT(out, HasSubstr("broken.yml:4:5: services.web.image: must be a string, not list"));
    EXPECT_THAT(out, ::testing::Not(HasSubstr("cannot connect")));
    EXPECT_EQ(Run(cmd + " -c docker-compose.yml " + stack_, &out, down), 1) << out;
    EXPECT_THAT(out, HasSubstr("stackctl " + cmd + ": "));
    EXPECT_THAT(out, HasSubstr("cannot connect to the Docker engine at " + down));
  }
}

TEST_F(DeployTest, BrokenServiceRollsTheStackBackAndExitsNonZero) {
  Write("token.txt", "t0ken\n");
  Write("settings.ini", "x=1\n");
  Write("docker-compose.yml", Compose(tb_.image, "good"));
  std::string out;
  ASSERT_EQ(Run("deploy -c docker-compose.yml " + stack_, &out), 0) << out;
  // web changes fine; worker (second wave) gets a command that does not exist.
  std::string broken = Compose(tb_.image, "changed");
  broken.replace(broken.rfind("command: [\"sleep\", \"3600\"]"), strlen("command: [\"sleep\", \"3600\"]"),
                 "command: [\"/no/such/binary\"]");
  Write("docker-compose.yml", broken);
  int rc = Run("deploy --timeout 60s -c docker-compose.yml " + stack_, &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_THAT(out, HasSubstr("rolled-back"));
  EXPECT_THAT(out, HasSubstr(stack_ + "_worker"));
  EXPECT_THAT(out, HasSubstr("no such file or directory"));
  // Both services are back on the previous revision.
  EXPECT_THAT(Env("web"), HasSubstr("LEVEL=good"));
  EXPECT_EQ(Inspect(stack_ + "_worker")["Spec"]["TaskTemplate"]["ContainerSpec"]["Args"],
            Json::parse(R"(["sleep","3600"])"));
  ASSERT_EQ(Run("history " + stack_, &out), 0);
  EXPECT_THAT(out, HasSubstr("rolled-back"));
  EXPECT_THAT(out, HasSubstr("succeeded"));
}

TEST_F(DeployTest, RollingUpdateHonoursParallelismAndDelay) {
  Write("token.txt", "t\n");
  Write("settings.ini", "x\n");
  std::string extra =
      "  batch:\n"
      "    image: " + tb_.image + "\n"
      "    command: [\"sleep\", \"3600\"]\n"
      "    environment: {V: \"1\"}\n"
      "    deploy:\n"
      "      replicas: 4\n"
      "      update_config: {parallelism: 2, delay: 2s}\n";
  Write("docker-compose.yml", Compose(tb_.image, "1", extra));
  std::string out;
  ASSERT_EQ(Run("deploy -c docker-compose.yml " + stack_, &out), 0) << out;
  std::string changed = Compose(tb_.image, "1", extra);
  changed.replace(changed.find("{V: \"1\"}"), 8, "{V: \"2\"}");
  Write("docker-compose.yml", changed);
  auto start = std::chrono::system_clock::now();
  ASSERT_EQ(Run("deploy -c docker-compose.yml " + stack_, &out), 0) << out;
  auto took = std::chrono::system_clock::now() - start;
  EXPECT_GE(took, std::chrono::seconds(2));
  // New tasks were created in two batches of two, at least 2 s apart.
  std::string ids = tb_.Docker("service ps -q --filter desired-state=running " + stack_ + "_batch");
  Json tasks = Json::parse(tb_.Docker("inspect $(echo " + std::string("'") + ids + "' | tr '\\n' ' ')"));
  ASSERT_EQ(tasks.size(), 4u);
  std::vector<std::string> created;
  for (const auto& t : tasks) created.push_back(t["CreatedAt"]);
  std::sort(created.begin(), created.end());
  auto secs = [](const std::string& ts) {  // "2026-11-22T19:40:01.123456789Z"
    std::tm tm{};
    strptime(ts.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    double frac = ts.size() > 20 ? std::stod("0" + ts.substr(19, ts.find('Z') - 19)) : 0;
    return static_cast<double>(timegm(&tm)) + frac;
  };
  EXPECT_LT(secs(created[1]) - secs(created[0]), 1.5);
  EXPECT_GE(secs(created[2]) - secs(created[1]), 2.0);
}

TEST_F(DeployTest, ChangedSecretRotatesAndOldVersionIsRemoved) {
  Write("token.txt", "first\n");
  Write("settings.ini", "x\n");
  Write("docker-compose.yml", Compose(tb_.image, "1"));
  std::string out;
  ASSERT_EQ(Run("deploy -c docker-compose.yml " + stack_, &out), 0) << out;
  std::string old_name = Inspect(stack_ + "_web")["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretName"];
  EXPECT_THAT(old_name, HasSubstr(stack_ + "_token-"));
  Write("token.txt", "second\n");
  ASSERT_EQ(Run("deploy --secret-retention 0 -c docker-compose.yml " + stack_, &out), 0) << out;
  std::string new_name = Inspect(stack_ + "_web")["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretName"];
  EXPECT_NE(new_name, old_name);
  std::string secrets = tb_.Docker("secret ls --format '{{.Name}}'");
  EXPECT_THAT(secrets, HasSubstr(new_name));
  EXPECT_THAT(secrets, ::testing::Not(HasSubstr(old_name)));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("second")));  // never print a secret value
}

TEST_F(DeployTest, ManualServiceUpdateShowsAsDriftAndPruneSparesForeignObjects) {
  Write("token.txt", "t\n");
  Write("settings.ini", "x\n");
  Write("docker-compose.yml", Compose(tb_.image, "1"));
  std::string out;
  ASSERT_EQ(Run("deploy -c docker-compose.yml " + stack_, &out), 0) << out;
  ASSERT_EQ(Run("diff --exit-code -c docker-compose.yml " + stack_, &out), 0) << out;
  tb_.Docker("service update --detach --env-add MANUAL=1 " + stack_ + "_web");
  EXPECT_EQ(Run("diff --exit-code -c docker-compose.yml " + stack_, &out), 3) << out;
  EXPECT_THAT(out, HasSubstr("service " + stack_ + "_web (update, drift)"));
  EXPECT_THAT(out, HasSubstr("TaskTemplate.ContainerSpec.Env"));

  // A service someone else created in the namespace is not ours to prune.
  tb_.Docker("service create --detach --no-resolve-image --label com.docker.stack.namespace=" + stack_ +
             " --name " + stack_ + "_foreign " + tb_.image + " sleep 3600");
  std::string smaller = Compose(tb_.image, "1");
  smaller.erase(smaller.find("  worker:"), smaller.find("networks:\n  back") - smaller.find("  worker:"));
  Write("docker-compose.yml", smaller);
  ASSERT_EQ(Run("deploy --prune -c docker-compose.yml " + stack_, &out), 0) << out;
  std::string services = tb_.Docker("service ls --format '{{.Name}}'");
  EXPECT_THAT(services, HasSubstr(stack_ + "_foreign"));
  EXPECT_THAT(services, ::testing::Not(HasSubstr(stack_ + "_worker")));
  EXPECT_THAT(Env("web"), ::testing::Not(HasSubstr("MANUAL=1")));  // drift reverted by the deploy
  tb_.Docker("service rm " + stack_ + "_foreign");
}

TEST_F(DeployTest, RollbackRestoresThePreviousDigestsExactly) {
  Write("token.txt", "t\n");
  Write("settings.ini", "x\n");
  Write("docker-compose.yml", Compose(tb_.image, "1"));
  std::string out;
  ASSERT_EQ(Run("deploy -c docker-compose.yml " + stack_, &out), 0) << out;
  std::string first_image = Inspect(stack_ + "_web")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"];
  // Move the tag: a different image pushed under the same name.
  std::string tag = tb_.registry + "/moving-" + stack_ + ":1";
  std::string rc_out;
  ASSERT_EQ(RunCommand("cd " + tb_.dir + "/rootfs && echo " + stack_ + " > etc/marker && tar -c . | " +
                           tb_.docker_cli + " -H " + tb_.docker_host + " import - " + tag + " && " +
                           tb_.docker_cli + " -H " + tb_.docker_host + " push " + tag,
                       &rc_out),
            0)
      << rc_out;
  Write("docker-compose.yml", Compose(tag, "1"));
  ASSERT_EQ(Run("deploy -c docker-compose.yml " + stack_, &out), 0) << out;
  std::string moved = Inspect(stack_ + "_web")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"];
  EXPECT_NE(moved, first_image);
  ASSERT_EQ(Run("rollback " + stack_, &out), 0) << out;
  EXPECT_EQ(Inspect(stack_ + "_web")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"], first_image);
  EXPECT_EQ(Inspect(stack_ + "_worker")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"], first_image);
  ASSERT_EQ(Run("status " + stack_, &out), 0);
  EXPECT_THAT(out, HasSubstr("Pinned:    yes, by rollback"));
}

}  // namespace
}  // namespace stackctl::testing
