// Cosign verification against real registries that require credentials (issue
// 20): Debian's docker-registry 2.8 started by the test with TLS (the bed's CA)
// and either
//   * `auth: htpasswd` over a bcrypt file written by `htpasswd -B`, or
//   * `auth: token` with tests/tools/registry_token_server.py as its token
//     server (ES256 JWTs with an x5c header, checked against the registry's
//     rootcertbundle; pull granted per user and repository glob).
// Both registries serve the storage of the bed's open registry, so images and
// signatures are pushed there (as `cosign sign --key` would push them) and
// read through the authenticating registry, whose host:port the signatures
// name. Checked through the real `stackctl verify` / `stackctl diff` /
// `stackctl deploy` binaries and through the library (HttpRegistry +
// CosignVerifier): right credentials verify, wrong or missing ones give an
// error naming the registry and what refused them, a token server that is
// down fails closed under `require`, and nothing deploys when refused. The
// real stackctld reads the htpasswd registry with the CA and credentials of
// its `image_trust.registries` config (StackctldReadsSignatures...).
// NotaryTokenTest does the same for the Notary client's anonymous token flow
// against a notary-server with `auth: token`.
//
// Prerequisites beyond the bed: htpasswd (apache2-utils), python3 with
// cryptography, notary and notary-server (scripts/install-deps.sh); missing,
// the test fails under CI=true and skips elsewhere.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <tuple>

#include "common/crypto.h"
#include "integration/registry_pusher.h"
#include "integration/testbed.h"
#include "notary/cosign.h"
#include "notary/cosign_test_signer.h"
#include "notary/registry_client.h"

