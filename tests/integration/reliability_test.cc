// Reliability on the real test bed (issue 23): removals that the engine
// finishes later than it answers, `stackctl rm` against a controller sync of
// the same stack, and an engine event stream that breaks.
//
// - A first deploy in which one service's command does not exist is rolled
//   back; the fixed file deployed at once succeeds (five times in a row). The
//   engine keeps listing a removed network while its tasks are torn down; the
//   rollback waits for that, so the next deploy does not read it as present.
// - `stackctl rm` while stackctld rolls out a new commit of the stack: rm takes
//   the stack lock, so it runs before or after the rollout, never inside it,
//   and the stack is left whole or gone.
// - The controller's connection to the engine is cut (tests/tools/engine_proxy.py,
//   SIGUSR1) and a service is changed by hand while no event stream runs: the
//   next stream resumes from the last event seen (`since`), the engine replays
//   the change, and self_heal reverts it within seconds.
// - With self_heal off, a drift check that fails on an engine error (the
//   proxy answers 503 to the services list) is retried as a drift check, so
//   the manual change is reported and kept, never reverted by the retry.
//
// The four take about two and a half minutes together on two cores.
#include <unistd.h>

#include <chrono>
#include <future>
#include <random>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "integration/testbed.h"

namespace stackctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

class ReliabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTBED(tb_);
    std::random_device rd;
    id_ = std::to_string(getpid() % 10000) + std::to_string(rd() % 1000);
    dir_ = tb_.dir + "/rel" + id_;
    std::string out;
    ASSERT_EQ(RunCommand("mkdir -p " + dir_ + " " + tb_.dir + "/pids", &out), 0) << out;
  }
  void TearDown() override {
    ctl_.reset();
    for (const auto& stack : stacks_) {
      std::string out;
      Stackctl(tb_.docker_host, "rm " + stack, &out);
    }
  }

  // The generated stack (WriteSleepStack) in dir_/NAME; s0 runs
  // `first_command` instead of sleep, and a failing command fails twice
  // quickly (restart delay 1 s).
  std::string WriteCompose(const std::string& name, int services, int gen,
                           const std::string& first_command = "sleep") {
    return WriteSleepStack(dir_ + "/" + name, tb_.image, "token-" + id_,
                           {.services = services,
                            .gen = gen,
                            .first_command = first_command,
                            .extra_deploy = "      restart_policy: {delay: 1s}\n"});
  }

  int Stackctl(const std::string& host, const std::string& args, std::string* out) {
    return RunCommand("DOCKER_HOST=" + host + " " + tb_.bin_dir + "/stackctl " + args, out);
  }
  int Deploy(const std::string& compose, const std::string& stack, std::string* out) {
    return Stackctl(tb_.docker_host, "deploy --resolve-image never --timeout 60s -c " + compose + " " + stack, out);
  }

  // Objects of the stack the engine lists ("service", "network", "secret").
  int Count(const std::string& kind, const std::string& stack) {
    std::istringstream in(tb_.Docker(kind + " ls -q --filter label=com.docker.stack.namespace=" + stack));
    int n = 0;
    std::string id;
    while (in >> id) ++n;
    return n;
  }
  // GEN of every service of the stack, by service name.
  std::map<std::string, std::string> Gens(const std::string& stack) {
    std::map<std::string, std::string> gens;
    std::istringstream in(tb_.Docker("service ls --filter label=com.docker.stack.namespace=" + stack +
                                     " --format '{{.Name}}'"));
    std::string name;
    while (in >> name) {
      Json env = Json::parse(
          tb_.Docker("service inspect " + name + " --format '{{json .Spec.TaskTemplate.ContainerSpec.Env}}'"));
      for (const auto& e : env) {
        std::string s = e.get<std::string>();
        if (s.rfind("GEN=", 0) == 0) gens[name] = s.substr(4);
      }
    }
    return gens;
  }
  std::map<std::string, std::string> AllGen(const std::string& stack, int services, const std::string& gen) {
    std::map<std::string, std::string> m;
    for (int i = 0; i < services; ++i) m[stack + "_s" + std::to_string(i)] = gen;
    return m;
  }

  // A Git repository (dir_/repo.git, worked on in dir_/work) with the stack
  // at app/; Commit writes `services` services of `gen` there and pushes.
  void InitRepo() {
    std::string out;
    ASSERT_EQ(RunCommand("git init -q --bare -b main " + dir_ + "/repo.git && git init -q -b main " + dir_ +
                             "/work && git -C " + dir_ + "/work remote add origin " + dir_ + "/repo.git",
                         &out),
              0)
        << out;
  }
  std::string Commit(int gen, int services) {
    std::string file = WriteCompose("gen" + std::to_string(gen), services, gen);
    std::string out;
    EXPECT_EQ(RunCommand("mkdir -p " + dir_ + "/work/app && cp " + dir_ + "/gen" + std::to_string(gen) +
                             "/* " + dir_ + "/work/app/ && cd " + dir_ +
                             "/work && git add -A && git -c user.name=t -c user.email=t@t commit -qm gen" +
                             std::to_string(gen) + " && git push -q origin HEAD:main && git rev-parse HEAD",
                         &out, false),
              0)
        << out;
    return Trim(out);
  }
  // stackctld watching the repository (polled every hour: tests push webhooks)
  // for `stack`, its Engine API calls through `engine_host`.
  void StartStackctld(const std::string& engine_host, const std::string& stack, bool self_heal) {
    const std::string d = dir_ + "/ctl";
    std::string out;
    RunCommand("mkdir -p " + d, &out);
    WriteFile(d + "/api-token", "api-token-" + id_);
    WriteFile(d + "/hook-secret", kHookKey);
    int port = FreeLoopbackPort();
    const std::string url = "file://" + dir_ + "/repo.git";
    WriteFile(d + "/stackctld.yml",
              "engine: {host: \"" + engine_host + "\"}\n"
              "state_dir: " + d + "/state\n"
              "log: {level: info}\n"
              "http: {listen: \"127.0.0.1:" + std::to_string(port) + "\", api_token_file: api-token}\n"
              "webhooks: {generic: {secret_file: hook-secret}}\n"
              "repositories:\n"
              "  - {name: app, url: \"" + url + "\", branch: main, poll_interval: 1h}\n"
              "defaults: {self_heal: " + (self_heal ? "true" : "false") +
                  ", timeout: 2m, rollout: {parallelism: 1}}\n"
              "stacks:\n"
              "  - {name: " + stack + ", repository: app, path: app}\n");
    ctl_ = std::make_unique<Stackctld>(tb_, d, port, "api-token-" + id_);
    ASSERT_TRUE(ctl_->Start()) << ctl_->Log();
  }
  bool SyncedOn(const std::string& stack, const std::string& commit) {
    Json s = ctl_->Stack(stack);
    return s.is_object() && s.value("sync", "") == "Synced" && s.value("revision", "") == commit;
  }
  std::string PushBody(const std::string& commit) {
    return R"({"ref":"refs/heads/main","commit":")" + commit + R"(","repository":"file://)" + dir_ +
           R"(/repo.git"})";
  }
  double Reconciles(const std::string& stack) {
    double n = 0;
    for (const char* result : {"success", "noop", "error"}) {
      n += std::max(0.0, ctl_->Metric("stackctl_reconcile_total{stack=\"" + stack + "\",result=\"" + result +
                                      "\"}"));
    }
    return n;
  }

  static constexpr char kHookKey[] = "hook-key-reliability";
  Testbed tb_;
  std::string id_, dir_;
  std::vector<std::string> stacks_;  // removed at the end
  std::unique_ptr<Stackctld> ctl_;
};

