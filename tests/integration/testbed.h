// Access to the test bed (tests/testbed/up.sh) from integration tests.
//
// The test bed exports STACKCTL_TEST_* variables (see up.sh). When they are
// missing a test is skipped on a developer machine but FAILS under CI=true:
// CI must never pass by not running the engine tests.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace stackctl::testing {

struct Testbed {
  std::string dir;           // STACKCTL_TESTBED
  std::string docker_host;   // unix://.../docker.sock (swarm manager)
  std::string docker_cli;    // docker CLI binary (Debian's 20.10)
  std::string tls_host;      // tcp://127.0.0.1:2376 (mutual TLS)
  std::string tls_dir;       // ca.pem, client-cert.pem, client-key.pem, wrong-ca.pem, ...
  std::string registry;      // 127.0.0.1:5000
  std::string image;         // 127.0.0.1:5000/busybox:1
  std::string image_digest;  // sha256:...
  std::string bin_dir;       // directory of the stackctl binaries (STACKCTL_BIN_DIR)

  // Runs `docker -H <docker_host> args` and returns its stdout; fails the test on error.
  std::string Docker(const std::string& args) const;
};

inline std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Fills *tb from the environment; false when no test bed is present.
bool LoadTestbed(Testbed* tb);

// In a TEST body: loads the test bed into `tb`, or skips the test (fails it under CI=true).
#define REQUIRE_TESTBED(tb)                                                              \
  do {                                                                                   \
    if (!::stackctl::testing::LoadTestbed(&(tb))) {                                      \
      if (::stackctl::testing::Env("CI") == "true")                                      \
        FAIL() << "integration test needs the test bed (tests/testbed/run.sh) in CI";   \
      GTEST_SKIP() << "no test bed (run through tests/testbed/run.sh)";                  \
    }                                                                                    \
  } while (0)

// Runs a shell command, returns its exit status and captures stdout (and
// stderr when merge_stderr) into *out.
int RunCommand(const std::string& cmd, std::string* out, bool merge_stderr = true);

// Runs `git ARGS` in the work tree `repo_dir` as the given author (and
// committer; ARGS may chain more git commands with &&, which commit as them
// too), then returns HEAD's commit id; a failing command fails the test.
std::string GitInRepo(const std::string& repo_dir, const std::string& args, const std::string& name = "t",
                      const std::string& email = "t@t");

// The generated stack of the fault and reliability tests, written as
// DIR/docker-compose.yml (DIR created) with its secret in DIR/token.txt:
// services s0..s{services-1} on `image` running `sleep 86400` (s0 runs
// `first_command` instead), each with GEN=gen, the file secret `token`, a 1 s
// stop grace period and stop-first updates one at a time 1 s apart;
// `extra_deploy` is appended to every service's `deploy:` block (lines
// indented by six spaces). Returns the compose file's path.
struct SleepStack {
  int services = 1;
  int gen = 1;
  std::string first_command = "sleep";
  std::string extra_deploy{};
};
std::string WriteSleepStack(const std::string& dir, const std::string& image, const std::string& token,
                            const SleepStack& s);

// One row of a Notary expected.tsv (tests/testbed/notary-up.sh): what docker
// resolves gun:tag to.
struct NotaryExpected {
  std::string gun, tag;
  std::string want;  // "sha256:..." or "UNTRUSTED:<reason>"
  std::string role;  // the signing role, "-" when none
};
// The rows of an expected.tsv (tab-separated, '#' starts a comment line); a
// short row fails the test.
std::vector<NotaryExpected> ReadNotaryExpected(const std::string& path);

// `s` without trailing newlines and spaces.
std::string Trim(std::string s);
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& text);

// Polls `pred` every 200 ms for up to `seconds`; its last value.
template <typename F>
bool WaitFor(F pred, int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return pred();
}

// A TCP port on 127.0.0.1 that nothing listened on a moment ago.
int FreeLoopbackPort();

// Hex HMAC-SHA256 of `body` under `key` (the generic webhook's X-Signature).
std::string HmacSha256Hex(const std::string& key, const std::string& body);

// One tests/tools/engine_proxy.py in front of the test-bed dockerd, on its own
// socket DIR/NAME.sock: it logs every Engine API request line with its time
// (DIR/NAME.log), injects the faults of DIR/NAME.faults, and cuts every open
// connection on Cut(). Stopped when destroyed (its pid is under the bed's
// pids/ too).
class EngineProxy {
 public:
  EngineProxy(const Testbed& tb, const std::string& dir, const std::string& name);
  ~EngineProxy();
  EngineProxy(const EngineProxy&) = delete;
  EngineProxy& operator=(const EngineProxy&) = delete;

  std::string host() const { return "unix://" + sock_; }
  // "METHOD REGEX STATUS" lines; "" clears.
  void SetFaults(const std::string& rules) { WriteFile(faults_, rules); }
  // Cuts every connection open now (SIGUSR1), the event streams included.
  void Cut();
  size_t Mark() const { return ReadFile(log_).size(); }
  // Request lines since `mark`: {time (CLOCK_MONOTONIC), method, target}.
  struct Call {
    double t;
    std::string method, target;
    bool write() const { return method == "POST" || method == "PUT" || method == "DELETE"; }
  };
  std::vector<Call> CallsSince(size_t mark) const;

 private:
  std::string sock_, log_, faults_;
  int pid_ = 0;
};

// One stackctld process run by a test. `dir` holds its configuration
// (stackctld.yml, written by the test, relative paths resolve there), its log
// (stackctld.log) and the scratch files of HTTP requests. Stopped (SIGTERM)
// when destroyed; its pid is also recorded under the bed's pids/ so
// tests/testbed/down.sh stops it if the test dies.
class Stackctld {
 public:
  Stackctld(const Testbed& tb, std::string dir, int port, std::string api_token)
      : tb_(tb), dir_(std::move(dir)), port_(port), token_(std::move(api_token)) {}
  ~Stackctld() { Stop(SIGTERM); }
  Stackctld(const Stackctld&) = delete;
  Stackctld& operator=(const Stackctld&) = delete;

  // Starts `stackctld -c stackctld.yml` in dir; true once /healthz answers 200.
  bool Start();
  // Sends `sig` and reaps the process (SIGKILL after 60 s).
  void Stop(int sig);
  pid_t pid() const { return pid_; }
  int port() const { return port_; }

  // An HTTP request to stackctld with curl: {status (0: no answer), body}.
  std::pair<int, std::string> Http(const std::string& method, const std::string& path,
                                   const std::string& body, const std::string& headers = "");
  // The same with the API bearer token.
  std::pair<int, std::string> Api(const std::string& method, const std::string& path,
                                  const std::string& body = "{}");
  // POST /hooks/generic with a valid signature.
  std::pair<int, std::string> GenericHook(const std::string& secret, const std::string& body);
  // GET /api/v1/stacks/NAME; null when it does not answer 200.
  nlohmann::json Stack(const std::string& name);
  // The value of one sample of /metrics ("name{labels}"), -1 when absent.
  double Metric(const std::string& sample);
  std::string Log() const { return ReadFile(dir_ + "/stackctld.log"); }

 private:
  const Testbed& tb_;
  std::string dir_;
  int port_;
  std::string token_;
  pid_t pid_ = 0;
  std::atomic<int> seq_{0};
};

}  // namespace stackctl::testing
