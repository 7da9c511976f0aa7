#include "integration/testbed.h"

#include <array>
#include <cstdio>
#include <sys/wait.h>

namespace stackctl::testing {

bool LoadTestbed(Testbed* tb) {
  tb->dir = Env("STACKCTL_TESTBED");
  tb->docker_host = Env("STACKCTL_TEST_DOCKER_HOST");
  tb->docker_cli = Env("STACKCTL_TEST_DOCKER_CLI");
  tb->tls_host = Env("STACKCTL_TEST_TLS_HOST");
  tb->tls_dir = Env("STACKCTL_TEST_TLS_DIR");
  tb->registry = Env("STACKCTL_TEST_REGISTRY");
  tb->image = Env("STACKCTL_TEST_IMAGE");
  tb->image_digest = Env("STACKCTL_TEST_IMAGE_DIGEST");
  tb->bin_dir = Env("STACKCTL_BIN_DIR");
  if (tb->bin_dir.empty()) tb->bin_dir = STACKCTL_BINARY_DIR "/src/cli";
  return !tb->docker_host.empty();
}

int RunCommand(const std::string& cmd, std::string* out, bool merge_stderr) {
  std::string full = merge_stderr ? cmd + " 2>&1" : cmd;
  FILE* p = popen(full.c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf;
  out->clear();
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out->append(buf.data(), n);
  int rc = pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string Testbed::Docker(const std::string& args) const {
  std::string out;
  int rc = RunCommand(docker_cli + " -H " + docker_host + " " + args, &out, false);
  EXPECT_EQ(rc, 0) << "docker " << args << " failed: " << out;
  return out;
}

}  // namespace stackctl::testing
