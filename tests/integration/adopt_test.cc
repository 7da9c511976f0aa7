// Taking over a stack that `docker stack deploy` made (docs/migrating.md), on
// the test bed's swarm: the docker CLI deploys a stack with two networks and a
// secret, then `stackctl deploy` (and, in the second test, stackctld) deploys
// the same file. The networks keep their IDs, the service without a secret
// keeps its running task, the one whose secret moves to its content-hashed
// name restarts (and the output says so before it happens), and the next
// deploy writes nothing (counted through tests/tools/engine_proxy.py).
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "integration/testbed.h"

namespace stackctl::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

class AdoptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTBED(tb_);
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = tb_.dir + "/adopt-" + std::to_string(getpid()) + "-" + name;
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/repo/app");
    stack_ = "ad" + std::to_string(getpid() % 100000) + std::to_string(counter_++);
    Write("repo/app/token.txt", "t0ken\n");
    Write("repo/app/docker-compose.yml",
          "version: \"3.8\"\n"
          "services:\n"
          "  web:\n"
          "    image: " + tb_.image + "\n"
          "    command: [\"sleep\", \"3600\"]\n"
          "    networks: [front, back]\n"
          "  worker:\n"
          "    image: " + tb_.image + "\n"
          "    command: [\"sleep\", \"3600\"]\n"
          "    networks: [back]\n"
          "    secrets: [token]\n"
          "networks:\n"
          "  front: {}\n"
          "  back: {}\n"
          "secrets:\n"
          "  token:\n"
          "    file: ./token.txt\n");
  }
  void TearDown() override {
    if (tb_.docker_host.empty()) return;
    std::string out;
    RunCommand("DOCKER_HOST=" + tb_.docker_host + " " + tb_.bin_dir + "/stackctl rm " + stack_, &out);
    fs::remove_all(dir_);
  }

  void Write(const std::string& rel, const std::string& text) { WriteFile(dir_ + "/" + rel, text); }
  std::string App() const { return dir_ + "/repo/app"; }
  // `docker stack deploy` as people run it (digests resolved against the
  // bed's registry), then waits for both services to run their task.
  void DockerDeploy() {
    std::string out;
    ASSERT_EQ(RunCommand("cd " + App() + " && " + tb_.docker_cli + " -H " + tb_.docker_host +
                             " stack deploy -c docker-compose.yml " + stack_,
                         &out),
              0)
        << out;
    for (const char* s : {"web", "worker"}) {
      ASSERT_TRUE(WaitFor([&] { return RunningTasks(s).size() == 1; }, 60)) << s;
    }
  }
  // IDs of the service's running tasks, sorted.
  std::vector<std::string> RunningTasks(const std::string& service) {
    std::string out;
    RunCommand(tb_.docker_cli + " -H " + tb_.docker_host +
                   " service ps --no-trunc --filter desired-state=running --format '{{.ID}} {{.CurrentState}}' " +
                   stack_ + "_" + service,
               &out, false);
    std::vector<std::string> ids;
    std::istringstream in(out);
    std::string id, state, rest;
    while (in >> id >> state) {
      std::getline(in, rest);
      if (state == "Running") ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  std::string NetworkId(const std::string& key) {
    return Trim(tb_.Docker("network inspect -f '{{.Id}}' " + stack_ + "_" + key));
  }
  Json ControlLabels() {
    return Json::parse(tb_.Docker("config inspect stackctl-control-" + stack_))[0]["Spec"]["Labels"];
  }
  std::string Stackctl(const std::string& args, const std::string& host = "") {
    return "cd " + App() + " && DOCKER_HOST=" + (host.empty() ? tb_.docker_host : host) + " " + tb_.bin_dir +
           "/stackctl " + args;
  }
  static std::vector<std::string> Writes(const std::vector<EngineProxy::Call>& calls) {
    std::vector<std::string> w;
    for (const auto& c : calls) {
      if (c.write()) w.push_back(c.method + " " + c.target);
    }
    return w;
  }

  Testbed tb_;
  std::string dir_, stack_;
  static inline int counter_ = 0;
};

TEST_F(AdoptTest, StackctlDeployTakesOverADockerDeployedStack) {
  DockerDeploy();
  const std::string front = NetworkId("front"), back = NetworkId("back");
  const auto web_tasks = RunningTasks("web"), worker_tasks = RunningTasks("worker");
  const std::string s = stack_;

  // The diff is the adoption plan: nothing to recreate.
  std::string diff;
  ASSERT_EQ(RunCommand(Stackctl("diff -c docker-compose.yml " + s), &diff, false), 0) << diff;
  EXPECT_THAT(diff, HasSubstr("~ network " + s + "_front (adopt): made outside stackctl; kept as it is (ID " +
                              front.substr(0, 12) + "), owned through the stack's control record\n"));
  EXPECT_THAT(diff, HasSubstr("~ network " + s + "_back (adopt): made outside stackctl; kept as it is (ID " +
                              back.substr(0, 12) + ")"));
  EXPECT_THAT(diff, HasSubstr("~ secret " + s + "_token (adopt): made outside stackctl; relabelled as an older "
                              "version of " + s + "_token-"));
  EXPECT_THAT(diff, HasSubstr("+ secret " + s + "_token-"));
  EXPECT_THAT(diff, HasSubstr("~ service " + s + "_web (adopt): made outside stackctl; labels only, its tasks "
                              "keep running\n    Labels.io.stackctl.managed-by\n"));
  EXPECT_THAT(diff, HasSubstr("~ service " + s + "_worker (adopt): made outside stackctl; its tasks restart: its "
                              "secrets/configs move to their content-hashed names\n"
                              "    Labels.io.stackctl.managed-by\n    TaskTemplate.ContainerSpec.Secrets\n"));
  EXPECT_THAT(diff, Not(HasSubstr("recreate")));
  std::string json;
  ASSERT_EQ(RunCommand(Stackctl("diff -o json -c docker-compose.yml " + s), &json, false), 0) << json;
  int adopt = 0, restarts = 0;
  const Json parsed = Json::parse(json);
  for (const auto& c : parsed["changes"]) {
    adopt += c["action"] == "adopt";
    restarts += c["restarts"].get<bool>();
  }
  EXPECT_EQ(adopt, 5);  // 2 networks, the plain-named secret, 2 services
  EXPECT_EQ(restarts, 1);

  // The deploy says which service restarts before it writes anything.
  std::string out;
  ASSERT_EQ(RunCommand(Stackctl("deploy --timeout 90s -c docker-compose.yml " + s), &out), 0) << out;
  auto said = out.find("Services whose tasks restart: " + s + "_worker\n");
  ASSERT_NE(said, std::string::npos) << out;
  EXPECT_LT(said, out.find("Creating secret " + s + "_token-")) << out;
  EXPECT_THAT(out, HasSubstr("rollout complete (history record 1)"));

  EXPECT_EQ(NetworkId("front"), front);
  EXPECT_EQ(NetworkId("back"), back);
  EXPECT_EQ(RunningTasks("web"), web_tasks);
  auto worker_now = RunningTasks("worker");
  ASSERT_EQ(worker_now.size(), 1u);
  EXPECT_NE(worker_now, worker_tasks);
  Json control = ControlLabels();
  EXPECT_EQ(control["io.stackctl.adopted-network." + s + "_front"], front);
  EXPECT_EQ(control["io.stackctl.adopted-network." + s + "_back"], back);
  Json web = Json::parse(tb_.Docker("service inspect " + s + "_web"))[0]["Spec"];
  EXPECT_EQ(web["Labels"]["io.stackctl.managed-by"], "stackctl");
  EXPECT_EQ(web["TaskTemplate"]["ContainerSpec"]["Image"], tb_.image + "@" + tb_.image_digest);

  // The same file again: in sync, not one write.
  EngineProxy proxy(tb_, dir_, "p");
  size_t mark = proxy.Mark();
  ASSERT_EQ(RunCommand(Stackctl("deploy -c docker-compose.yml " + s, proxy.host()), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("in sync, nothing to do"));
  EXPECT_EQ(Writes(proxy.CallsSince(mark)), std::vector<std::string>{});
  ASSERT_EQ(RunCommand(Stackctl("diff --exit-code -c docker-compose.yml " + s), &out), 0) << out;

  // `stackctl rm` removes the adopted networks and the old secret too.
  ASSERT_EQ(RunCommand(Stackctl("rm " + s), &out), 0) << out;
  // (A removed overlay network stays listed on the node until its last task is gone.)
  std::string left;
  EXPECT_TRUE(WaitFor(
      [&] {
        RunCommand(tb_.docker_cli + " -H " + tb_.docker_host +
                       " network ls -q --filter label=com.docker.stack.namespace=" + s + " && " + tb_.docker_cli +
                       " -H " + tb_.docker_host + " secret ls -q --filter label=com.docker.stack.namespace=" + s,
                   &left, false);
        return Trim(left).empty();
      },
      30))
      << left;
}

TEST_F(AdoptTest, StackctldTakesOverADockerDeployedStack) {
  DockerDeploy();
  const std::string front = NetworkId("front"), back = NetworkId("back");
  const auto web_tasks = RunningTasks("web");
  std::string out;
  ASSERT_EQ(RunCommand("cd " + dir_ + "/repo && git init -q -b main && git add -A && "
                       "git -c user.name=t -c user.email=t@t commit -qm initial",
                       &out),
            0)
      << out;
  EngineProxy proxy(tb_, dir_, "ctl");
  const int port = FreeLoopbackPort();
  Write("api-token", "adopt-token");
  Write("stackctld.yml",
        "engine: {host: \"" + proxy.host() + "\"}\n"
        "state_dir: " + dir_ + "/state\n"
        "http: {listen: \"127.0.0.1:" + std::to_string(port) + "\", api_token_file: api-token}\n"
        "repositories:\n"
        "  - {name: repo, url: \"file://" + dir_ + "/repo\", branch: main, poll_interval: 1h}\n"
        "defaults: {timeout: 90s}\n"
        "stacks:\n"
        "  - {name: " + stack_ + ", repository: repo, path: app}\n");
  Stackctld ctl(tb_, dir_, port, "adopt-token");
  ASSERT_TRUE(ctl.Start()) << ctl.Log();
  ASSERT_TRUE(WaitFor([&] { return ctl.Stack(stack_).value("sync", "") == "Synced"; }, 90))
      << ctl.Stack(stack_).dump() << ctl.Log();

  EXPECT_EQ(NetworkId("front"), front);
  EXPECT_EQ(NetworkId("back"), back);
  EXPECT_EQ(RunningTasks("web"), web_tasks);
  EXPECT_EQ(RunningTasks("worker").size(), 1u);
  Json control = ControlLabels();
  EXPECT_EQ(control["io.stackctl.adopted-network." + stack_ + "_front"], front);
  EXPECT_EQ(control["io.stackctl.pinned"], "false");  // an automatic sync pins nothing

  // Another sync of the same commit writes nothing.
  size_t mark = proxy.Mark();
  auto sync = ctl.Api("POST", "/api/v1/stacks/" + stack_ + "/sync?wait=true");
  EXPECT_EQ(sync.first, 200) << sync.second;
  EXPECT_EQ(Writes(proxy.CallsSince(mark)), std::vector<std::string>{}) << sync.second;
  EXPECT_EQ(Json::parse(sync.second).value("state", ""), "succeeded") << sync.second;
  // History starts at the adoption, and the no-op added nothing.
  ASSERT_EQ(RunCommand(Stackctl("history -o json " + stack_), &out, false), 0) << out;
  Json history = Json::parse(out);
  ASSERT_EQ(history.size(), 1u) << out;
  EXPECT_EQ(history[0]["seq"], 1);
  EXPECT_EQ(history[0]["result"], "succeeded");
}

}  // namespace
}  // namespace stackctl::testing
