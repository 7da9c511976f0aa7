// stackctld with cosign trust rules end to end (issues 20 and 22): the real
// stackctld against the test-bed swarm and registry, its stack under an
// `image_trust` rule that requires a cosign signature by one key for the
// repositories 127.0.0.1:5000/trust/*. The bed's runnable busybox is copied
// into three repositories of that pattern (same digest): one signed with the
// configured key, one not signed, one signed with another key (signatures
// pushed as `cosign sign --key` does, notary/cosign_test_signer.h). A generic
// JSON webhook (cpp-httplib on loopback) records the notifications.
//
// The signed commit runs pinned to its digest. A commit that uses the
// unsigned image, and one that uses the image signed by another key, are
// refused: the API names the service and the image, nothing of them is
// applied (no new service, no new secret version, the old service spec
// untouched), and the webhook hears exactly one image_refused per commit,
// however often the commit is synced, with no secret in it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "integration/registry_pusher.h"
#include "integration/testbed.h"
#include "notary/cosign_test_signer.h"

namespace stackctl::testing {
namespace {

namespace fs = std::filesystem;
using notary::testing::CosignTestKey;
using notary::testing::SignatureLayer;
using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

constexpr char kApiToken[] = "api-t0ken-4a7c";
constexpr char kHookKey[] = "hmac-k3y-91f0";
constexpr char kSecretValue1[] = "db-passw0rd-one-5e2b";
constexpr char kSecretValue2[] = "db-passw0rd-two-c81d";

struct Received {
  std::string event, signature, body;
};

class ImageTrustE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTBED(tb_);
    dir_ = fs::path(tb_.dir) / ("image-trust-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "repo" / "app");
    stack_ = "it" + std::to_string(getpid() % 100000);

    // The images: the bed's busybox, copied byte for byte into trust/*.
    const Pusher registry{"http://" + tb_.registry, ""};
    const std::string from =
        tb_.image.substr(tb_.registry.size() + 1, tb_.image.rfind(':') - tb_.registry.size() - 1);
    for (const char* name : {"signed", "unsigned", "other"}) {
      ASSERT_EQ(registry.Copy(from, tb_.image_digest, Path(name), "1"), tb_.image_digest) << name;
    }
    registry.Sign(Path("signed"), tb_.image_digest, {Layer(key_, "signed")});
    registry.Sign(Path("other"), tb_.image_digest, {Layer(other_, "other")});
    Write("keys/release.pub", key_.PublicPem());

    // The notification target.
    hook_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> l(mu_);
      received_.push_back(
          {req.get_header_value("X-Event"), req.get_header_value("X-Signature"), req.body});
      res.status = 204;
    });
    const int hook_port = hook_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(hook_port, 0);
    hook_thread_ = std::thread([this] { hook_.listen_after_bind(); });

