// Fault scenarios for `stackctl deploy` and `stackctld` on the real test bed
// (a swarm-mode dockerd, tests/testbed/): the engine answering errors
// mid-rollout, dockerd stopped and restarted mid-rollout, two deploys of one
// stack at once, a compose file that expands to a huge document, stackctld
// killed mid-rollout, the Git server down, huge or malformed webhooks, a CLI
// deploy racing a controller sync. Every scenario ends with the
// stack on the intended revision (or cleanly on the previous one), no
// duplicate or orphaned objects, the history intact, and the secret value of
// the stack absent from every output and log.
//
// The Engine API calls of each command go through tests/tools/engine_proxy.py
// (its own socket per proxy), which counts them, timestamps them, and injects
// errors. These tests restart the shared dockerd, so they are RUN_SERIAL.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
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

bool IsServiceUpdate(const std::string& method, const std::string& target) {
  return method == "POST" && target.find("/services/") != std::string::npos &&
         target.find("/update") != std::string::npos;
}

class FaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTBED(tb_);
    std::random_device rd;
    id_ = std::to_string(getpid() % 10000) + std::to_string(rd() % 1000);
    dir_ = tb_.dir + "/f" + id_;
    std::string out;
    ASSERT_EQ(RunCommand("mkdir -p " + dir_ + " " + tb_.dir + "/pids", &out), 0);
    secret_ = "s3cr3t-" + std::to_string(rd()) + std::to_string(rd());
  }

  // The generated stack (WriteSleepStack) in `d`, with this test's secret.
  std::string WriteCompose(const std::string& d, int gen, int services) {
    return WriteSleepStack(d, tb_.image, secret_, {.services = services, .gen = gen});
  }
  std::string Compose(int gen, int services) {
    return WriteCompose(dir_ + "/gen" + std::to_string(gen), gen, services);
  }

  // The stack's Git repository for stackctld: a bare dir_/repos/app.git and
  // its clone dir_/work. Commit() writes the compose file of `gen` into app/,
  // commits and pushes; returns the commit id.
  void InitRepo() {
    std::string out;
    ASSERT_EQ(RunCommand("git init -q --bare -b main " + dir_ + "/repos/app.git && git init -q -b main " +
                             dir_ + "/work && git -C " + dir_ + "/work remote add origin " + dir_ +
                             "/repos/app.git",
                         &out),
              0)
        << out;
  }
  std::string Commit(int gen, int services) {
    WriteCompose(dir_ + "/work/app", gen, services);
    std::string out;
    EXPECT_EQ(RunCommand("cd " + dir_ + "/work && git add -A && git -c user.name=t -c user.email=t@t commit -qm gen" +
                             std::to_string(gen) + " && git push -q origin HEAD:main && git rev-parse HEAD",
                         &out, false),
              0)
        << out;
    return Trim(out);
  }

  // Starts stackctld in dir_/ctl (again, when it ran before), watching `url`
  // (branch main, stack `stack` at app/) with its Engine API calls to
  // `engine_host`; webhooks "generic" with kHookKey, bodies up to 4096 bytes.
  void StartStackctld(const std::string& url, const std::string& engine_host,
                      const std::string& stack, const std::string& poll = "1h") {
    const std::string d = dir_ + "/ctl";
    if (!ctl_) {
      std::string out;
      RunCommand("mkdir -p " + d, &out);
      WriteFile(d + "/api-token", "api-token-" + id_);
      WriteFile(d + "/hook-secret", kHookKey);
      port_ = FreeLoopbackPort();
      WriteFile(d + "/stackctld.yml",
                "engine: {host: \"" + engine_host + "\"}\n"
                "state_dir: " + d + "/state\n"
                "log: {level: info}\n"
                "http: {listen: \"127.0.0.1:" + std::to_string(port_) +
                    "\", api_token_file: api-token, max_body_bytes: 4096}\n"
                "webhooks: {generic: {secret_file: hook-secret}}\n"
                "repositories:\n"
                "  - {name: app, url: \"" + url + "\", branch: main, poll_interval: " + poll + "}\n"
                "defaults: {self_heal: true, timeout: 2m, rollout: {parallelism: 1}}\n"
                "stacks:\n"
                "  - {name: " + stack + ", repository: app, path: app}\n");
      ctl_ = std::make_unique<Stackctld>(tb_, d, port_, "api-token-" + id_);
    }
    ASSERT_TRUE(ctl_->Start()) << ctl_->Log();
  }
  // The push webhook body for `commit` of `url` (generic provider).
  static std::string PushBody(const std::string& url, const std::string& commit) {
    return R"({"ref":"refs/heads/main","commit":")" + commit + R"(","repository":")" + url + R"("})";
  }
  // stackctld reports the stack synced on `commit`.
  bool SyncedOn(const std::string& stack, const std::string& commit) {
    Json s = ctl_->Stack(stack);
    return s.is_object() && s.value("sync", "") == "Synced" && s.value("revision", "") == commit;
  }
  // Reconciles stackctld finished for the stack, whatever their result.
  double Reconciles(const std::string& stack) {
    double n = 0;
    for (const char* result : {"success", "noop", "error"}) {
      n += std::max(0.0, ctl_->Metric("stackctl_reconcile_total{stack=\"" + stack + "\",result=\"" +
                                      result + "\"}"));
    }
    return n;
  }
  // Lock configs of the stack (0 or 1).
  int Locks(const std::string& stack) {
    std::istringstream in(tb_.Docker("config ls -q --filter name=stackctl-lock-" + stack));
    int n = 0;
    std::string id;
    while (in >> id) ++n;
    return n;
  }
  // Every service of the stack runs its `replicas` of `replicas`.
  bool AllRunning(const std::string& stack, int services, int replicas = 1) {
    std::string want;
    for (int i = 0; i < services; ++i) want += std::to_string(replicas) + "/" + std::to_string(replicas) + "\n";
    return tb_.Docker("service ls --filter label=com.docker.stack.namespace=" + stack +
                      " --format '{{.Replicas}}'") == want;
  }

  // Runs stackctl with DOCKER_HOST=host; the output is kept for the secret check.
  int Stackctl(const std::string& host, const std::string& args, std::string* out) {
    int rc = RunCommand("DOCKER_HOST=" + host + " " + tb_.bin_dir + "/stackctl " + args, out);
    outputs_ += *out;
    return rc;
  }

  int Deploy(const std::string& host, const std::string& compose, const std::string& stack,
             const std::string& revision, std::string* out, const std::string& flags = "") {
    return Stackctl(host, "deploy --resolve-image never --timeout 90s --revision " + revision +
                              " " + flags + " -c " + compose + " " + stack,
                    out);
  }

  // GEN of every service of the stack, by service name.
  std::map<std::string, std::string> Gens(const std::string& stack) {
    std::map<std::string, std::string> gens;
    std::string names = tb_.Docker("service ls --filter label=com.docker.stack.namespace=" + stack +
                                   " --format '{{.Name}}'");
    std::istringstream in(names);
    std::string name;
    while (in >> name) {
      std::string env = tb_.Docker("service inspect " + name +
                                   " --format '{{json .Spec.TaskTemplate.ContainerSpec.Env}}'");
      Json j = Json::parse(env);
      for (const auto& e : j) {
        std::string s = e.get<std::string>();
        if (s.rfind("GEN=", 0) == 0) gens[name] = s.substr(4);
      }
    }
    return gens;
  }

  std::map<std::string, std::string> AllGen(const std::string& stack, int services,
                                            const std::string& gen) {
    std::map<std::string, std::string> m;
    for (int i = 0; i < services; ++i) m[stack + "_s" + std::to_string(i)] = gen;
    return m;
  }

  int Count(const std::string& kind, const std::string& stack) {
    std::string out = tb_.Docker(kind + " ls -q --filter label=com.docker.stack.namespace=" + stack);
    std::istringstream in(out);
    int n = 0;
    std::string id;
    while (in >> id) ++n;
    return n;
  }

  // The stack's history, oldest first: {seq, revision, result}.
  std::vector<Json> History(const std::string& stack) {
    std::string out;
    int rc = RunCommand("DOCKER_HOST=" + tb_.docker_host + " " + tb_.bin_dir +
                            "/stackctl history -o json " + stack,
                        &out, false);
    EXPECT_EQ(rc, 0) << out;
    outputs_ += out;
    Json j = Json::parse(out, nullptr, false);
    EXPECT_TRUE(j.is_array()) << "stackctl history -o json " << stack << ": " << out;
    std::vector<Json> v;
    if (j.is_array()) v.assign(j.begin(), j.end());
    std::sort(v.begin(), v.end(),
              [](const Json& a, const Json& b) { return a.value("seq", 0) < b.value("seq", 0); });
    return v;
  }

  // Secret objects of the stack: at most the current version plus the one
  // retained for rollback, and no two with the same content.
  void ExpectNoDuplicateSecrets(const std::string& stack) {
    std::string out = tb_.Docker("secret ls --filter label=com.docker.stack.namespace=" + stack +
                                 " --format '{{.Name}}'");
    std::istringstream in(out);
    std::vector<std::string> names;
    std::string n;
    while (in >> n) names.push_back(n);
    EXPECT_EQ(names.size(), 1u) << out;  // one secret, its content never changes
  }

  // No output of any command, and no log of the test bed, contains the secret.
  void ExpectSecretNowhere() {
    EXPECT_THAT(outputs_, Not(HasSubstr(secret_)));
    std::string out;
    // Everything under the bed's logs and this test's dir, except the secret's own source files.
    RunCommand("grep -rlF --exclude=token.txt -- '" + secret_ + "' " + tb_.dir + "/logs " + dir_ +
                   " || true",
               &out, false);
    EXPECT_EQ(Trim(out), "") << "secret value found in these logs";
  }

  void Remove(const std::string& stack) {
    std::string out;
    Stackctl(tb_.docker_host, "rm " + stack, &out);
    WaitFor([&] { return Count("service", stack) == 0 && Count("network", stack) == 0; }, 60);
  }

  void TearDown() override { ctl_.reset(); }

  static constexpr char kHookKey[] = "hook-key-faults";
  Testbed tb_;
  std::string id_, dir_, secret_, outputs_;
  std::unique_ptr<Stackctld> ctl_;
  int port_ = 0;
};

