// Integration tests of image trust: the real `stackctl verify` binary against
// the real notary-server/notary-signer of the test bed (tests/testbed/notary-up.sh),
// compared with what the docker 20.10 CLI resolves with DOCKER_CONTENT_TRUST=1.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "integration/testbed.h"

namespace stackctl::testing {
namespace {

struct NotaryBed {
  Testbed tb;
  std::string url, ca, wrong_ca, rootkey_ca, expected, tampered_url, down_url;
};

#define REQUIRE_NOTARY_BED(nb)                                                           \
  REQUIRE_TESTBED((nb).tb);                                                              \
  (nb).url = Env("STACKCTL_TEST_NOTARY_URL");                                            \
  if ((nb).url.empty()) {                                                                \
    if (Env("CI") == "true") FAIL() << "test bed started without notary (notary-up.sh)"; \
    GTEST_SKIP() << "test bed has no notary server (STACKCTL_TESTBED_NOTARY=0?)";        \
  }                                                                                      \
  (nb).ca = Env("STACKCTL_TEST_NOTARY_CA");                                              \
  (nb).wrong_ca = Env("STACKCTL_TEST_NOTARY_WRONG_CA");                                  \
  (nb).rootkey_ca = Env("STACKCTL_TEST_NOTARY_ROOTKEY_CA");                              \
  (nb).expected = Env("STACKCTL_TEST_NOTARY_EXPECTED");                                  \
  (nb).tampered_url = Env("STACKCTL_TEST_NOTARY_TAMPERED_URL");                          \
  (nb).down_url = Env("STACKCTL_TEST_NOTARY_DOWN_URL")

const std::string kR = "127.0.0.1:5000/library/";

class NotaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_NOTARY_BED(nb_);
    trust_dir_ = TempDir("trust");
  }
  void TearDown() override {
    for (const auto& d : dirs_) std::filesystem::remove_all(d);
  }
  std::string TempDir(const std::string& what) {
    char tmpl[] = "/tmp/stk-notary-XXXXXX";
    std::string d = mkdtemp(tmpl);
    dirs_.push_back(d);
    return d;
  }
  // Runs `stackctl verify` for one image; returns its exit status, output in *out.
  int Verify(const std::string& image, const std::string& flags, std::string* out,
             const std::string& prefix = "") {
    std::string cmd = prefix + nb_.tb.bin_dir + "/stackctl verify --trust-dir " + trust_dir_ + " " +
                      flags + " " + image;
    return RunCommand(cmd, out);
  }
  std::string Flags(const std::string& url = "") const {
    return "--trust-server " + (url.empty() ? nb_.url : url) + " --trust-ca " + nb_.ca;
  }
  // The first line of stderr+stdout, without the trailing newline.
  static std::string Line(const std::string& out) { return out.substr(0, out.find('\n')); }
  std::string Curl(const std::string& url_path, const std::string& jq) {
    std::string out;
    RunCommand("curl -sf --cacert " + nb_.ca + " " + nb_.url + url_path + " | jq -r '" + jq + "'",
               &out, false);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  // Docker's resolution with content trust: the digest, or "" when refused.
  std::string DockerPull(const std::string& ref) {
    std::string cfg = TempDir("docker");
    std::string out;
    int rc = RunCommand("DOCKER_CONFIG=" + cfg +
                            " DOCKER_CONTENT_TRUST=1 DOCKER_CONTENT_TRUST_SERVER=" + nb_.url + " " +
                            nb_.tb.docker_cli + " -H " + nb_.tb.docker_host + " pull " + ref,
                        &out);
    std::smatch m;
    if (rc == 0 &&
        std::regex_search(out, m, std::regex("Pull \\(1 of 1\\): \\S+@(sha256:[0-9a-f]{64})"))) {
      return m[1];
    }
    return "";
  }

  NotaryBed nb_;
  std::string trust_dir_;
  std::vector<std::string> dirs_;
};

TEST_F(NotaryTest, EveryExpectedCaseMatchesDocker) {
  int rows = 0;
  for (const NotaryExpected& row : ReadNotaryExpected(nb_.expected)) {
    const std::string &gun = row.gun, &tag = row.tag, &want = row.want, &role = row.role;
    const std::string image = gun + ":" + tag;
    SCOPED_TRACE(image);
    ++rows;
    trust_dir_ = TempDir("trust");  // first use for every row, like a fresh docker
    std::string out;
    int rc = Verify(image, Flags(), &out);
    std::string docker = DockerPull(image);
    if (want.rfind("sha256:", 0) == 0) {
      EXPECT_EQ(rc, 0) << out;
      EXPECT_EQ(out, image + ": " + want + " signed by " + role + " (" + gun + "@" + want + ")\n");
      EXPECT_EQ(docker, want);
      continue;
    }
    EXPECT_EQ(rc, 1) << out;
    EXPECT_EQ(docker, "") << "docker accepted " << image;
    if (want == "UNTRUSTED:no-trust-data") {
      EXPECT_EQ(out, image + ": not trusted: " + gun + ": no trust data (root.json not found on " +
                         nb_.url + ")\n");
    } else if (want == "UNTRUSTED:no-such-target") {
      EXPECT_EQ(out, image + ": not trusted: " + gun + ": no trust data for tag \"" + tag + "\"\n");
    } else {
      EXPECT_EQ(out, image + ": not trusted: " + gun + ": tag \"" + tag + "\" is signed only by " +
                         role + ", which is neither targets/releases nor targets\n");
    }
  }
  EXPECT_EQ(rows, 12);
}

TEST_F(NotaryTest, CachedVerificationCostsOneFetch) {
  std::string out;
  const std::string image = kR + "busybox-deleg:conflict";
  ASSERT_EQ(Verify(image, Flags() + " --stats", &out), 0) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("stats: " + image + ": 6 fetches,"));
  ASSERT_EQ(Verify(image, Flags() + " --stats", &out), 0) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("stats: " + image + ": 1 fetches,"));
}