namespace stackctl::testing {
namespace {

using notary::testing::CosignTestKey;
using notary::testing::SignatureLayer;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAlicePassword[] = "alice-s3cret-7d1e";
constexpr char kBobPassword[] = "bob-s3cret-02af";
constexpr char kService[] = "stackctl-test-registry";
constexpr char kIssuer[] = "stackctl-test-token-issuer";

class RegistryAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTBED(tb_);
    std::string missing;
    std::string out;
    if (RunCommand("command -v htpasswd", &out) != 0) missing += " htpasswd (apache2-utils)";
    if (RunCommand("python3 -c 'import cryptography'", &out) != 0)
      missing += " python3-cryptography";
    if (!missing.empty()) {
      if (Env("CI") == "true") FAIL() << "registry auth tests need" << missing;
      GTEST_SKIP() << "missing" << missing << " (scripts/install-deps.sh)";
    }
    std::string tmpl = tb_.dir + "/regauth-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << tmpl << ": " << strerror(errno);
    dir_ = tmpl;
    ca_ = tb_.tls_dir + "/ca.pem";
    key_pem_ = dir_ + "/release.pub";
    WriteFile(key_pem_, key_.PublicPem());
    WriteFile(dir_ + "/alice.pass", std::string(kAlicePassword) + "\n");
    WriteFile(dir_ + "/bob.pass", kBobPassword);
    WriteFile(dir_ + "/wrong.pass", "not-the-password");
  }
  void TearDown() override {
    while (!pids_.empty()) Stop(pids_.begin()->first);
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Starts `cmd` (a shell command) in the background; its pid is also
  // recorded under the bed's pids/ so tests/testbed/down.sh stops it.
  void Spawn(const std::string& name, const std::string& cmd) {
    std::string out;
    ASSERT_EQ(
        RunCommand("setsid " + cmd + " >" + dir_ + "/" + name + ".log 2>&1 </dev/null & echo $!",
                   &out, false),
        0);
    pid_t pid = std::stoi(out);
    std::filesystem::create_directories(tb_.dir + "/pids");
    const std::string pid_file =
        tb_.dir + "/pids/regauth-" + name + "-" + std::to_string(pid) + ".pid";
    WriteFile(pid_file, std::to_string(pid));
    pids_[name] = {pid, pid_file};
  }
  void Stop(const std::string& name) {
    auto it = pids_.find(name);
    if (it == pids_.end()) return;
    kill(it->second.first, SIGTERM);
    // Not our child (started through sh): wait until it is gone.
    WaitFor([&] { return kill(it->second.first, 0) != 0; }, 10);
    std::remove(it->second.second.c_str());
    pids_.erase(it);
  }

  // A docker-registry with TLS and the given `auth:` section, serving the bed
  // registry's storage; its host:port once /v2/ answers 401.
  std::string StartRegistry(const std::string& name, const std::string& auth_yaml) {
    const std::string host = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
    const std::string conf = dir_ + "/" + name + ".yml";
    // clang-format off
    WriteFile(conf,
              "version: 0.1\n"
              "log: {level: info}\n"
              "storage: {filesystem: {rootdirectory: " + tb_.dir + "/registry}}\n"
              "http:\n"
              "  addr: " + host + "\n"
              "  tls: {certificate: " + tb_.tls_dir + "/server-cert.pem, key: " + tb_.tls_dir + "/server-key.pem}\n"
              "auth:\n" + auth_yaml);
    // clang-format on
    Spawn(name, "/usr/bin/docker-registry serve " + conf);
    EXPECT_TRUE(WaitFor(
        [&] { return RegistryHttp("GET", "https://" + host + "/v2/", "", "", ca_).status == 401; },
        20))
        << name << " did not start: " << ReadFile(dir_ + "/" + name + ".log");
    return host;
  }

  // StartRegistry with `auth: htpasswd` (realm stackctl-basic) where alice
  // has kAlicePassword, bcrypt-hashed by `htpasswd -B`.
  std::string StartHtpasswdRegistry() {
    std::string out;
    EXPECT_EQ(RunCommand("htpasswd -B -b -c " + dir_ + "/htpasswd alice " + kAlicePassword, &out),
              0)
        << out;
    EXPECT_THAT(ReadFile(dir_ + "/htpasswd"), HasSubstr("alice:$2y$")) << "not bcrypt";
    return StartRegistry("basic",
                         "  htpasswd: {realm: stackctl-basic, path: " + dir_ + "/htpasswd}\n");
  }

  // Pushes a small image to the bed's open registry as PATH:1 and signs it
  // with key_ for the repository HOST/PATH; its digest.
  std::string SignedImage(const std::string& host, const std::string& path) {
    const Pusher bed{"http://" + tb_.registry, ""};
    const std::string digest = bed.Image(path, "1");
    const std::string payload = notary::testing::SimpleSigningPayload(host + "/" + path, digest);
    bed.Sign(path, digest, {SignatureLayer{payload, key_.Sign(payload)}});
    return digest;
  }

  int Verify(const std::string& flags, const std::string& image, std::string* out) {
    return RunCommand(tb_.bin_dir + "/stackctl verify --cosign-key " + key_pem_ +
                          " --registry-ca " + ca_ + " " + flags + " " + image,
                      out);
  }
  static std::string Creds(const std::string& user, const std::string& file) {
    return "--registry-user " + user + " --registry-password-file " + file;
  }
  // `stackctl deploy` of a one-service stack using `image` under `require`;
  // the exit status, output in *out, and whether any service of the stack exists.
  int DeployRequire(const std::string& stack, const std::string& image, const std::string& flags,
                    std::string* out, bool* deployed) {
    WriteFile(dir_ + "/docker-compose.yml", "version: \"3.8\"\nservices:\n  app:\n    image: " +
                                                image + "\n    command: [\"sleep\", \"3600\"]\n");
    int rc = RunCommand(tb_.bin_dir + "/stackctl -H " + tb_.docker_host + " deploy -c " + dir_ +
                            "/docker-compose.yml --trust-policy require --cosign-key " + key_pem_ +
                            " --registry-ca " + ca_ + " " + flags + " --timeout 60s " + stack,
                        out);
    std::string services;
    RunCommand(tb_.docker_cli + " -H " + tb_.docker_host +
                   " service ls -q --filter label=com.docker.stack.namespace=" + stack,
               &services, false);
    *deployed = !Trim(services).empty();
    return rc;
  }
  // The library path: HttpRegistry with these credentials, then CosignVerifier.
  Result<notary::CosignVerdict> VerifyWithLibrary(notary::HttpRegistry& registry,
                                                  const std::string& image) {
    notary::CosignVerifier verifier(registry);
    ASSIGN_OR_RETURN(std::string digest, verifier.Digest(image));
    ASSIGN_OR_RETURN(notary::CosignKey key, notary::LoadCosignKey(key_pem_));
    return verifier.Verify(image, digest, notary::CosignOptions{{key}, {}});
  }
  notary::RegistryOptions Access(const std::string& user, const std::string& password_file) const {
    notary::RegistryOptions o;
    o.default_access.ca_file = ca_;
    o.default_access.username = user;
    o.default_access.password_file = password_file;
    return o;
  }

  Testbed tb_;
  std::string dir_, ca_, key_pem_;
  CosignTestKey key_;
  std::map<std::string, std::pair<pid_t, std::string>> pids_;  // name -> pid, pid file
};

TEST_F(RegistryAuthTest, HtpasswdRegistryVerifiesWithTheRightCredentialsOnly) {
  const std::string host = StartHtpasswdRegistry();
  std::string out;
  const std::string path = "auth/basic";
  const std::string digest = SignedImage(host, path);
  const std::string image = host + "/" + path + ":1";

  EXPECT_EQ(Verify(Creds("alice", dir_ + "/alice.pass"), image, &out), 0) << out;
  EXPECT_EQ(out, image + ": " + digest + " signed by cosign key " + key_pem_ + " (" + host + "/" +
                     path + "@" + digest + ")\n");

  EXPECT_EQ(Verify(Creds("alice", dir_ + "/wrong.pass"), image, &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("registry " + host + ": credentials of alice refused for " + path +
                             " (HTTP 401)"));
  EXPECT_EQ(Verify(Creds("mallory", dir_ + "/alice.pass"), image, &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("registry " + host + ": credentials of mallory refused for " + path +
                             " (HTTP 401)"));
  EXPECT_EQ(Verify("", image, &out), 1) << out;
  EXPECT_THAT(
      out, HasSubstr("registry " + host +
                     ": authentication required (Basic realm=\"stackctl-basic\"); no credentials "
                     "configured"));

  // Under require a refused image deploys nothing; with the right password
  // the pinned revision would go on (not deployed here: this image does not run).
  bool deployed = true;
  EXPECT_NE(
      DeployRequire("regauthbasic", image, Creds("alice", dir_ + "/wrong.pass"), &out, &deployed),
      0)
      << out;
  EXPECT_THAT(out, HasSubstr("service app: image " + image));
  EXPECT_THAT(out, HasSubstr("credentials of alice refused"));
  EXPECT_FALSE(deployed) << "a refused revision must change nothing";

  // The library, one HttpRegistry per credential set.
  notary::HttpRegistry right(Access("alice", dir_ + "/alice.pass"));
  auto ok = VerifyWithLibrary(right, image);
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->digest, digest);
  EXPECT_EQ(ok->key, key_pem_);
  notary::HttpRegistry wrong(Access("alice", dir_ + "/wrong.pass"));
  auto refused = VerifyWithLibrary(wrong, image);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kPermissionDenied);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("registry " + host + ": credentials of alice refused"));
}