// A compose file whose aliases expand to ~10^9 nodes: a clear error, quickly,
// and nothing is created.
TEST_F(FaultsTest, BillionLaughsIsRejectedAndNothingIsDeployed) {
  std::string stack = "fbl" + id_;
  std::ostringstream y;
  y << "version: \"3.8\"\nx-a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  const char* names = "abcdefghi";
  for (int i = 1; i < 9; ++i) {
    y << "x-" << names[i] << ": &" << names[i] << " [";
    for (int k = 0; k < 9; ++k) y << (k ? ",*" : "*") << names[i - 1];
    y << "]\n";
  }
  y << "services:\n  web:\n    image: " << tb_.image << "\n    command: *i\n";
  std::string file = dir_ + "/laughs.yml";
  WriteFile(file, y.str());
  EngineProxy proxy(tb_, dir_, "p");
  size_t mark = proxy.Mark();
  auto t0 = std::chrono::steady_clock::now();
  std::string out;
  int rc = Deploy(proxy.host(), file, stack, "v1", &out);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(rc, 1) << out;
  EXPECT_THAT(out, HasSubstr("expands to more than"));
  EXPECT_LT(secs, 20.0);
  for (const auto& c : proxy.CallsSince(mark)) EXPECT_FALSE(c.write()) << c.method << " " << c.target;
  EXPECT_EQ(Count("service", stack), 0);
  EXPECT_EQ(Count("network", stack), 0);
  EXPECT_EQ(Count("secret", stack), 0);
  EXPECT_EQ(Count("config", stack), 0);
}