    WriteApp("signed", kSecretValue1);
    Git("init -q -b main && git add -A && git commit -qm signed");
    port_ = FreeLoopbackPort();
    Write("api-token", kApiToken);
    Write("hook-hmac", kHookKey);
    // clang-format off
    Write("stackctld.yml",
          "engine: {host: \"" + tb_.docker_host + "\"}\n"
          "state_dir: " + (dir_ / "state").string() + "\n"
          "http: {listen: \"127.0.0.1:" + std::to_string(port_) + "\", api_token_file: api-token}\n"
          "repositories:\n"
          "  - {name: repo, url: \"file://" + (dir_ / "repo").string() + "\", branch: main, poll_interval: 1h}\n"
          "defaults:\n"
          "  timeout: 2m\n"
          "  rollout: {parallelism: 0}\n"
          "  image_trust:\n"
          "    rules:\n"
          "      - images: \"" + tb_.registry + "/trust/*\"\n"
          "        policy: require\n"
          "        signatures: [cosign]\n"
          "        cosign_keys: [\"" + KeyFile() + "\"]\n"
          "stacks:\n"
          "  - {name: " + stack_ + ", repository: repo, path: app}\n"
          "notifications:\n"
          "  timeout: 5s\n"
          "  targets:\n"
          "    - {name: ci, type: webhook, url: \"http://127.0.0.1:" + std::to_string(hook_port) +
              "/hook\", secret_file: hook-hmac}\n");
    // clang-format on
    ctl_ = std::make_unique<Stackctld>(tb_, dir_.string(), port_, kApiToken);
    ASSERT_TRUE(ctl_->Start()) << ctl_->Log();
  }

  void TearDown() override {
    if (tb_.docker_host.empty()) return;
    ctl_.reset();
    hook_.stop();
    if (hook_thread_.joinable()) hook_thread_.join();
    std::string out;
    RunCommand("DOCKER_HOST=" + tb_.docker_host + " " + tb_.bin_dir + "/stackctl rm " + stack_,
               &out);
    fs::remove_all(dir_);
  }

  std::string KeyFile() const { return (dir_ / "keys" / "release.pub").string(); }
  static std::string Path(const std::string& name) { return "trust/" + name; }
  std::string Image(const std::string& name) const {
    return tb_.registry + "/" + Path(name) + ":1";
  }
  SignatureLayer Layer(const CosignTestKey& key, const std::string& name) const {
    std::string payload =
        notary::testing::SimpleSigningPayload(tb_.registry + "/" + Path(name), tb_.image_digest);
    return {payload, key.Sign(payload)};
  }
  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories((dir_ / rel).parent_path());
    std::ofstream(dir_ / rel) << text;
  }
  // The stack: `web` runs `image` with the secret db_pass (from the repository);
  // `extra` services run the signed image.
  void WriteApp(const std::string& image, const std::string& secret, bool extra = false) {
    Write("repo/app/db_pass.txt", secret);
    std::string compose = "version: \"3.8\"\nservices:\n  web:\n    image: " + Image(image) +
                          "\n    command: [\"sleep\", \"3600\"]\n    secrets: [db_pass]\n";
    if (extra) {
      compose +=
          "  extra:\n    image: " + Image("signed") + "\n    command: [\"sleep\", \"3600\"]\n";
    }
    compose += "secrets:\n  db_pass:\n    file: ./db_pass.txt\n";
    Write("repo/app/docker-compose.yml", compose);
  }
  std::string Git(const std::string& cmd) { return GitInRepo((dir_ / "repo").string(), cmd); }
  Json Stack() { return ctl_->Stack(stack_); }
  // POST .../sync?wait=true: {HTTP status, the operation}.
  std::pair<int, Json> Sync() {
    auto r = ctl_->Api("POST", "/api/v1/stacks/" + stack_ + "/sync?wait=true&timeout=2m");
    return {r.first, Json::parse(r.second, nullptr, false)};
  }
  // What the swarm runs: `docker service ls` of the stack and web's spec.
  std::string Services() {
    return Trim(tb_.Docker(
        "service ls --format '{{.Name}}' --filter label=com.docker.stack.namespace=" + stack_));
  }
  std::string Secrets() {
    return Trim(tb_.Docker(
        "secret ls --format '{{.Name}}' --filter label=com.docker.stack.namespace=" + stack_));
  }
  std::string WebSpec() {
    return Trim(tb_.Docker("service inspect --format '{{.Version.Index}} {{json .Spec}}' " +
                           stack_ + "_web"));
  }
  std::vector<Received> Notifications() {
    std::lock_guard<std::mutex> l(mu_);
    return received_;
  }
  // The image_refused notifications of `commit`.
  std::vector<Json> Refusals(const std::string& commit) {
    std::vector<Json> out;
    for (const Received& r : Notifications()) {
      Json j = Json::parse(r.body, nullptr, false);
      if (j.value("event", "") == "image_refused" && j.value("commit", "") == commit)
        out.push_back(j);
    }
    return out;
  }
  // A refused commit: the waited sync fails with the image named; the
  // status says so; the swarm runs what it ran; one notification.
  void ExpectRefused(const std::string& commit, const std::string& image, const std::string& why,
                     const std::string& services, const std::string& secrets,
                     const std::string& web_spec) {
    auto [status, op] = Sync();
    EXPECT_EQ(status, 422) << op.dump();
    EXPECT_EQ(op.value("state", ""), "failed") << op.dump();
    EXPECT_EQ(op.value("revision", ""), commit) << op.dump();
    const std::string head = "service web: image " + Image(image) + ": ";
    const std::string error = op["error"].value("message", "");
    EXPECT_THAT(error, HasSubstr(head)) << op.dump();
    EXPECT_THAT(error, HasSubstr(why)) << op.dump();
    Json s = Stack();
    EXPECT_EQ(s.value("sync", ""), "Failed") << s.dump();
    EXPECT_THAT(s.value("last_error", ""), HasSubstr(head)) << s.dump();
    EXPECT_THAT(s.value("last_error", ""), HasSubstr(why)) << s.dump();
    EXPECT_NE(s.value("revision", ""), commit) << "a refused commit is not the stack's revision";
    // Nothing half-applied: no `extra`, no new secret version, web untouched.
    EXPECT_EQ(Services(), services);
    EXPECT_EQ(Secrets(), secrets);
    EXPECT_EQ(WebSpec(), web_spec);
    // Exactly one notification for the commit, naming stack, service and image.
    ASSERT_TRUE(WaitFor([&] { return !Refusals(commit).empty(); }, 20)) << ctl_->Log();
    auto refusals = Refusals(commit);
    ASSERT_EQ(refusals.size(), 1u);
    const Json& n = refusals[0];
    EXPECT_EQ(n.value("stack", ""), stack_);
    EXPECT_EQ(n.value("repository", ""), "file://" + (dir_ / "repo").string());
    EXPECT_THAT(n.value("message", ""), HasSubstr(head));
    EXPECT_THAT(n.value("message", ""), HasSubstr(why));
  }

  Testbed tb_;
  fs::path dir_;
  std::string stack_;
  int port_ = 0;
  CosignTestKey key_, other_;
  httplib::Server hook_;
  std::thread hook_thread_;
  std::mutex mu_;
  std::vector<Received> received_;
  std::unique_ptr<Stackctld> ctl_;
};