TEST_F(NotaryTest, ServerDefaultsToDockerContentTrustServer) {
  std::string out;
  ASSERT_EQ(Verify(kR + "busybox:2.0", "--trust-ca " + nb_.ca, &out,
                   "DOCKER_CONTENT_TRUST_SERVER=" + nb_.url + " "),
            0)
      << out;
  EXPECT_THAT(out, ::testing::HasSubstr("signed by targets"));
}

TEST_F(NotaryTest, TamperedMetadataIsRefused) {
  std::string out;
  EXPECT_EQ(Verify(kR + "busybox:1.0", Flags(nb_.tampered_url), &out), 1);
  EXPECT_EQ(out, kR + "busybox:1.0: not trusted: " + kR +
                     "busybox: targets: hash does not match the one signed in snapshot\n");
}

TEST_F(NotaryTest, GarbageFromServerIsRefused) {
  std::string out;
  EXPECT_EQ(Verify(kR + "busybox-dct:1.0", Flags(nb_.tampered_url), &out), 1);
  EXPECT_EQ(out, kR + "busybox-dct:1.0: not trusted: " + kR +
                     "busybox-dct: timestamp: timestamp.json: invalid JSON at byte 1\n");
}

TEST_F(NotaryTest, ExpiredTimestampIsRefused) {
  if (RunCommand("command -v faketime", new std::string) != 0) {
    if (Env("CI") == "true") FAIL() << "faketime missing (scripts/install-deps.sh)";
    GTEST_SKIP() << "faketime missing";
  }
  const std::string gun = kR + "busybox";
  std::string expires = Curl("/v2/" + gun + "/_trust/tuf/timestamp.json", ".signed.expires");
  ASSERT_FALSE(expires.empty());
  std::string out;
  // The server's timestamps live 14 days: 15 days later (a real, faked wall clock
  // for stackctl only) the one it serves has expired.
  EXPECT_EQ(Verify(gun + ":1.0", Flags(), &out, "faketime -f +15d "), 1);
  EXPECT_EQ(out, gun + ":1.0: not trusted: " + gun + ": timestamp: expired at " + expires + "\n");
}