// The engine answers 500 to every update of one service: the deploy fails,
// the services it did update get their previous spec back, and the next
// deploy (engine healthy again) converges on the new revision.
TEST_F(FaultsTest, EngineErrorsMidRolloutRollBackThenRecover) {
  std::string stack = "fer" + id_;
  EngineProxy proxy(tb_, dir_, "p");
  std::string out;
  ASSERT_EQ(Deploy(proxy.host(), Compose(1, 3), stack, "v1", &out), 0) << out;
  EXPECT_EQ(Gens(stack), AllGen(stack, 3, "1"));

  // s0 and s1 come first in the wave order; s2's updates fail.
  std::string id2 = Trim(tb_.Docker("service inspect --format '{{.ID}}' " + stack + "_s2"));
  proxy.SetFaults("POST /services/" + id2 + "/update 500\n");
  size_t mark = proxy.Mark();
  int rc = Deploy(proxy.host(), Compose(2, 3), stack, "v2", &out, "--parallelism 1");
  EXPECT_EQ(rc, 1) << out;
  int injected = 0;
  for (const auto& c : proxy.CallsSince(mark)) injected += c.target.find(id2) != std::string::npos;
  EXPECT_GE(injected, 1);
  EXPECT_EQ(Gens(stack), AllGen(stack, 3, "1")) << out;

  proxy.SetFaults("");
  ASSERT_EQ(Deploy(proxy.host(), Compose(2, 3), stack, "v2", &out), 0) << out;
  EXPECT_EQ(Gens(stack), AllGen(stack, 3, "2"));
  EXPECT_EQ(Count("service", stack), 3);
  EXPECT_EQ(Count("network", stack), 1);
  ExpectNoDuplicateSecrets(stack);
  auto h = History(stack);
  ASSERT_EQ(h.size(), 3u) << Json(h).dump();
  EXPECT_EQ(h[0].value("revision", ""), "v1");
  EXPECT_EQ(h[0].value("result", ""), "succeeded");
  EXPECT_EQ(h[1].value("revision", ""), "v2");
  EXPECT_NE(h[1].value("result", ""), "succeeded");
  EXPECT_EQ(h[2].value("revision", ""), "v2");
  EXPECT_EQ(h[2].value("result", ""), "succeeded");
  ExpectSecretNowhere();
  Remove(stack);
}