// The real stackctld: its `image_trust` rule requires a cosign signature by
// key_ for the htpasswd registry's auth/* and its `image_trust.registries`
// entry gives that registry's CA and alice's credentials. The stack names the
// image by digest and runs 0 replicas, so stackctld alone reads the registry
// (dockerd, which has no credentials for it, never pulls).
TEST_F(RegistryAuthTest, StackctldReadsSignaturesWithItsConfiguredCredentials) {
  const std::string host = StartHtpasswdRegistry();
  const std::string path = "auth/daemon";
  const std::string signed_image = host + "/" + path + "@" + SignedImage(host, path);
  const std::string unsigned_digest = Pusher{"http://" + tb_.registry, ""}.Image(path, "2");
  const std::string unsigned_image = host + "/" + path + "@" + unsigned_digest;

  const std::string daemon = dir_ + "/daemon", repo = daemon + "/repo";
  std::filesystem::create_directories(repo + "/app");
  const std::string stack = "regauthd" + std::to_string(getpid() % 100000);
  auto commit = [&](const std::string& image, const std::string& message) {
    WriteFile(repo + "/app/docker-compose.yml",
              "version: \"3.8\"\nservices:\n  app:\n    image: " + image +
                  "\n    command: [\"sleep\", \"3600\"]\n    deploy: {replicas: 0}\n"
                  "    labels: {commit: " +
                  message + "}\n");
    return GitInRepo(repo, "add -A && git commit -qm " + message);
  };
  const int port = FreeLoopbackPort();
  WriteFile(daemon + "/api-token", "regauth-api-t0ken");
  auto start = [&](const std::string& password_file) {
    // clang-format off
    WriteFile(daemon + "/stackctld.yml",
              "engine: {host: \"" + tb_.docker_host + "\"}\n"
              "state_dir: " + daemon + "/state\n"
              "http: {listen: \"127.0.0.1:" + std::to_string(port) + "\", api_token_file: api-token}\n"
              "repositories:\n"
              "  - {name: repo, url: \"file://" + repo + "\", branch: main, poll_interval: 1h}\n"
              "defaults:\n"
              "  timeout: 1m\n"
              "  image_trust:\n"
              "    registries:\n"
              "      \"" + host + "\": {ca_file: " + ca_ + ", username: alice, password_file: " + password_file + "}\n"
              "    rules:\n"
              "      - {images: \"" + host + "/auth/*\", policy: require, signatures: [cosign], cosign_keys: [\"" + key_pem_ + "\"]}\n"
              "stacks:\n"
              "  - {name: " + stack + ", repository: repo, path: app}\n");
    // clang-format on
    auto ctl = std::make_unique<Stackctld>(tb_, daemon, port, "regauth-api-t0ken");
    EXPECT_TRUE(ctl->Start()) << ctl->Log();
    return ctl;
  };
  auto sync = [&](Stackctld& ctl) {
    auto r = ctl.Api("POST", "/api/v1/stacks/" + stack + "/sync?wait=true&timeout=1m");
    return std::make_pair(r.first, nlohmann::json::parse(r.second, nullptr, false));
  };
  auto app_spec = [&] {
    return Trim(tb_.Docker("service inspect --format '{{.Version.Index}} {{json .Spec}}' " + stack +
                           "_app"));
  };
  auto app_image = [&] {
    return Trim(
        tb_.Docker("service inspect --format "
                   "'{{.Spec.TaskTemplate.ContainerSpec.Image}} {{index .Spec.Labels "
                   "\"io.stackctl.revision\"}}' " +
                   stack + "_app"));
  };
  // A refused commit: 422 on the waited sync, the stack Failed with `why`,
  // the commit not its revision, the service as it was.
  auto expect_refused = [&](Stackctld& ctl, const std::string& commit_id, const std::string& image,
                            const std::string& why, const std::string& spec) {
    auto [status, op] = sync(ctl);
    EXPECT_EQ(status, 422) << op.dump() << ctl.Log();
    EXPECT_EQ(op.value("state", ""), "failed") << op.dump();
    EXPECT_EQ(op.value("revision", ""), commit_id) << op.dump();
    const std::string error = op["error"].value("message", "");
    EXPECT_THAT(error, HasSubstr("service app: image " + image + ": ")) << op.dump();
    EXPECT_THAT(error, HasSubstr(why)) << op.dump();
    nlohmann::json s = ctl.Stack(stack);
    EXPECT_EQ(s.value("sync", ""), "Failed") << s.dump();
    EXPECT_THAT(s.value("last_error", ""), HasSubstr(why)) << s.dump();
    EXPECT_NE(s.value("revision", ""), commit_id) << s.dump();
    EXPECT_EQ(app_spec(), spec) << "a refused commit must change nothing";
  };

  std::string out;
  ASSERT_EQ(RunCommand("git init -q -b main " + repo, &out), 0) << out;
  const std::string c1 = commit(signed_image, "signed");
  auto ctl = start(dir_ + "/alice.pass");
  auto [status, op] = sync(*ctl);
  ASSERT_EQ(status, 200) << op.dump() << ctl->Log();
  nlohmann::json s = ctl->Stack(stack);
  EXPECT_EQ(s.value("sync", ""), "Synced") << s.dump();
  EXPECT_EQ(s.value("revision", ""), c1) << s.dump();
  EXPECT_EQ(app_image(), signed_image + " " + c1);
  const std::string spec = app_spec();

  // Another digest of the same repository, never signed.
  const std::string c2 = commit(unsigned_image, "unsigned");
  expect_refused(*ctl, c2, unsigned_image,
                 "cosign: not signed (no sha256-" + unsigned_digest.substr(7) + ".sig in " + host +
                     "/" + path + ")",
                 spec);

  // Back to the signed digest, but stackctld now holds a wrong password:
  // refused, with the registry and the refused credentials named.
  ctl.reset();
  const std::string c3 = commit(signed_image, "signed-again");
  ctl = start(dir_ + "/wrong.pass");
  expect_refused(*ctl, c3, signed_image,
                 "registry " + host + ": credentials of alice refused for " + path + " (HTTP 401)",
                 spec);

  // The same commit with the right password: the password was the only obstacle.
  ctl.reset();
  ctl = start(dir_ + "/alice.pass");
  std::tie(status, op) = sync(*ctl);
  EXPECT_EQ(status, 200) << op.dump() << ctl->Log();
  EXPECT_EQ(ctl->Stack(stack).value("revision", ""), c3);
  EXPECT_EQ(app_image(), signed_image + " " + c3);
  ctl.reset();
  RunCommand("DOCKER_HOST=" + tb_.docker_host + " " + tb_.bin_dir + "/stackctl rm " + stack, &out);
}