TEST_F(NotaryTest, PinnedRootCertificates) {
  const std::string gun = kR + "busybox";
  std::string id = Curl("/v2/" + gun + "/_trust/tuf/root.json", ".signed.roles.root.keyids[0]");
  ASSERT_EQ(id.size(), 64u);
  std::string out;
  EXPECT_EQ(Verify(gun + ":1.0", Flags() + " --no-tofu --trust-pin " + gun + "=" + id, &out), 0)
      << out;
  trust_dir_ = TempDir("trust");
  EXPECT_EQ(Verify(gun + ":1.0",
                   Flags() + " --trust-pin '" + kR + "*=" + std::string(64, 'a') + "'", &out),
            1);
  EXPECT_EQ(out, gun + ":1.0: not trusted: " + gun +
                     ": root: no root key matches the pinned certificate IDs\n");
}

TEST_F(NotaryTest, PinnedCa) {
  std::string out;
  const std::string pin = " --trust-pin-ca " + kR + "=" + nb_.rootkey_ca;
  EXPECT_EQ(Verify(kR + "busybox-pinned:1.0", Flags() + pin, &out), 0) << out;
  EXPECT_EQ(Verify(kR + "busybox:1.0", Flags() + pin, &out), 1);
  EXPECT_EQ(out, kR + "busybox:1.0: not trusted: " + kR +
                     "busybox: root: the root certificate does not chain to the pinned CA\n");
}

TEST_F(NotaryTest, NoTofuWithoutPinIsRefused) {
  std::string out;
  EXPECT_EQ(Verify(kR + "busybox:1.0", Flags() + " --no-tofu", &out), 1);
  EXPECT_EQ(out, kR + "busybox:1.0: not trusted: " + kR +
                     "busybox: root: no trust pinning configured for this GUN and TOFU is "
                     "disabled\n");
}

TEST_F(NotaryTest, OutageFailsClosed) {
  std::string out;
  EXPECT_EQ(Verify(kR + "busybox:1.0", Flags(nb_.down_url), &out), 1);
  EXPECT_EQ(out, kR + "busybox:1.0: not trusted: " + kR + "busybox: root: notary server " +
                     nb_.down_url + " unreachable: Couldn't connect to server\n");
  // With a trusted root cached, the timestamp is still required.
  ASSERT_EQ(Verify(kR + "busybox:1.0", Flags(), &out), 0) << out;
  EXPECT_EQ(Verify(kR + "busybox:1.0", Flags(nb_.down_url), &out), 1);
  EXPECT_EQ(out, kR + "busybox:1.0: not trusted: " + kR + "busybox: timestamp: notary server " +
                     nb_.down_url + " unreachable: Couldn't connect to server\n");
}

TEST_F(NotaryTest, ServerCertificateIsAlwaysVerified) {
  std::string out;
  EXPECT_EQ(
      Verify(kR + "busybox:1.0", "--trust-server " + nb_.url + " --trust-ca " + nb_.wrong_ca, &out),
      1);
  EXPECT_EQ(out, kR + "busybox:1.0: not trusted: " + kR + "busybox: root: notary server " +
                     nb_.url +
                     " unreachable: SSL peer certificate or SSH remote key was not OK (SSL "
                     "certificate problem: unable to get local issuer certificate)\n");
}