// A first deploy whose secret the engine refuses: the stack's network and
// secret are created at once (deployer: prepare step), so the network may
// exist when the refusal comes; it is removed again, no service is written,
// and the next deploy starts from nothing.
TEST_F(FaultsTest, RefusedSecretCreateLeavesNothingOfAFirstDeploy) {
  std::string stack = "fsc" + id_;
  EngineProxy proxy(tb_, dir_, "p");
  proxy.SetFaults("POST /secrets/create 500\n");
  std::string out;
  EXPECT_EQ(Deploy(proxy.host(), Compose(1, 2), stack, "v1", &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("secret " + stack + "_token-")) << out;
  EXPECT_EQ(Count("service", stack), 0);
  EXPECT_EQ(Count("secret", stack), 0);
  WaitFor([&] { return Count("network", stack) == 0; }, 30);
  EXPECT_EQ(Count("network", stack), 0);
  auto h = History(stack);
  ASSERT_EQ(h.size(), 1u) << Json(h).dump();
  EXPECT_EQ(h[0].value("result", ""), "rolled-back");

  proxy.SetFaults("");
  ASSERT_EQ(Deploy(proxy.host(), Compose(1, 2), stack, "v1", &out), 0) << out;
  EXPECT_EQ(Gens(stack), AllGen(stack, 2, "1"));
  EXPECT_EQ(Count("network", stack), 1);
  ExpectNoDuplicateSecrets(stack);
  ExpectSecretNowhere();
  Remove(stack);
}

// Two deploys of the same stack at once: the deploy lock serializes them
// (their writes never interleave) and the stack ends on the revision of the
// one that ran last, complete.
TEST_F(FaultsTest, ConcurrentDeploysSerialize) {
  std::string stack = "fcc" + id_;
  EngineProxy pa(tb_, dir_, "pa"), pb(tb_, dir_, "pb");
  std::string out;
  ASSERT_EQ(Deploy(tb_.docker_host, Compose(1, 4), stack, "v1", &out), 0) << out;
  std::string fa = Compose(2, 4), fb = Compose(3, 4);
  size_t ma = pa.Mark(), mb = pb.Mark();
  std::string oa, ob;
  auto a = std::async(std::launch::async, [&] { return Deploy(pa.host(), fa, stack, "v2", &oa); });
  auto b = std::async(std::launch::async, [&] { return Deploy(pb.host(), fb, stack, "v3", &ob); });
  int ra = a.get(), rb = b.get();
  EXPECT_TRUE(ra == 0 || rb == 0) << "deploy v2 (exit " << ra << "):\n" << oa << "\ndeploy v3 (exit " << rb
                                  << "):\n" << ob;

  // Service, network and secret writes of each deploy form an interval; the
  // lock's own config create/remove calls are excluded.
  auto span = [](const std::vector<EngineProxy::Call>& calls) {
    std::pair<double, double> s{1e18, -1};
    for (const auto& c : calls) {
      if (!c.write() || c.target.find("/configs") != std::string::npos) continue;
      s.first = std::min(s.first, c.t);
      s.second = std::max(s.second, c.t);
    }
    return s;
  };
  auto sa = span(pa.CallsSince(ma)), sb = span(pb.CallsSince(mb));
  if (sa.second >= 0 && sb.second >= 0) {
    EXPECT_TRUE(sa.second < sb.first || sb.second < sa.first)
        << "writes interleave: a [" << sa.first << ", " << sa.second << "], b [" << sb.first
        << ", " << sb.second << "]";
  }
  std::string last;
  if (ra == 0 && rb == 0) {
    last = sa.second > sb.second ? "2" : "3";
  } else {
    last = ra == 0 ? "2" : "3";
  }
  EXPECT_EQ(Gens(stack), AllGen(stack, 4, last));
  EXPECT_EQ(Count("service", stack), 4);
  EXPECT_EQ(Count("network", stack), 1);
  ExpectNoDuplicateSecrets(stack);
  auto h = History(stack);
  ASSERT_GE(h.size(), 2u);
  EXPECT_EQ(h.back().value("result", ""), "succeeded");
  EXPECT_EQ(h.back().value("revision", ""), "v" + last);
  ExpectSecretNowhere();
  Remove(stack);
}

// dockerd is stopped while a rollout waits for a service to converge, and
// started again: the interrupted deploy fails (or finishes), nothing is
// duplicated, and a second deploy converges on the new revision.
TEST_F(FaultsTest, DockerdRestartMidRollout) {
  std::string stack = "fdr" + id_;
  EngineProxy proxy(tb_, dir_, "p");
  std::string out;
  ASSERT_EQ(Deploy(proxy.host(), Compose(1, 3), stack, "v1", &out), 0) << out;

  std::string pid = Trim(ReadFile(tb_.dir + "/docker.pid"));
  ASSERT_FALSE(pid.empty());
  // dockerd's own command line, to start it again the same way.
  std::string cmdline;
  RunCommand("tr '\\0' ' ' </proc/" + pid + "/cmdline", &cmdline, false);
  ASSERT_THAT(cmdline, HasSubstr("dockerd"));

  size_t mark = proxy.Mark();
  std::string od;
  auto deploy = std::async(std::launch::async, [&] {
    return Deploy(proxy.host(), Compose(2, 3), stack, "v2", &od, "--parallelism 1");
  });
  // Stop dockerd as soon as the rollout has written its first service update.
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& c : proxy.CallsSince(mark))
      if (c.method == "POST" && c.target.find("/services/") != std::string::npos) return true;
    return false;
  }, 60));
  ASSERT_EQ(kill(std::stoi(pid), SIGTERM), 0);
  ASSERT_TRUE(WaitFor([&] { return kill(std::stoi(pid), 0) != 0; }, 60));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  RunCommand("setsid " + cmdline + " >>" + tb_.dir + "/logs/dockerd.log 2>&1 </dev/null &", &out,
             false);
  ASSERT_TRUE(WaitFor([&] {
    std::string v;
    return RunCommand(tb_.docker_cli + " -H " + tb_.docker_host + " node ls -q", &v) == 0;
  }, 90));
  ASSERT_EQ(deploy.wait_for(std::chrono::minutes(4)), std::future_status::ready);
  int interrupted = deploy.get();

  ASSERT_EQ(Deploy(proxy.host(), Compose(2, 3), stack, "v2", &out), 0) << od << "\n" << out;
  EXPECT_EQ(Gens(stack), AllGen(stack, 3, "2"));
  EXPECT_EQ(Count("service", stack), 3);
  EXPECT_EQ(Count("network", stack), 1);
  ExpectNoDuplicateSecrets(stack);
  // Every service runs exactly its one replica again.
  EXPECT_TRUE(WaitFor([&] {
    std::string r = tb_.Docker("service ls --filter label=com.docker.stack.namespace=" + stack +
                               " --format '{{.Replicas}}'");
    return r == "1/1\n1/1\n1/1\n";
  }, 120));
  auto h = History(stack);
  ASSERT_GE(h.size(), 2u);
  EXPECT_EQ(h.front().value("revision", ""), "v1");
  EXPECT_EQ(h.back().value("revision", ""), "v2");
  EXPECT_EQ(h.back().value("result", ""), "succeeded");
  // The interrupted deploy either failed or completed; both are fine, but a
  // failure must not have left a record claiming success for v2 before it.
  if (interrupted != 0 && h.size() == 3u) {
    EXPECT_NE(h[1].value("result", ""), "succeeded");
  }
  ExpectSecretNowhere();
  Remove(stack);
}