TEST_F(ImageTrustE2E, SignedCommitRunsPinnedOthersAreRefusedWithOneNotificationEach) {
  const std::string c1 = Git("rev-parse HEAD >/dev/null");
  ASSERT_TRUE(WaitFor([&] { return Stack().value("sync", "") == "Synced"; }, 60))
      << Stack().dump() << ctl_->Log();
  EXPECT_EQ(Stack()["revision"], c1);
  EXPECT_EQ(Trim(tb_.Docker("service inspect --format "
                            "'{{.Spec.TaskTemplate.ContainerSpec.Image}} {{index .Spec.Labels "
                            "\"io.stackctl.revision\"}}' " +
                            stack_ + "_web")),
            Image("signed") + "@" + tb_.image_digest + " " + c1);
  ASSERT_TRUE(WaitFor(
      [&] {
        return Trim(tb_.Docker("service ls --format '{{.Replicas}}' --filter name=" + stack_ +
                               "_web")) == "1/1";
      },
      60))
      << "the signed image does not run";
  const std::string services = Services(), secrets = Secrets(), web_spec = WebSpec();
  EXPECT_EQ(services, stack_ + "_web");
  ASSERT_THAT(secrets, ::testing::StartsWith(stack_ + "_db_pass-"));

  // web moves to the unsigned image, a new secret value and a new service come along.
  WriteApp("unsigned", kSecretValue2, /*extra=*/true);
  const std::string c2 = Git("commit -qam unsigned");
  ExpectRefused(c2, "unsigned",
                "cosign: not signed (no sha256-" + tb_.image_digest.substr(7) + ".sig in " +
                    tb_.registry + "/" + Path("unsigned") + ")",
                services, secrets, web_spec);
  // Synced again, refused again: still one notification for the commit.
  EXPECT_EQ(Sync().first, 422);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(Refusals(c2).size(), 1u);

  // Signed, but by a key the rule does not list.
  WriteApp("other", kSecretValue2, /*extra=*/true);
  const std::string c3 = Git("commit -qam other-key");
  ExpectRefused(c3, "other", "signature 1: signature does not verify with key " + KeyFile(),
                services, secrets, web_spec);
  EXPECT_EQ(Stack()["revision"], c1);
  EXPECT_EQ(
      Trim(tb_.Docker("service ls --format '{{.Replicas}}' --filter name=" + stack_ + "_web")),
      "1/1");

  // Every notification: an image_refused, signed with the target's key, no secret in it.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  auto all = Notifications();
  EXPECT_EQ(all.size(), 2u);
  for (const Received& r : all) {
    EXPECT_EQ(r.event, "image_refused") << r.body;
    EXPECT_EQ(r.signature, "sha256=" + HmacSha256Hex(kHookKey, r.body)) << r.body;
    for (const char* secret : {kApiToken, kHookKey, kSecretValue1, kSecretValue2}) {
      EXPECT_THAT(r.body, Not(HasSubstr(secret)));
    }
  }
  EXPECT_EQ(ctl_->Metric("stackctl_notifications_sent_total{kind=\"webhook\"}"), 2);
}

}  // namespace
}  // namespace stackctl::testing
