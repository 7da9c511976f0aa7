// Integration tests of keyed cosign verification: the real `stackctl verify`
// and `stackctl diff/deploy` binaries against the test bed's real registry
// (Debian's docker-registry 2.8), with signatures pushed the way `cosign sign
// --key` pushes them (notary/cosign_test_signer.h: payload blob, OCI manifest
// tagged sha256-<hex>.sig, base64 DER signature annotation). Keys are
// generated when the test starts. A second registry with TLS (the bed's CA)
// checks --registry-ca.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>

#include "common/crypto.h"
#include "integration/registry_pusher.h"
#include "integration/testbed.h"
#include "notary/cosign_test_signer.h"

namespace stackctl::testing {
namespace {

using notary::testing::CosignTestKey;
using notary::testing::SignatureLayer;
using ::testing::HasSubstr;

class CosignTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTBED(tb_);
    // Inside the bed's folder, so tests/testbed/down.sh removes it whatever happens.
    std::string tmpl = tb_.dir + "/cosign-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << tmpl << ": " << strerror(errno);
    dir_ = tmpl;
    key_pem_ = dir_ + "/release.pub";
    other_pem_ = dir_ + "/other.pub";
    WriteFile(key_pem_, key_.PublicPem());
    WriteFile(other_pem_, other_.PublicPem());
    registry_ = {"http://" + tb_.registry, ""};
  }
  void TearDown() override {
    if (registry_pid_ > 0) {
      kill(registry_pid_, SIGTERM);
      waitpid(registry_pid_, nullptr, 0);
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  SignatureLayer Layer(const CosignTestKey& key, const std::string& identity,
                       const std::string& digest) {
    std::string payload = notary::testing::SimpleSigningPayload(identity, digest);
    return {payload, key.Sign(payload)};
  }
  std::string Repo(const std::string& name) const { return tb_.registry + "/cosign/" + name; }
  // `stackctl verify` of one image: exit status, output (stderr merged) in *out.
  int Verify(const std::string& flags, const std::string& image, std::string* out) {
    return RunCommand(tb_.bin_dir + "/stackctl verify " + flags + " " + image, out);
  }
  std::string Stackctl(const std::string& args) const {
    return tb_.bin_dir + "/stackctl -H " + tb_.docker_host + " " + args;
  }

  Testbed tb_;
  std::string dir_, key_pem_, other_pem_;
  CosignTestKey key_, other_;
  Pusher registry_;
  pid_t registry_pid_ = 0;
};

TEST_F(CosignTest, VerifyAcceptsOnlyAValidSignatureOfThisImageInThisRepository) {
  const std::string another_digest = "sha256:" + std::string(64, '7');
  struct Case {
    std::string name;
    std::function<void(const std::string& repo_path, const std::string& digest)> sign;
    std::string error;  // "" = verified
  };
  const std::vector<Case> cases = {
      {"signed",
       [&](const std::string& r, const std::string& d) {
         registry_.Sign(r, d, {Layer(key_, tb_.registry + "/" + r, d)});
       },
       ""},
      {"other-key",
       [&](const std::string& r, const std::string& d) {
         registry_.Sign(r, d, {Layer(other_, tb_.registry + "/" + r, d)});
       },
       "no valid signature: signature 1: signature does not verify with key " + key_pem_},
      {"unsigned", [](const std::string&, const std::string&) {}, "not signed (no sha256-"},
      {"other-repository",
       [&](const std::string& r, const std::string& d) {
         registry_.Sign(r, d, {Layer(key_, tb_.registry + "/cosign/signed", d)});
       },
       "payload names repository \"" + tb_.registry + "/cosign/signed\", not " +
           Repo("other-repository")},
      {"other-digest",
       [&](const std::string& r, const std::string& d) {
         registry_.Sign(r, d, {Layer(key_, tb_.registry + "/" + r, another_digest)});
       },
       "payload signs digest " + another_digest + ", not sha256:"},
      {"several-one-valid",
       [&](const std::string& r, const std::string& d) {
         const std::string id = tb_.registry + "/" + r;
         registry_.Sign(
             r, d, {Layer(other_, id, d), Layer(key_, id, another_digest), Layer(key_, id, d)});
       },
       ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = "cosign/" + c.name;
    const std::string digest = registry_.Image(path, "1");
    c.sign(path, digest);
    std::string out;
    int rc = Verify("--cosign-key " + key_pem_, Repo(c.name) + ":1", &out);
    if (c.error.empty()) {
      EXPECT_EQ(rc, 0) << out;
      EXPECT_EQ(out, Repo(c.name) + ":1: " + digest + " signed by cosign key " + key_pem_ + " (" +
                         Repo(c.name) + "@" + digest + ")\n");
    } else {
      EXPECT_EQ(rc, 1) << out;
      EXPECT_THAT(out, HasSubstr(Repo(c.name) + ":1: not trusted: image " + Repo(c.name) + ":1 (" +
                                 digest.substr(0, 19) + "): cosign: "));
      EXPECT_THAT(out, HasSubstr(c.error));
    }
  }
  // By digest: the same signature; the other key alone does not verify it,
  // both keys together do, and the one that verified is named.
  const std::string digest = registry_.Image("cosign/signed", "1");
  std::string out;
  EXPECT_EQ(Verify("--cosign-key " + other_pem_ + " --cosign-key " + key_pem_,
                   Repo("signed") + "@" + digest, &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("signed by cosign key " + key_pem_));
  EXPECT_EQ(Verify("--cosign-key " + other_pem_, Repo("signed") + "@" + digest, &out), 1) << out;
}

TEST_F(CosignTest, TamperedPayloadBlobIsRefusedBeforeItsSignatureIsRead) {
  const std::string path = "cosign/tampered";
  const std::string digest = registry_.Image(path, "1");
  SignatureLayer layer = Layer(key_, Repo("tampered"), digest);
  registry_.Sign(path, digest, {layer});
  std::string out;
  ASSERT_EQ(Verify("--cosign-key " + key_pem_, Repo("tampered") + ":1", &out), 0) << out;
  // Rewrite the stored blob in the registry's storage, same length: the
  // payload now names another digest; only the blob digest check stands
  // between these bytes and the payload checks.
  const std::string hex = Sha256Hex(layer.payload);
  const std::string file = tb_.dir + "/registry/docker/registry/v2/blobs/sha256/" +
                           hex.substr(0, 2) + "/" + hex + "/data";
  std::string bytes = ReadFile(file);
  ASSERT_EQ(bytes, layer.payload);
  size_t at = bytes.find(digest.substr(7, 8));
  ASSERT_NE(at, std::string::npos);
  bytes[at] = bytes[at] == '0' ? '1' : '0';
  WriteFile(file, bytes);
  EXPECT_EQ(Verify("--cosign-key " + key_pem_, Repo("tampered") + ":1", &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("signature 1: payload blob does not match its digest sha256:" +
                             hex.substr(0, 12)));
}

TEST_F(CosignTest, RegistryDownFailsClosedUnderRequireOnly) {
  // A registry that is not there: every policy is asked to pin its image.
  const std::string image = "127.0.0.1:" + std::to_string(FreeLoopbackPort()) + "/cosign/app:1";
  const std::string stack = "cosigndown";
  WriteFile(dir_ + "/docker-compose.yml",
            "version: \"3.8\"\nservices:\n  app:\n    image: " + image + "\n");
  auto diff = [&](const std::string& policy, std::string* out) {
    return RunCommand(Stackctl("diff -c " + dir_ + "/docker-compose.yml --trust-policy " + policy +
                               " --cosign-key " + key_pem_ + " " + stack),
                      out);
  };
  std::string out;
  EXPECT_NE(diff("require", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("service app: image " + image));
  EXPECT_THAT(out, HasSubstr("unreachable"));

  EXPECT_EQ(diff("warn", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("trust verification failed (image " + image));
  EXPECT_THAT(out, HasSubstr("deploying the tag unpinned"));

  EXPECT_EQ(diff("off", &out), 0) << out;
  EXPECT_THAT(out, ::testing::Not(HasSubstr("trust verification failed")));
  EXPECT_THAT(out, HasSubstr("deploying the tag unpinned"));

  // verify has no policy but require.
  EXPECT_EQ(Verify("--cosign-key " + key_pem_, image, &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("unreachable"));
}

TEST_F(CosignTest, DeployPinsTheSignedDigestAndRefusesAnImageSignedByAnotherKey) {
  // The bed's runnable busybox, signed with key_ only.
  const std::string repo_path =
      tb_.image.substr(tb_.registry.size() + 1, tb_.image.rfind(':') - tb_.registry.size() - 1);
  const std::string repo = tb_.registry + "/" + repo_path;
  registry_.Sign(repo_path, tb_.image_digest, {Layer(key_, repo, tb_.image_digest)});
  const std::string stack = "cosignapp";
  WriteFile(dir_ + "/docker-compose.yml", "version: \"3.8\"\nservices:\n  app:\n    image: " +
                                              tb_.image + "\n    command: [\"sleep\", \"3600\"]\n");
  std::string out;
  EXPECT_NE(RunCommand(Stackctl("deploy -c " + dir_ +
                                "/docker-compose.yml --trust-policy require --cosign-key " +
                                other_pem_ + " " + stack),
                       &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("signature does not verify with key " + other_pem_));
  std::string services;
  RunCommand(tb_.docker_cli + " -H " + tb_.docker_host +
                 " service ls -q --filter label=com.docker.stack.namespace=" + stack,
             &services, false);
  EXPECT_EQ(services, "") << "a refused revision must change nothing";

  ASSERT_EQ(RunCommand(Stackctl("deploy -c " + dir_ +
                                "/docker-compose.yml --trust-policy require --cosign-key " +
                                key_pem_ + " --timeout 90s " + stack),
                       &out),
            0)
      << out;
  EXPECT_EQ(
      Trim(tb_.Docker("service inspect --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' " +
                      stack + "_app")),
      tb_.image + "@" + tb_.image_digest);
  RunCommand(Stackctl("rm " + stack), &out);
}

TEST_F(CosignTest, RegistryWithTlsIsVerifiedAgainstTheGivenCa) {
  // A second docker-registry, https only, with the bed's server certificate.
  const int port = FreeLoopbackPort();
  const std::string host = "127.0.0.1:" + std::to_string(port);
  WriteFile(dir_ + "/registry.yml",
            "version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: " + dir_ +
                "/storage}}\nhttp:\n  addr: " + host + "\n  tls:\n    certificate: " + tb_.tls_dir +
                "/server-cert.pem\n    key: " + tb_.tls_dir + "/server-key.pem\n");
  registry_pid_ = fork();
  if (registry_pid_ == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execl("/usr/bin/docker-registry", "docker-registry", "serve", (dir_ + "/registry.yml").c_str(),
          nullptr);
    _exit(127);
  }
  const std::string ca = tb_.tls_dir + "/ca.pem";
  Pusher tls{"https://" + host, ca};
  ASSERT_TRUE(
      WaitFor([&] { return RegistryHttp("GET", tls.base + "/v2/", "", "", ca).status == 200; }, 20))
      << "TLS registry did not start";
  const std::string digest = tls.Image("cosign/tls", "1");
  tls.Sign("cosign/tls", digest, {Layer(key_, host + "/cosign/tls", digest)});
  const std::string image = host + "/cosign/tls:1";
  std::string out;
  EXPECT_EQ(Verify("--cosign-key " + key_pem_ + " --registry-ca " + ca, image, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr(image + ": " + digest + " signed by cosign key " + key_pem_));
  // Another CA: the certificate fails and plain http is not tried instead.
  EXPECT_EQ(Verify("--cosign-key " + key_pem_ + " --registry-ca " + tb_.tls_dir + "/wrong-ca.pem",
                   image, &out),
            1)
      << out;
  EXPECT_THAT(out, HasSubstr("registry " + host +
                             " unreachable: SSL peer certificate or SSH remote key was not OK"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("over http")));
}

}  // namespace
}  // namespace stackctl::testing