// Issue 23's first report: `stack rb: rolled-back: service rb_side: create
// service rb_side: network rb_default not found` on the redeploy, 5 of 5 times.
TEST_F(ReliabilityTest, RolledBackFirstDeployThenTheFixedFileDeploysAtOnce) {
  const std::string stack = "rrb" + id_;
  stacks_.push_back(stack);
  const std::string bad = WriteCompose("bad", 2, 1, "no-such-command");
  const std::string good = WriteCompose("good", 2, 1);
  for (int attempt = 1; attempt <= 5; ++attempt) {
    SCOPED_TRACE("attempt " + std::to_string(attempt));
    std::string out;
    ASSERT_EQ(Deploy(bad, stack, &out), 1) << out;
    ASSERT_THAT(out, HasSubstr("stack " + stack + ": rolled-back: service " + stack + "_s0"));
    EXPECT_THAT(out, Not(HasSubstr("still being removed")));
    // The rollback returned once the engine no longer listed what it removed.
    EXPECT_EQ(Count("service", stack), 0);
    EXPECT_EQ(Count("network", stack), 0);
    EXPECT_EQ(Count("secret", stack), 0);

    ASSERT_EQ(Deploy(good, stack, &out), 0) << out;
    EXPECT_THAT(out, HasSubstr("stack " + stack + ": rollout complete"));
    EXPECT_EQ(Gens(stack), AllGen(stack, 2, "1"));
    EXPECT_EQ(Count("network", stack), 1);

    ASSERT_EQ(Stackctl(tb_.docker_host, "rm " + stack, &out), 0) << out;
    EXPECT_THAT(out, Not(HasSubstr("still being removed")));
    EXPECT_EQ(Count("service", stack), 0);
    EXPECT_EQ(Count("network", stack), 0);
    EXPECT_EQ(Count("secret", stack), 0);
  }
}