// stackctld is killed (SIGKILL) while it rolls a new commit out, and started
// again: the deploy lock of the dead process is broken at once (not after its
// TTL), the restarted controller converges on the commit, nothing is
// duplicated, and the history holds exactly the two completed rollouts.
TEST_F(FaultsTest, StackctldKilledMidRolloutConvergesAfterRestart) {
  std::string stack = "fsk" + id_;
  InitRepo();
  std::string c1 = Commit(1, 3);
  EngineProxy proxy(tb_, dir_, "p");
  StartStackctld("file://" + dir_ + "/repos/app.git", proxy.host(), stack);
  ASSERT_TRUE(WaitFor([&] { return SyncedOn(stack, c1); }, 120)) << ctl_->Stack(stack).dump() << ctl_->Log();
  EXPECT_EQ(Gens(stack), AllGen(stack, 3, "1"));

  std::string c2 = Commit(2, 3);
  size_t mark = proxy.Mark();
  auto sync = ctl_->Api("POST", "/api/v1/stacks/" + stack + "/sync");
  ASSERT_EQ(sync.first, 202) << sync.second;
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& c : proxy.CallsSince(mark))
      if (IsServiceUpdate(c.method, c.target)) return true;
    return false;
  }, 60)) << ctl_->Log();
  ctl_->Stop(SIGKILL);
  // Really mid-rollout: the lock is held by the dead process and only part of
  // the services run the new spec (one per wave, each wave >= 1 s).
  EXPECT_EQ(Locks(stack), 1);
  int updated = 0;
  for (const auto& [name, gen] : Gens(stack)) updated += gen == "2";
  EXPECT_GE(updated, 1);
  EXPECT_LT(updated, 3);

  auto t0 = std::chrono::steady_clock::now();
  StartStackctld("file://" + dir_ + "/repos/app.git", proxy.host(), stack);
  ASSERT_TRUE(WaitFor([&] { return SyncedOn(stack, c2); }, 180)) << ctl_->Stack(stack).dump() << ctl_->Log();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(120));
  EXPECT_EQ(Gens(stack), AllGen(stack, 3, "2"));
  EXPECT_EQ(Count("service", stack), 3);
  EXPECT_EQ(Count("network", stack), 1);
  EXPECT_EQ(Locks(stack), 0);
  ExpectNoDuplicateSecrets(stack);
  EXPECT_TRUE(WaitFor([&] { return AllRunning(stack, 3); }, 120));
  auto h = History(stack);
  ASSERT_EQ(h.size(), 2u) << Json(h).dump();
  EXPECT_EQ(h[0].value("revision", ""), c1);
  EXPECT_EQ(h[0].value("result", ""), "succeeded");
  EXPECT_EQ(h[1].value("revision", ""), c2);
  EXPECT_EQ(h[1].value("result", ""), "succeeded");
  outputs_ += ctl_->Log();
  ctl_.reset();
  ExpectSecretNowhere();
  Remove(stack);
}

