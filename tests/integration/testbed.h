// Access to the test bed (tests/testbed/up.sh) from integration tests.
//
// The test bed exports STACKCTL_TEST_* variables (see up.sh). When they are
// missing a test is skipped on a developer machine but FAILS under CI=true:
// CI must never pass by not running the engine tests.
#pragma once

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

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

}  // namespace stackctl::testing