// `stackctl rm` while stackctld rolls out a new commit of the same stack: rm
// waits for the stack lock, so none of its deletes falls inside the rollout,
// and the stack ends gone, not half there.
TEST_F(ReliabilityTest, RmRacingAControllerSyncLeavesTheWholeStackOrNone) {
  const std::string stack = "rrm" + id_;
  stacks_.push_back(stack);
  InitRepo();
  std::string c1 = Commit(1, 4);
  EngineProxy pc(tb_, dir_, "pc"), prm(tb_, dir_, "prm");
  StartStackctld(pc.host(), stack, /*self_heal=*/false);
  ASSERT_TRUE(WaitFor([&] { return SyncedOn(stack, c1); }, 120)) << ctl_->Stack(stack).dump() << ctl_->Log();
  std::string c2 = Commit(2, 4);

  size_t mc = pc.Mark(), mrm = prm.Mark();
  double reconciles = Reconciles(stack);
  auto hook = ctl_->GenericHook(kHookKey, PushBody(c2));
  ASSERT_EQ(hook.first, 202) << hook.second;
  // The rollout of c2 is under way (one service at a time): rm now.
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& c : pc.CallsSince(mc))
      if (c.method == "POST" && c.target.find("/services/") != std::string::npos &&
          c.target.find("/update") != std::string::npos)
        return true;
    return false;
  }, 60)) << ctl_->Log();
  std::string rm_out;
  int rm_rc = Stackctl(prm.host(), "rm " + stack, &rm_out);
  ASSERT_EQ(rm_rc, 0) << rm_out;
  ASSERT_TRUE(WaitFor([&] { return Reconciles(stack) > reconciles; }, 60)) << ctl_->Log();

  // None of rm's deletes fell inside the controller's rollout.
  std::vector<EngineProxy::Call> sync_writes, rm_deletes;
  for (const auto& c : pc.CallsSince(mc))
    if (c.write() && c.target.find("/configs") == std::string::npos) sync_writes.push_back(c);
  for (const auto& c : prm.CallsSince(mrm))
    if (c.method == "DELETE" && c.target.find("/configs") == std::string::npos) rm_deletes.push_back(c);
  ASSERT_FALSE(sync_writes.empty());
  ASSERT_FALSE(rm_deletes.empty());
  EXPECT_GT(rm_deletes.front().t, sync_writes.back().t)
      << "rm deleted " << rm_deletes.front().target << " while the controller was still writing";
  // rm came last: nothing of the stack is left.
  EXPECT_EQ(Count("service", stack), 0);
  EXPECT_EQ(Count("network", stack), 0);
  EXPECT_EQ(Count("secret", stack), 0);
  EXPECT_EQ(tb_.Docker("config ls -q --filter name=stackctl-lock-" + stack), "");
  // The controller's sync had finished whole before: its record says so.
  Json st = ctl_->Stack(stack);
  EXPECT_EQ(st.value("revision", ""), c2) << st.dump();
}

// The controller's engine connection is cut while its event stream runs, and
// a service is changed by hand before the stream is back: the change is
// reverted within seconds, by the event the engine replays to the resumed
// stream (`since`), not minutes later by the periodic check.
TEST_F(ReliabilityTest, AChangeMadeWhileTheEventStreamIsDownIsRevertedWithinSeconds) {
  const std::string stack = "rev" + id_;
  stacks_.push_back(stack);
  InitRepo();
  std::string c1 = Commit(1, 1);
  EngineProxy pc(tb_, dir_, "pc");
  StartStackctld(pc.host(), stack, /*self_heal=*/true);
  ASSERT_TRUE(WaitFor([&] { return SyncedOn(stack, c1); }, 120)) << ctl_->Stack(stack).dump() << ctl_->Log();
  auto events_streams = [&](size_t mark) {
    std::vector<std::string> targets;
    for (const auto& c : pc.CallsSince(mark))
      if (c.method == "GET" && c.target.find("/events") != std::string::npos) targets.push_back(c.target);
    return targets;
  };
  ASSERT_TRUE(WaitFor([&] { return !events_streams(0).empty(); }, 30));
  // Past the echo window of the first deploy and the check it schedules.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  // Succeeded deploys in the stack's history (the controller's record of a revert).
  auto deploys = [&] {
    auto [status, body] = ctl_->Api("GET", "/api/v1/stacks/" + stack + "/history");
    EXPECT_EQ(status, 200) << body;
    int n = 0;
    Json j = Json::parse(body, nullptr, false);
    if (j.is_object() && j.contains("history"))
      for (const auto& r : j["history"]) n += r.value("result", "") == "succeeded";
    return n;
  };
  const int deploys_before = deploys();

  size_t mark = pc.Mark();
  pc.Cut();
  auto changed = std::chrono::steady_clock::now();
  tb_.Docker("service update --detach --no-resolve-image --env-add GEN=manual " + stack + "_s0");
  ASSERT_EQ(Gens(stack), AllGen(stack, 1, "manual"));
  ASSERT_TRUE(WaitFor([&] { return Gens(stack) == AllGen(stack, 1, "1"); }, 30))
      << "not reverted within 30 s\n" << ctl_->Log();
  auto took = std::chrono::steady_clock::now() - changed;
  EXPECT_LT(took, std::chrono::seconds(15));
  // The stream after the cut resumed from an event time.
  auto resumed = events_streams(mark);
  ASSERT_FALSE(resumed.empty()) << ReadFile(dir_ + "/pc.log");
  EXPECT_THAT(resumed.front(), HasSubstr("since=")) << resumed.front();
  EXPECT_THAT(resumed.front(), Not(HasSubstr("until=")));
  EXPECT_THAT(ReadFile(dir_ + "/pc.log").substr(mark), HasSubstr("CUT "));
  // The controller's deploy that reverted it ends once the service converged.
  EXPECT_TRUE(WaitFor([&] { return deploys() == deploys_before + 1; }, 60))
      << ctl_->Api("GET", "/api/v1/stacks/" + stack + "/history").second << ctl_->Log();
}