// The Git server goes down: stackctld keeps the stack on its last good
// commit, names the repository and its URL in the status and counts the
// failures in /metrics; an explicit sync fails with 503 and changes nothing.
// When the server is back (same port), the pending commit is synced.
TEST_F(FaultsTest, GitServerDownKeepsLastGoodRevisionAndRecovers) {
  std::string stack = "fgd" + id_;
  InitRepo();
  std::string c1 = Commit(1, 2);
  const std::string git_server = STACKCTL_SOURCE_DIR "/tests/testbed/git-server.sh";
  const std::string name = "f" + id_;
  const std::string port = std::to_string(FreeLoopbackPort());
  auto start_server = [&] {
    std::string out;
    int rc = RunCommand("GIT_SERVER_PORT=" + port + " GIT_SERVER_STATE_DIR=" + dir_ + "/git-server " + git_server +
                            " daemon " + name + " " + dir_ + "/repos",
                        &out, false);
    EXPECT_EQ(rc, 0) << out;
    return Trim(out);
  };
  std::string base = start_server();
  ASSERT_EQ(base, "git://127.0.0.1:" + port + "/");
  const std::string url = base + "app.git";
  StartStackctld(url, tb_.docker_host, stack, "5s");
  ASSERT_TRUE(WaitFor([&] { return SyncedOn(stack, c1); }, 120)) << ctl_->Stack(stack).dump() << ctl_->Log();
  const std::string errors = R"(stackctl_git_fetch_total{repo="app",result="error"})";
  const std::string successes = R"(stackctl_git_fetch_total{repo="app",result="success"})";
  EXPECT_EQ(ctl_->Metric(errors), -1);

  std::string out;
  ASSERT_EQ(RunCommand(git_server + " stop " + name, &out), 0) << out;
  std::string c2 = Commit(2, 2);  // pushed to the bare repository, not served
  auto hook = ctl_->GenericHook(kHookKey, PushBody(url, c2));
  EXPECT_EQ(hook.first, 202) << hook.second;
  EXPECT_EQ(Json::parse(hook.second, nullptr, false).value("repositories", Json()), Json::array({"app"}));
  ASSERT_TRUE(WaitFor([&] { return !ctl_->Stack(stack).value("repository_error", "").empty(); }, 30));
  Json s = ctl_->Stack(stack);
  EXPECT_EQ(s.value("repository", ""), "app");
  EXPECT_THAT(s.value("repository_error", ""), HasSubstr("git ls-remote " + url + ": "));
  EXPECT_EQ(s.value("revision", ""), c1);
  EXPECT_EQ(s.value("target_revision", ""), c1);
  EXPECT_EQ(s.value("sync", ""), "Synced");
  EXPECT_GE(ctl_->Metric(errors), 1);
  auto sync = ctl_->Api("POST", "/api/v1/stacks/" + stack + "/sync?wait=true");
  EXPECT_EQ(sync.first, 503) << sync.second;
  EXPECT_THAT(sync.second, HasSubstr("git ls-remote " + url + ": "));
  s = ctl_->Stack(stack);
  EXPECT_EQ(s.value("revision", ""), c1);
  EXPECT_THAT(s.value("last_error", ""), HasSubstr(url));
  EXPECT_EQ(Gens(stack), AllGen(stack, 2, "1"));
  EXPECT_EQ(History(stack).size(), 1u);
  EXPECT_EQ(ctl_->Http("GET", "/healthz", "").first, 200);
  double ok_before = ctl_->Metric(successes);

  ASSERT_EQ(start_server(), base);
  ASSERT_TRUE(WaitFor([&] { return SyncedOn(stack, c2); }, 90)) << ctl_->Stack(stack).dump() << ctl_->Log();
  s = ctl_->Stack(stack);
  EXPECT_EQ(s.value("repository_error", "?"), "");
  EXPECT_EQ(s.value("last_error", "?"), "");
  EXPECT_GT(ctl_->Metric(successes), ok_before);
  EXPECT_EQ(Gens(stack), AllGen(stack, 2, "2"));
  EXPECT_EQ(Count("service", stack), 2);
  EXPECT_EQ(Count("network", stack), 1);
  ExpectNoDuplicateSecrets(stack);
  auto h = History(stack);
  ASSERT_EQ(h.size(), 2u) << Json(h).dump();
  EXPECT_EQ(h[0].value("revision", ""), c1);
  EXPECT_EQ(h[1].value("revision", ""), c2);
  EXPECT_EQ(h[1].value("result", ""), "succeeded");
  outputs_ += ctl_->Log();
  ctl_.reset();
  RunCommand(git_server + " stop " + name, &out);
  ExpectSecretNowhere();
  Remove(stack);
}