// `stackctl deploy --trust-policy require`: a signed tag is deployed pinned to
// its signed digest; a stack with one unsigned image deploys nothing at all.
TEST_F(NotaryTest, DeployRequiresSignedImagesAndPinsTheSignedDigest) {
  const std::string gun = "127.0.0.1:5000/library/busybox";
  std::string want;
  {
    std::ifstream in(nb_.expected);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(gun + "\t1.0\t", 0) == 0) want = line.substr(gun.size() + 5, 71);
    }
  }
  ASSERT_EQ(want.rfind("sha256:", 0), 0u) << want;
  std::string dir = TempDir("deploy");
  auto write = [&](const std::string& images_tail) {
    std::ofstream(dir + "/docker-compose.yml")
        << "version: \"3.8\"\nservices:\n  signed:\n    image: " << gun
        << ":1.0\n    command: [\"sleep\", \"3600\"]\n" << images_tail;
  };
  std::string stack = "trust" + std::to_string(getpid() % 100000);
  std::string deploy = "cd " + dir + " && DOCKER_HOST=" + nb_.tb.docker_host + " " + nb_.tb.bin_dir +
                       "/stackctl deploy --detach --trust-policy require " + Flags() + " -c docker-compose.yml " +
                       stack;
  // One unsigned image blocks the whole revision: nothing is created.
  write("  unsigned:\n    image: " + gun + ":unsigned\n");
  std::string out;
  EXPECT_EQ(RunCommand(deploy, &out), 1) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("service unsigned: image " + gun + ":unsigned: " + gun +
                                        ": no trust data for tag \"unsigned\""));
  EXPECT_EQ(nb_.tb.Docker("service ls -q --filter label=com.docker.stack.namespace=" + stack), "");
  EXPECT_EQ(nb_.tb.Docker("network ls -q --filter label=com.docker.stack.namespace=" + stack), "");

  write("");
  ASSERT_EQ(RunCommand(deploy, &out), 0) << out;
  std::string image = nb_.tb.Docker("service inspect " + stack +
                                    "_signed --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}'");
  EXPECT_EQ(image, gun + ":1.0@" + want + "\n");
  RunCommand("DOCKER_HOST=" + nb_.tb.docker_host + " " + nb_.tb.bin_dir + "/stackctl rm " + stack, &out);
}

// `stackctl deploy --trust-policy require` with the Notary server down fails
// closed: a new stack is not created at all, and a deployed stack keeps its
// revision (no write, no history record), even with its trust root cached.
TEST_F(NotaryTest, DeployWithNotaryDownFailsClosedAndDeploysNothing) {
  const std::string gun = "127.0.0.1:5000/library/busybox";
  std::string dir = TempDir("deploy-down");
  auto write = [&](const std::string& level) {
    std::ofstream(dir + "/docker-compose.yml")
        << "version: \"3.8\"\nservices:\n  signed:\n    image: " << gun
        << ":1.0\n    command: [\"sleep\", \"3600\"]\n    environment: {LEVEL: \"" << level << "\"}\n";
  };
  std::string stack = "trustdown" + std::to_string(getpid() % 100000);
  auto deploy = [&](const std::string& url, const std::string& revision) {
    return "cd " + dir + " && DOCKER_HOST=" + nb_.tb.docker_host + " " + nb_.tb.bin_dir +
           "/stackctl deploy --timeout 60s --revision " + revision + " --trust-policy require " +
           Flags(url) + " -c docker-compose.yml " + stack;
  };
  auto count = [&](const std::string& kind) {
    std::string ids = nb_.tb.Docker(kind + " ls -q --filter label=com.docker.stack.namespace=" + stack);
    return std::count(ids.begin(), ids.end(), '\n');
  };
  const std::string unreachable = "notary server " + nb_.down_url + " unreachable";
  write("1");
  std::string out;
  EXPECT_EQ(RunCommand(deploy(nb_.down_url, "v1"), &out), 1) << out;
  EXPECT_THAT(out, ::testing::HasSubstr(unreachable));
  EXPECT_EQ(count("service"), 0);
  EXPECT_EQ(count("network"), 0);

  ASSERT_EQ(RunCommand(deploy("", "v1"), &out), 0) << out;
  write("2");
  EXPECT_EQ(RunCommand(deploy(nb_.down_url, "v2"), &out), 1) << out;
  EXPECT_THAT(out, ::testing::HasSubstr(unreachable));
  EXPECT_EQ(nb_.tb.Docker("service inspect " + stack +
                          "_signed --format '{{json .Spec.TaskTemplate.ContainerSpec.Env}}'"),
            "[\"LEVEL=1\"]\n");
  EXPECT_EQ(count("service"), 1);
  std::string history;
  ASSERT_EQ(RunCommand("DOCKER_HOST=" + nb_.tb.docker_host + " " + nb_.tb.bin_dir +
                           "/stackctl history -o json " + stack + " | jq -r '.[].revision'",
                       &history, false),
            0);
  EXPECT_EQ(history, "v1\n");
  RunCommand("DOCKER_HOST=" + nb_.tb.docker_host + " " + nb_.tb.bin_dir + "/stackctl rm " + stack, &out);
}

}  // namespace
}  // namespace stackctl::testing