// Issue 17: a retry after an engine hiccup kept no trigger and deployed with
// auto_sync on, undoing a `docker service update` that self_heal: false keeps.
TEST_F(ReliabilityTest, AFailedDriftCheckIsRetriedAsADriftCheckAndKeepsTheManualChange) {
  const std::string stack = "keep" + id_;
  stacks_.push_back(stack);
  InitRepo();
  std::string c1 = Commit(1, 1);
  EngineProxy pc(tb_, dir_, "pk");
  StartStackctld(pc.host(), stack, /*self_heal=*/false);
  ASSERT_TRUE(WaitFor([&] { return SyncedOn(stack, c1); }, 120)) << ctl_->Stack(stack).dump() << ctl_->Log();
  auto history_size = [&] {
    auto [status, body] = ctl_->Api("GET", "/api/v1/stacks/" + stack + "/history");
    EXPECT_EQ(status, 200) << body;
    Json j = Json::parse(body, nullptr, false);
    return j.is_object() && j.contains("history") ? j["history"].size() : size_t{0};
  };
  ASSERT_EQ(history_size(), 1u);
  // Past the echo window of the first deploy and the check it schedules.
  std::this_thread::sleep_for(std::chrono::seconds(4));

  // Every services list fails until the faults are cleared; the engine's
  // event of the manual change still reaches the controller.
  size_t mark = pc.Mark();
  pc.SetFaults("GET /services(\\?|$) 503\n");
  tb_.Docker("service update --detach --no-resolve-image --env-add GEN=manual " + stack + "_s0");
  ASSERT_EQ(Gens(stack), AllGen(stack, 1, "manual"));
  auto faulted = [&] {
    int n = 0;
    for (const auto& c : pc.CallsSince(mark)) n += c.method == "GET" && c.target.find("/services") != std::string::npos;
    return n;
  };
  // The drift check and at least one retry (backoff 1 s, 2 s) failed.
  auto field = [&](const char* key) {
    Json j = ctl_->Stack(stack);
    return j.is_object() ? j.value(key, "") : std::string();
  };
  ASSERT_TRUE(WaitFor([&] { return faulted() >= 2 && field("last_result") == "error"; }, 60))
      << ctl_->Stack(stack).dump() << "\n" << ReadFile(dir_ + "/pk.log").substr(mark) << ctl_->Log();
  EXPECT_THAT(ReadFile(dir_ + "/pk.log").substr(mark), HasSubstr("503 injected"));
  pc.SetFaults("");

  // The next retry compares only: the change is reported, not reverted.
  ASSERT_TRUE(WaitFor([&] { return field("sync") == "OutOfSync"; }, 60))
      << ctl_->Stack(stack).dump() << ctl_->Log();
  Json st = ctl_->Stack(stack);
  EXPECT_EQ(st.value("last_result", ""), "out-of-sync") << st.dump();
  EXPECT_THAT(st["out_of_sync"].dump(), HasSubstr("service " + stack + "_s0: update")) << st.dump();
  EXPECT_THAT(st.value("last_error", ""), ::testing::IsEmpty()) << st.dump();
  EXPECT_EQ(Gens(stack), AllGen(stack, 1, "manual"));
  for (const auto& c : pc.CallsSince(mark)) {
    EXPECT_FALSE(c.write() && c.target.find("/services/") != std::string::npos) << c.method << " " << c.target;
  }
  EXPECT_EQ(history_size(), 1u);
  EXPECT_THAT(ctl_->Log(), HasSubstr("(drift)"));
}

}  // namespace
}  // namespace stackctl::testing
