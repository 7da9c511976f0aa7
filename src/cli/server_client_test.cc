#include "cli/server_client.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace stackctl::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ServerClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("stackctl-server-client-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

TEST_F(ServerClientTest, ReadsTheTokenFile) {
  GlobalOptions g;
  g.server = "https://ctl.example:9090";
  g.token_file = Write("token", "s3cr3t\n\n");
  g.server_ca = "/etc/ca.pem";
  auto o = ServerClientOptions(g);
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->base_url, "https://ctl.example:9090");
  EXPECT_EQ(o->token, "s3cr3t");
  EXPECT_EQ(o->ca_file, "/etc/ca.pem");
}

TEST_F(ServerClientTest, RejectsBadUrlsAndTokens) {
  GlobalOptions g;
  g.server = "ctl.example:9090";
  g.token_file = Write("token", "t");
  auto url = ServerClientOptions(g);
  ASSERT_FALSE(url.ok());
  EXPECT_EQ(url.status().message(), "--server: \"ctl.example:9090\" is not an http:// or https:// URL");

  g.server = "http://127.0.0.1:9090";
  g.token_file = "";
  auto none = ServerClientOptions(g);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(),
            "--server http://127.0.0.1:9090 needs the API token: --token-file FILE or $STACKCTL_TOKEN_FILE");

  g.token_file = Write("empty", "\n");
  auto empty = ServerClientOptions(g);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().message(), "--token-file: " + (dir_ / "empty").string() + ": secret file is empty");

  g.token_file = (dir_ / "missing").string();
  auto missing = ServerClientOptions(g);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("missing: cannot read secret file"));
}

TEST_F(ServerClientTest, ErrorMessages) {
  GlobalOptions g;
  g.server = "http://127.0.0.1:9090";
  g.token_file = "/run/secrets/token";
  EXPECT_EQ(ServerErrorMessage(g, "web",
                               Status(Code::kUnauthenticated,
                                      "GET http://127.0.0.1:9090/api/v1/stacks/web: missing or invalid bearer token")),
            "http://127.0.0.1:9090 rejected the API token from /run/secrets/token (GET "
            "http://127.0.0.1:9090/api/v1/stacks/web: missing or invalid bearer token)");
  EXPECT_EQ(ServerErrorMessage(g, "web", Status(Code::kNotFound, "GET u: stack web: not managed by this controller")),
            "stack web not found (GET u: stack web: not managed by this controller)");
  EXPECT_EQ(ServerErrorMessage(g, "", Status(Code::kNotFound, "POST u: unknown revision v9")),
            "POST u: unknown revision v9");
  EXPECT_EQ(ServerErrorMessage(g, "web", Status(Code::kUnavailable, "GET u: Couldn't connect to server")),
            "GET u: Couldn't connect to server");
}

}  // namespace
}  // namespace stackctl::cli