// Webhook bodies over http.max_body_bytes (4096 here) get 413, malformed
// JSON with a valid signature gets 400; neither makes a single Engine API
// write, the controller stays healthy, and the next valid webhook syncs.
TEST_F(FaultsTest, HugeOrMalformedWebhookChangesNothing) {
  std::string stack = "fwh" + id_;
  InitRepo();
  std::string c1 = Commit(1, 1);
  EngineProxy proxy(tb_, dir_, "p");
  const std::string url = "file://" + dir_ + "/repos/app.git";
  StartStackctld(url, proxy.host(), stack);
  ASSERT_TRUE(WaitFor([&] { return SyncedOn(stack, c1); }, 120)) << ctl_->Stack(stack).dump() << ctl_->Log();
  std::string c2 = Commit(2, 1);
  size_t mark = proxy.Mark();

  std::string huge = PushBody(url, c2);
  huge.insert(huge.size() - 1, R"(,"padding":")" + std::string(64 << 10, 'x') + "\"");
  auto r = ctl_->GenericHook(kHookKey, huge);
  EXPECT_EQ(r.first, 413) << r.second;
  EXPECT_EQ(Json::parse(r.second, nullptr, false).value("error", ""), "request body too large");
  for (const std::string& bad : {PushBody(url, c2).substr(0, 40), std::string(R"(["refs/heads/main"])"),
                                 std::string(R"({"ref":"refs/heads/main","commit":")") + c2 + "\"}"}) {
    r = ctl_->GenericHook(kHookKey, bad);
    EXPECT_EQ(r.first, 400) << bad << ": " << r.second;
  }
  EXPECT_EQ(ctl_->Metric(R"(stackctl_webhook_requests_total{provider="generic",result="too_large"})"), 1);
  EXPECT_EQ(ctl_->Metric(R"(stackctl_webhook_requests_total{provider="generic",result="bad_request"})"), 3);
  EXPECT_EQ(ctl_->Http("GET", "/healthz", "").first, 200);
  EXPECT_EQ(ctl_->Http("GET", "/readyz", "").first, 200);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  for (const auto& c : proxy.CallsSince(mark)) EXPECT_FALSE(c.write()) << c.method << " " << c.target;
  Json s = ctl_->Stack(stack);
  EXPECT_EQ(s.value("revision", ""), c1);
  EXPECT_EQ(s.value("target_revision", ""), c1);
  EXPECT_EQ(Gens(stack), AllGen(stack, 1, "1"));

  r = ctl_->GenericHook(kHookKey, PushBody(url, c2));
  EXPECT_EQ(r.first, 202) << r.second;
  ASSERT_TRUE(WaitFor([&] { return SyncedOn(stack, c2); }, 60)) << ctl_->Stack(stack).dump() << ctl_->Log();
  EXPECT_EQ(ctl_->Metric(R"(stackctl_webhook_requests_total{provider="generic",result="accepted"})"), 1);
  EXPECT_EQ(Gens(stack), AllGen(stack, 1, "2"));
  EXPECT_EQ(Count("service", stack), 1);
  ExpectNoDuplicateSecrets(stack);
  auto h = History(stack);
  ASSERT_EQ(h.size(), 2u) << Json(h).dump();
  EXPECT_EQ(h[1].value("revision", ""), c2);
  outputs_ += ctl_->Log();
  ctl_.reset();
  ExpectSecretNowhere();
  Remove(stack);
}

