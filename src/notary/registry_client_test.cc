#include <unistd.h>
#include "notary/registry_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/crypto.h"

namespace stackctl::notary {
namespace {

using ::testing::HasSubstr;

// A registry on loopback (plain http, port 0) with either Bearer-token or
// Basic auth in front of one manifest and one blob.
class AuthRegistry {
 public:
  enum class Auth { kBearer, kBasic };
  explicit AuthRegistry(Auth auth) {
    server_.Get("/token", [this](const httplib::Request& req, httplib::Response& res) {
      ++token_calls;
      token_query = req.get_param_value("service") + " " + req.get_param_value("scope");
      token_authorization = req.get_header_value("Authorization");
      res.set_content(R"({"token":"tok-123"})", "application/json");
    });
    server_.Get(R"(/v2/apps/web/(manifests|blobs)/(.*))", [this, auth](const httplib::Request& req,
                                                                       httplib::Response& res) {
      const std::string got = req.get_header_value("Authorization");
      const bool ok = auth == Auth::kBearer ? got == "Bearer tok-123"
                                            : got == "Basic " + Base64Encode("deploy:s3cret");
      if (!ok) {
        res.status = 401;
        res.set_header("WWW-Authenticate",
                       auth == Auth::kBearer
                           ? "Bearer realm=\"http://127.0.0.1:" + std::to_string(port_) +
                                 "/token\",service=\"test-registry\",scope=\"x\""
                           : std::string("Basic realm=\"test\""));
        return;
      }
      if (req.matches[1] == "manifests" && req.matches[2] == "1.0") {
        res.set_content(kManifest, "application/vnd.oci.image.manifest.v1+json");
      } else if (req.matches[1] == "blobs" && req.matches[2] == "sha256:" + Sha256Hex("blob")) {
        res.set_content("blob", "application/octet-stream");
      } else {
        res.status = 404;
      }
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~AuthRegistry() {
    server_.stop();
    thread_.join();
  }
  std::string name() const { return "127.0.0.1:" + std::to_string(port_); }

  static constexpr char kManifest[] = R"({"schemaVersion":2})";
  std::atomic<int> token_calls{0};
  std::string token_query, token_authorization;

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

std::string PasswordFile(const std::string& content) {
  std::string dir = ::testing::TempDir();
  // One file per test and process: ctest runs the tests of this file in
  // parallel processes, and a shared path let one test read another's password.
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string path = dir + "/registry_client_test_password." + info->name() + "." + std::to_string(getpid());
  std::ofstream(path) << content << "\n";
  return path;
}

TEST(HttpRegistryTest, BearerTokenFlowOverPlainHttpOnLoopback) {
  AuthRegistry reg(AuthRegistry::Auth::kBearer);
  HttpRegistry client({});
  auto m = client.GetManifest(reg.name(), "apps/web", "1.0");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->body, AuthRegistry::kManifest);
  EXPECT_EQ(m->digest, "sha256:" + Sha256Hex(AuthRegistry::kManifest));
  EXPECT_EQ(m->media_type, "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(reg.token_query, "test-registry repository:apps/web:pull");
  EXPECT_EQ(reg.token_authorization, "");  // anonymous
  // The token is reused for the repository's blobs.
  auto blob = client.GetBlob(reg.name(), "apps/web", "sha256:" + Sha256Hex("blob"), 100);
  ASSERT_TRUE(blob.ok()) << blob.status().message();
  EXPECT_EQ(*blob, "blob");
  EXPECT_EQ(reg.token_calls, 1);
  auto missing = client.GetManifest(reg.name(), "apps/web", "2.0");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  auto big = client.GetBlob(reg.name(), "apps/web", "sha256:" + Sha256Hex("blob"), 3);
  EXPECT_EQ(big.status().code(), Code::kFailedPrecondition);

  // With credentials they go to the token server as Basic auth.
  RegistryOptions o;
  o.registries[reg.name()] = {"", false, "deploy", PasswordFile("s3cret")};
  HttpRegistry with_credentials(o);
  ASSERT_TRUE(with_credentials.GetManifest(reg.name(), "apps/web", "1.0").ok());
  EXPECT_EQ(reg.token_authorization, "Basic " + Base64Encode("deploy:s3cret"));
}

TEST(HttpRegistryTest, BasicAuthNeedsCredentials) {
  AuthRegistry reg(AuthRegistry::Auth::kBasic);
  HttpRegistry anonymous({});
  auto refused = anonymous.GetManifest(reg.name(), "apps/web", "1.0");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(refused.status().message(), "registry " + reg.name() +
                                            ": authentication required (Basic realm=\"test\"); "
                                            "no credentials configured");

  RegistryOptions o;
  o.default_access = {"", false, "deploy", PasswordFile("s3cret")};
  HttpRegistry client(o);
  auto m = client.GetManifest(reg.name(), "apps/web", "1.0");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->body, AuthRegistry::kManifest);

  o.default_access = {"", false, "deploy", PasswordFile("wrong")};
  HttpRegistry wrong(o);
  auto denied = wrong.GetManifest(reg.name(), "apps/web", "1.0");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().message(),
            "registry " + reg.name() + ": credentials of deploy refused for apps/web (HTTP 401)");
  EXPECT_EQ(reg.token_calls, 0);
}

}  // namespace
}  // namespace stackctl::notary