class TokenRegistryTest : public RegistryAuthTest {
 protected:
  void SetUp() override {
    RegistryAuthTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    WriteFile(dir_ + "/token-users",
              std::string("alice:") + kAlicePassword + "\nbob:" + kBobPassword + "\n");
    StartTokenServer(kService, "--grant 'alice=auth/*'", "");
    if (HasFatalFailure()) return;
    host_ = StartRegistry("token-registry",
                          "  token:\n    realm: " + realm_ + "\n    service: " + kService +
                              "\n    issuer: " + kIssuer + "\n    rootcertbundle: " + dir_ +
                              "/token-signing.pem\n");
  }
  // Starts tests/tools/registry_token_server.py on a free loopback port with
  // a new ES256 signing key and its self-signed certificate
  // (dir_/token-signing.{key,pem}: the verifier's rootcertbundle), the users
  // of dir_/token-users and `grants` (its --grant/--push-grant/
  // --anonymous-pull options), for `service`; waits until GET realm_ + `probe`
  // answers (401 without credentials, or 200 for an anonymous pull).
  void StartTokenServer(const std::string& service, const std::string& grants, const std::string& probe) {
    std::string out;
    ASSERT_EQ(
        RunCommand("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
                   "-subj '/CN=stackctl test token issuer' -keyout " +
                       dir_ + "/token-signing.key -out " + dir_ + "/token-signing.pem",
                   &out),
        0)
        << out;
    token_port_ = FreeLoopbackPort();
    realm_ = "https://127.0.0.1:" + std::to_string(token_port_) + "/token";
    token_log_ = dir_ + "/token-requests.jsonl";
    // clang-format off
    Spawn("token", "python3 " STACKCTL_SOURCE_DIR "/tests/tools/registry_token_server.py"
          " --listen 127.0.0.1:" + std::to_string(token_port_) +
          " --tls-cert " + tb_.tls_dir + "/server-cert.pem --tls-key " + tb_.tls_dir + "/server-key.pem"
          " --signing-key " + dir_ + "/token-signing.key --signing-cert " + dir_ + "/token-signing.pem"
          " --issuer " + kIssuer + " --service " + service + " --users " + dir_ + "/token-users " +
          grants + " --log " + token_log_);
    // clang-format on
    ASSERT_TRUE(WaitFor(
        [&] {
          const int status = RegistryHttp("GET", realm_ + probe, "", "", ca_).status;
          return probe.empty() ? status == 401 : status == 200;
        },
        20))
        << "token server did not start: " << ReadFile(dir_ + "/token.log");
    TokenRequests();  // not the readiness probe
  }
  // The token server's log lines since the last call.
  std::vector<nlohmann::json> TokenRequests() {
    std::vector<nlohmann::json> lines;
    std::istringstream in(ReadFile(token_log_).substr(seen_));
    std::string line;
    while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
    seen_ = ReadFile(token_log_).size();
    return lines;
  }

