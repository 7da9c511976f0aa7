// Fault scenarios for `stackctl deploy` on the real test bed (a swarm-mode
// dockerd, tests/testbed/): the engine answering errors mid-rollout, dockerd
// stopped and restarted mid-rollout, two deploys of one stack at once, a
// compose file that expands to a huge document. Every scenario ends with the
// stack on the intended revision (or cleanly on the previous one), no
// duplicate or orphaned objects, the history intact, and the secret value of
// the stack absent from every output and log.
//
// The Engine API calls of each command go through tests/tools/engine_proxy.py
// (its own socket per proxy), which counts them, timestamps them, and injects
// errors. These tests restart the shared dockerd, so they are RUN_SERIAL.
#include <signal.h>
#include <unistd.h>

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

// One engine_proxy.py in front of the test-bed dockerd.
class Proxy {
 public:
  Proxy(const Testbed& tb, const std::string& dir, const std::string& name)
      : sock_(dir + "/" + name + ".sock"), log_(dir + "/" + name + ".log"),
        faults_(dir + "/" + name + ".faults") {
    std::string target = tb.docker_host.substr(std::string("unix://").size());
    std::string out;
    RunCommand("ENGINE_PROXY_TIMES=1 ENGINE_PROXY_FAULTS=" + faults_ + " setsid python3 " +
                   STACKCTL_SOURCE_DIR "/tests/tools/engine_proxy.py " + sock_ + " " + target +
                   " " + log_ + " >/dev/null 2>&1 </dev/null & echo $!",
               &out, false);
    pid_ = std::stoi(out);
    WriteFile(tb.dir + "/pids/" + name + "-" + std::to_string(getpid()) + ".pid", out);
    EXPECT_TRUE(WaitFor([&] { return access(sock_.c_str(), F_OK) == 0; }, 10));
  }
  ~Proxy() { kill(pid_, SIGTERM); }

  std::string host() const { return "unix://" + sock_; }
  // "METHOD REGEX STATUS" lines; "" clears.
  void SetFaults(const std::string& rules) { WriteFile(faults_, rules); }
  size_t Mark() const { return ReadFile(log_).size(); }
  // Request lines since `mark`: {time, method, target}.
  struct Call {
    double t;
    std::string method, target;
    bool write() const { return method == "POST" || method == "PUT" || method == "DELETE"; }
  };
  std::vector<Call> CallsSince(size_t mark) const {
    std::istringstream in(ReadFile(log_).substr(mark));
    std::vector<Call> calls;
    Call c;
    std::string rest;
    while (in >> c.t >> c.method >> c.target) {
      std::getline(in, rest);
      calls.push_back(c);
    }
    return calls;
  }

 private:
  std::string sock_, log_, faults_;
  int pid_ = 0;
};

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

  // A compose file of `services` services (s0, s1, ...) whose environment
  // carries GEN=gen, all mounting one secret; returns its path.
  std::string Compose(int gen, int services, int replicas = 1, const std::string& extra = "") {
    std::string d = dir_ + "/gen" + std::to_string(gen);
    std::string out;
    RunCommand("mkdir -p " + d, &out);
    WriteFile(d + "/token.txt", secret_);
    std::ostringstream y;
    y << "version: \"3.8\"\nsecrets:\n  token: {file: ./token.txt}\nservices:\n";
    for (int i = 0; i < services; ++i) {
      y << "  s" << i << ":\n    image: " << tb_.image << "\n"
        << "    command: [\"sleep\", \"86400\"]\n"
        << "    environment: {GEN: \"" << gen << "\"}\n"
        << "    secrets: [token]\n"
        << "    stop_grace_period: 1s\n"
        << "    deploy:\n      replicas: " << replicas << "\n"
        << "      update_config: {parallelism: 1, delay: 1s, order: stop-first}\n"
        << extra;
    }
    WriteFile(d + "/docker-compose.yml", y.str());
    return d + "/docker-compose.yml";
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

  Testbed tb_;
  std::string id_, dir_, secret_, outputs_;
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
  Proxy proxy(tb_, dir_, "p");
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
  Proxy proxy(tb_, dir_, "p");
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
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0].value("revision", ""), "v1");
  EXPECT_EQ(h[0].value("result", ""), "succeeded");
  EXPECT_EQ(h[1].value("revision", ""), "v2");
  EXPECT_NE(h[1].value("result", ""), "succeeded");
  EXPECT_EQ(h[2].value("revision", ""), "v2");
  EXPECT_EQ(h[2].value("result", ""), "succeeded");
  ExpectSecretNowhere();
  Remove(stack);
}

// Two deploys of the same stack at once: the deploy lock serializes them
// (their writes never interleave) and the stack ends on the revision of the
// one that ran last, complete.
TEST_F(FaultsTest, ConcurrentDeploysSerialize) {
  std::string stack = "fcc" + id_;
  Proxy pa(tb_, dir_, "pa"), pb(tb_, dir_, "pb");
  std::string out;
  ASSERT_EQ(Deploy(tb_.docker_host, Compose(1, 4), stack, "v1", &out), 0) << out;
  std::string fa = Compose(2, 4), fb = Compose(3, 4);
  size_t ma = pa.Mark(), mb = pb.Mark();
  std::string oa, ob;
  auto a = std::async(std::launch::async, [&] { return Deploy(pa.host(), fa, stack, "v2", &oa); });
  auto b = std::async(std::launch::async, [&] { return Deploy(pb.host(), fb, stack, "v3", &ob); });
  int ra = a.get(), rb = b.get();
  EXPECT_TRUE(ra == 0 || rb == 0) << oa << "\n" << ob;

  // Service, network and secret writes of each deploy form an interval; the
  // lock's own config create/remove calls are excluded.
  auto span = [](const std::vector<Proxy::Call>& calls) {
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
  Proxy proxy(tb_, dir_, "p");
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

}  // namespace
}  // namespace stackctl::testing