// `stackctl deploy` of a stack while stackctld syncs the same stack from a
// push: the CLI holds the swarm lock mid-rollout when the controller asks for
// it, so their writes never interleave. The manual deploy pins the stack; the
// controller, once it has the lock, must see that pin and write nothing. The
// stack ends complete on the CLI's revision; `stackctl resume` and a sync hand
// it back to Git.
TEST_F(FaultsTest, CliDeployRacesControllerSyncUnderTheLock) {
  std::string stack = "fcr" + id_;
  InitRepo();
  std::string c1 = Commit(1, 4);
  EngineProxy pc(tb_, dir_, "pc"), pb(tb_, dir_, "pb");
  const std::string url = "file://" + dir_ + "/repos/app.git";
  StartStackctld(url, pc.host(), stack);
  ASSERT_TRUE(WaitFor([&] { return SyncedOn(stack, c1); }, 180)) << ctl_->Stack(stack).dump() << ctl_->Log();
  std::string c2 = Commit(2, 4);

  size_t mc = pc.Mark(), mb = pb.Mark();
  std::string ob;
  std::string f3 = Compose(3, 4);
  auto cli = std::async(std::launch::async, [&] {
    return Deploy(pb.host(), f3, stack, "v3", &ob, "--parallelism 1");
  });
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& c : pb.CallsSince(mb))
      if (IsServiceUpdate(c.method, c.target)) return true;
    return false;
  }, 60));
  auto hook = ctl_->GenericHook(kHookKey, PushBody(url, c2));
  EXPECT_EQ(hook.first, 202) << hook.second;
  // The controller asks for the lock (a config create) while the CLI still rolls out.
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& c : pc.CallsSince(mc))
      if (c.method == "POST" && c.target.find("/configs/create") != std::string::npos) return true;
    return false;
  }, 30)) << ctl_->Log();
  // That reconcile cannot finish before the CLI releases the lock; a second
  // one (the push, and drift events, queued meanwhile) follows it.
  double reconciles = Reconciles(stack);
  ASSERT_EQ(cli.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "the CLI deploy finished before the controller asked for the lock: no race";
  ASSERT_EQ(cli.get(), 0) << ob;
  ASSERT_TRUE(WaitFor([&] { return Reconciles(stack) >= reconciles + 2; }, 120)) << ctl_->Log();
  EXPECT_EQ(ctl_->Stack(stack).value("sync", ""), "Pinned");

  auto writes = [](const std::vector<EngineProxy::Call>& calls) {
    std::vector<EngineProxy::Call> w;
    for (const auto& c : calls)
      if (c.write() && c.target.find("/configs") == std::string::npos) w.push_back(c);
    return w;
  };
  auto wb = writes(pb.CallsSince(mb)), wc = writes(pc.CallsSince(mc));
  ASSERT_FALSE(wb.empty());
  for (const auto& c : wc) {
    EXPECT_TRUE(c.t < wb.front().t || c.t > wb.back().t) << "controller write inside the CLI's rollout: "
                                                          << c.method << " " << c.target;
  }
  EXPECT_EQ(wc.size(), 0u) << "the controller overrode the manual deploy's pin";
  EXPECT_EQ(Gens(stack), AllGen(stack, 4, "3"));
  Json s = ctl_->Stack(stack);
  EXPECT_EQ(s.value("pinned", false), true);
  EXPECT_EQ(s.value("revision", ""), c1);
  auto h = History(stack);
  ASSERT_EQ(h.size(), 2u) << Json(h).dump();
  EXPECT_EQ(h[0].value("revision", ""), c1);
  EXPECT_EQ(h[1].value("revision", ""), "v3");
  EXPECT_EQ(h[1].value("result", ""), "succeeded");

  std::string out;
  ASSERT_EQ(Stackctl(tb_.docker_host, "resume " + stack, &out), 0) << out;
  auto sync = ctl_->Api("POST", "/api/v1/stacks/" + stack + "/sync?wait=true");
  EXPECT_EQ(sync.first, 200) << sync.second;
  EXPECT_TRUE(WaitFor([&] { return SyncedOn(stack, c2); }, 60)) << ctl_->Stack(stack).dump();
  EXPECT_EQ(Gens(stack), AllGen(stack, 4, "2"));
  EXPECT_EQ(Count("service", stack), 4);
  EXPECT_EQ(Count("network", stack), 1);
  EXPECT_EQ(Locks(stack), 0);
  ExpectNoDuplicateSecrets(stack);
  h = History(stack);
  ASSERT_EQ(h.size(), 3u) << Json(h).dump() << ctl_->Log();
  EXPECT_EQ(h[2].value("revision", ""), c2);
  EXPECT_EQ(h[2].value("result", ""), "succeeded");
  outputs_ += ctl_->Log();
  ctl_.reset();
  ExpectSecretNowhere();
  Remove(stack);
}

}  // namespace
}  // namespace stackctl::testing