  int token_port_ = 0;
  std::string realm_, token_log_, host_;
  size_t seen_ = 0;
};

TEST_F(TokenRegistryTest, ClientFollowsTheChallengeAndVerifiesWithAGrantedToken) {
  const std::string path = "auth/bearer";
  const std::string digest = SignedImage(host_, path);
  const std::string image = host_ + "/" + path + ":1";
  TokenRequests();
  std::string out;
  EXPECT_EQ(Verify(Creds("alice", dir_ + "/alice.pass"), image, &out), 0) << out;
  EXPECT_EQ(out, image + ": " + digest + " signed by cosign key " + key_pem_ + " (" + host_ + "/" +
                     path + "@" + digest + ")\n");
  // One token for the repository (cached for the manifest, signature and
  // blob reads), asked for the challenge's service and pull on this path only.
  auto requests = TokenRequests();
  ASSERT_EQ(requests.size(), 1u) << out;
  EXPECT_EQ(requests[0]["user"], "alice");
  EXPECT_EQ(requests[0]["service"], kService);
  EXPECT_EQ(requests[0]["scopes"], nlohmann::json::array({"repository:" + path + ":pull"}));
  EXPECT_EQ(requests[0]["status"], 200);

  // The library: the same, and its token cache spans calls.
  notary::HttpRegistry registry(Access("alice", dir_ + "/alice.pass"));
  auto verdict = VerifyWithLibrary(registry, image);
  ASSERT_TRUE(verdict.ok()) << verdict.status().message();
  EXPECT_EQ(verdict->digest, digest);
  ASSERT_TRUE(VerifyWithLibrary(registry, image).ok());
  EXPECT_EQ(TokenRequests().size(), 1u);
}

TEST_F(TokenRegistryTest, RefusedCredentialsAndScopesGiveClearErrors) {
  const std::string path = "auth/bearer-refused";
  SignedImage(host_, path);
  const std::string image = host_ + "/" + path + ":1";
  std::string out;
  EXPECT_EQ(Verify(Creds("alice", dir_ + "/wrong.pass"), image, &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("registry " + host_ + ": token server " + realm_ +
                             " refused the credentials of alice (HTTP 401)"));
  EXPECT_EQ(Verify("", image, &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("registry " + host_ + ": token server " + realm_ +
                             " refused anonymous access (HTTP 401)"));
  // Bob's credentials are good but grant him nothing here: the token comes
  // without the scope and the registry says so.
  EXPECT_EQ(Verify(Creds("bob", dir_ + "/bob.pass"), image, &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("registry " + host_ + ": access to " + path +
                             " denied (HTTP 401, insufficient_scope)"));
  auto requests = TokenRequests();
  ASSERT_EQ(requests.size(), 3u) << nlohmann::json(requests).dump();
  EXPECT_EQ(requests[2]["user"], "bob");
  EXPECT_EQ(requests[2]["access"], nlohmann::json::array());
}

TEST_F(TokenRegistryTest, TokenServerDownFailsClosedUnderRequire) {
  const std::string path = "auth/bearer-down";
  SignedImage(host_, path);
  const std::string image = host_ + "/" + path + ":1";
  Stop("token");
  std::string out;
  EXPECT_EQ(Verify(Creds("alice", dir_ + "/alice.pass"), image, &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("registry " + host_ + ": token server " + realm_ + " unreachable: "));
  bool deployed = true;
  EXPECT_NE(
      DeployRequire("regauthtoken", image, Creds("alice", dir_ + "/alice.pass"), &out, &deployed),
      0)
      << out;
  EXPECT_THAT(out, HasSubstr("service app: image " + image));
  EXPECT_THAT(out, HasSubstr("token server " + realm_ + " unreachable"));
  EXPECT_FALSE(deployed) << "a refused revision must change nothing";

  notary::HttpRegistry registry(Access("alice", dir_ + "/alice.pass"));
  auto down = VerifyWithLibrary(registry, image);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), Code::kUnavailable);
  EXPECT_THAT(down.status().message(), HasSubstr("token server " + realm_ + " unreachable"));
}

// The Notary client's token flow (src/notary/http_source.cc): a notary-server
// (local signing service, memory storage) with `auth: token` and the same
// token server, which grants a publisher push and anyone pull on the GUNs.
// The test publishes with the notary CLI (NOTARY_AUTH), then `stackctl
// verify` reads the TUF metadata anonymously through the token flow.
class NotaryTokenTest : public TokenRegistryTest {
 protected:
  void SetUp() override {
    RegistryAuthTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    std::string out;
    if (RunCommand("command -v notary && command -v notary-server", &out) != 0) {
      if (Env("CI") == "true") FAIL() << "the Notary token test needs notary and notary-server";
      GTEST_SKIP() << "missing notary / notary-server (scripts/install-deps.sh)";
    }
    WriteFile(dir_ + "/token-users", "publisher:pub-s3cret-41c9\n");
    StartTokenServer("notary-test",
                     "--push-grant 'publisher=" + tb_.registry + "/notarytoken/*' --anonymous-pull '" +
                         tb_.registry + "/notarytoken/*'",
                     "?service=notary-test");
    if (HasFatalFailure()) return;
    notary_url_ = "https://127.0.0.1:" + std::to_string(FreeLoopbackPort());
    // clang-format off
    WriteFile(dir_ + "/notary-server.json",
              "{\"server\": {\"http_addr\": \"" + notary_url_.substr(8) + "\", \"tls_cert_file\": \"" +
                  tb_.tls_dir + "/server-cert.pem\", \"tls_key_file\": \"" + tb_.tls_dir + "/server-key.pem\"},\n"
              " \"trust_service\": {\"type\": \"local\"}, \"storage\": {\"backend\": \"memory\"},\n"
              " \"logging\": {\"level\": \"info\"},\n"
              " \"auth\": {\"type\": \"token\", \"options\": {\"realm\": \"" + realm_ +
                  "\", \"service\": \"notary-test\", \"issuer\": \"" + kIssuer +
                  "\", \"rootcertbundle\": \"" + dir_ + "/token-signing.pem\"}}}\n");
    // clang-format on
    Spawn("notary-server", "notary-server -config " + dir_ + "/notary-server.json");
    ASSERT_TRUE(WaitFor(
        [&] {
          return RegistryHttp("GET", notary_url_ + "/_notary_server/health", "", "", ca_).status ==
                 200;
        },
        20))
        << "notary-server did not start: " << ReadFile(dir_ + "/notary-server.log");
  }
  // Publishes GUN:tag -> digest (size bytes) with the notary CLI as the publisher.
  void Publish(const std::string& gun, const std::string& tag, const std::string& digest,
               size_t size) {
    const std::string notary =
        "NOTARY_ROOT_PASSPHRASE=root-pass-8812 NOTARY_TARGETS_PASSPHRASE=targets-pass-8812 "
        "NOTARY_SNAPSHOT_PASSPHRASE=snapshot-pass-8812 NOTARY_AUTH=" +
        Base64Encode("publisher:pub-s3cret-41c9") + " notary -s " + notary_url_ + " -d " + dir_ +
        "/publisher --tlscacert " + ca_ + " ";
    std::string out;
    ASSERT_EQ(RunCommand(notary + "init " + gun + " && " + notary + "addhash " + gun + " " + tag +
                             " " + std::to_string(size) + " --sha256 " + digest.substr(7) + " && " +
                             notary + "publish " + gun,
                         &out),
              0)
        << out;
  }
  int VerifyNotary(const std::string& image, std::string* out) {
    return RunCommand(tb_.bin_dir + "/stackctl verify --trust-dir " + dir_ +
                          "/verifier --trust-server " + notary_url_ + " --trust-ca " + ca_ + " " +
                          image,
                      out);
  }

  std::string notary_url_;
};

TEST_F(NotaryTokenTest, NotaryMetadataIsReadThroughAnAnonymousToken) {
  const std::string gun = tb_.registry + "/notarytoken/app";
  const std::string digest = "sha256:" + Sha256Hex("a manifest signed through Notary");
  Publish(gun, "1", digest, 321);
  TokenRequests();
  std::string out;
  EXPECT_EQ(VerifyNotary(gun + ":1", &out), 0) << out;
  EXPECT_EQ(out, gun + ":1: " + digest + " signed by targets (" + gun + "@" + digest + ")\n");
  // Anonymous, pull on this GUN only.
  auto requests = TokenRequests();
  // One token for the verification's four metadata files (kept per GUN).
  ASSERT_EQ(requests.size(), 1u) << nlohmann::json(requests).dump();
  for (const auto& r : requests) {
    EXPECT_EQ(r["user"], nullptr);
    EXPECT_EQ(r["service"], "notary-test");
    EXPECT_EQ(r["scopes"], nlohmann::json::array({"repository:" + gun + ":pull"}));
    EXPECT_EQ(r["status"], 200);
  }

  // A GUN the token server grants nobody: Notary answers 401 with the token.
  EXPECT_EQ(VerifyNotary(tb_.registry + "/elsewhere/app:1", &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("notary server " + notary_url_ + " returned HTTP 401 for root.json"));

  // The token server down: the error names it, and verification fails closed.
  Stop("token");
  EXPECT_EQ(VerifyNotary(gun + ":1", &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("notary server " + notary_url_ + ": token server " + realm_ +
                             " unreachable: "));
}

}  // namespace
}  // namespace stackctl::testing
