// Commit statuses and notifications end to end: the real stackctld against
// the test-bed swarm, and a local HTTPS server (cpp-httplib's SSLServer, a
// certificate made for 127.0.0.1 by the openssl CLI at test time, its CA
// handed to stackctld) that implements GitHub's, GitLab's and Gitea's commit
// status endpoints and a Slack-style webhook, and records every request.
// A webhook target that accepts connections but never answers stands for a
// target that is down.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "integration/testbed.h"

namespace stackctl::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Json = nlohmann::json;

struct Seen {
  std::string path, auth, body;
};

class NotifyE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTBED(tb_);
    dir_ = fs::temp_directory_path() / ("stackctld-notify-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "repo" / "app");
    std::string out;
    ASSERT_EQ(RunCommand("cd " + dir_.string() +
                             " && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out "
                             "cert.pem -days 1 "
                             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1",
                         &out),
              0)
        << out;
    https_ = std::make_unique<httplib::SSLServer>((dir_ / "cert.pem").c_str(),
                                                  (dir_ / "key.pem").c_str());
    https_->Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      std::string auth = req.get_header_value("Authorization");
      if (auth.empty()) auth = "PRIVATE-TOKEN " + req.get_header_value("PRIVATE-TOKEN");
      std::lock_guard<std::mutex> l(mu_);
      seen_.push_back({req.path, auth, req.body});
      res.status = 201;
      res.set_content("{}", "application/json");
    });
    https_port_ = https_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(https_port_, 0);
    server_thread_ = std::thread([this] { https_->listen_after_bind(); });
    // Down: a socket that listens (connections complete in the kernel) and never answers.
    down_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(down_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(listen(down_fd_, 16), 0);
    socklen_t len = sizeof a;
    getsockname(down_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    const int down_port = ntohs(a.sin_port);

    port_ = FreeLoopbackPort();
    stack_ = "nt" + std::to_string(getpid() % 100000);
    Write("api-token", "s3cr3t-token");
    Write("gh-token", "gh-t0ken");
    Write("gl-token", "gl-t0ken");
    Write("gitea-token", "gitea-t0ken");
    Write("slack-url", Base() + "/slack/hook\n");
    Write("down-hmac", "k");
    WriteApp("[\"sleep\", \"3600\"]");
    Git("init -q -b main && git add -A && git commit -qm initial");
    const std::string url = "file://" + (dir_ / "repo").string();
    auto repo = [&](const std::string& name, const std::string& provider, const std::string& api,
                    const std::string& token) {
      return "  - {name: " + name + ", url: \"" + url +
             "\", poll_interval: 1h, commit_status: {provider: " + provider + ", api_url: \"" +
             Base() + api + "\", project: acme/app, token_file: " + token +
             ", ca_file: cert.pem}}\n";
    };
    Write(
        "stackctld.yml",
        "engine: {host: \"" + tb_.docker_host +
            "\"}\n"
            "state_dir: " +
            (dir_ / "state").string() +
            "\n"
            "http: {listen: \"127.0.0.1:" +
            std::to_string(port_) +
            "\", api_token_file: api-token}\n"
            "repositories:\n" +
            repo("gh", "github", "/gh", "gh-token") +
            repo("gl", "gitlab", "/gl/api/v4", "gl-token") +
            repo("gt", "gitea", "/gitea/api/v1", "gitea-token") +
            "defaults: {timeout: 2m, rollout: {parallelism: 0}}\n"
            "stacks:\n"
            "  - {name: " +
            stack_ +
            "gh, repository: gh, path: app}\n"
            "  - {name: " +
            stack_ +
            "gl, repository: gl, path: app}\n"
            "  - {name: " +
            stack_ +
            "gt, repository: gt, path: app}\n"
            "notifications:\n"
            "  dashboard_url: \"https://stackctl.example.com/stacks/{stack}\"\n"
            "  timeout: 2s\n"
            "  targets:\n"
            "    - {name: chat, type: slack, url_file: slack-url, ca_file: cert.pem, stacks: [\"" +
            stack_ +
            "gh\"]}\n"
            "    - {name: down, type: webhook, url: \"http://127.0.0.1:" +
            std::to_string(down_port) + "/hook\", secret_file: down-hmac}\n");
    ctl_ = std::make_unique<Stackctld>(tb_, dir_.string(), port_, "s3cr3t-token");
    ASSERT_TRUE(ctl_->Start()) << ctl_->Log();
  }
  void TearDown() override {
    if (tb_.docker_host.empty()) return;
    ctl_.reset();
    if (https_) https_->stop();
    if (server_thread_.joinable()) server_thread_.join();
    if (down_fd_ >= 0) close(down_fd_);
    std::string out;
    for (const char* h : {"gh", "gl", "gt"}) {
      RunCommand(
          "DOCKER_HOST=" + tb_.docker_host + " " + tb_.bin_dir + "/stackctl rm " + stack_ + h,
          &out);
    }
    fs::remove_all(dir_);
  }
  std::string Base() { return "https://127.0.0.1:" + std::to_string(https_port_); }
  void Write(const std::string& rel, const std::string& text) { std::ofstream(dir_ / rel) << text; }
  void WriteApp(const std::string& command) {
    Write("repo/app/docker-compose.yml", "version: \"3.8\"\nservices:\n  web:\n    image: " +
                                             tb_.image + "\n    command: " + command + "\n");
  }
  std::string Git(const std::string& cmd) { return GitInRepo((dir_ / "repo").string(), cmd); }
  // Requests seen for `path_part`, in order.
  std::vector<Seen> Seen_(const std::string& path_part) {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<Seen> out;
    for (const auto& s : seen_) {
      if (s.path.find(path_part) != std::string::npos) out.push_back(s);
    }
    return out;
  }
  std::vector<std::string> States(const std::string& path_part) {
    std::vector<std::string> out;
    for (const auto& s : Seen_(path_part))
      out.push_back(Json::parse(s.body)["state"].get<std::string>());
    return out;
  }
  Json Stack(const std::string& h) { return ctl_->Stack(stack_ + h); }
  bool AllSynced() {
    for (const char* h : {"gh", "gl", "gt"}) {
      if (Stack(h).value("sync", "") != "Synced") return false;
    }
    return true;
  }
  // A series' value on /metrics; -1 when absent.
  double Metric(const std::string& series) {
    std::string text = ctl_->Http("GET", "/metrics", "", "").second;
    auto at = text.find("\n" + series + " ");
    return at == std::string::npos ? -1 : std::stod(text.substr(at + series.size() + 2));
  }

  Testbed tb_;
  fs::path dir_;
  int port_ = 0, https_port_ = 0, down_fd_ = -1;
  std::string stack_;
  std::unique_ptr<httplib::SSLServer> https_;
  std::thread server_thread_;
  std::mutex mu_;
  std::vector<Seen> seen_;
  std::unique_ptr<Stackctld> ctl_;
};

TEST_F(NotifyE2E, StatusesOnThreeHostsChatOnceAndADownTargetDelaysNothing) {
  const std::string c1 = Git("rev-parse HEAD >/dev/null");
  ASSERT_TRUE(WaitFor([&] { return AllSynced(); }, 90)) << ctl_->Log();
  ASSERT_TRUE(WaitFor([&] { return Seen_("/statuses/").size() == 6; }, 20)) << ctl_->Log();
  // GitHub: path, bearer token, JSON shape, pending -> success.
  auto gh = Seen_("/gh/repos/acme/app/statuses/" + c1);
  ASSERT_EQ(gh.size(), 2u);
  EXPECT_EQ(gh[0].auth, "Bearer gh-t0ken");
  EXPECT_EQ(Json::parse(gh[0].body),
            Json::parse(R"({"state":"pending","context":"stackctl/)" + stack_ +
                        R"(gh","description":"rollout started",)"
                        R"("target_url":"https://stackctl.example.com/stacks/)" +
                        stack_ + R"(gh"})"));
  EXPECT_EQ(Json::parse(gh[1].body)["state"], "success");
  EXPECT_EQ(Json::parse(gh[1].body)["description"], "deployed");
  // GitLab: url-encoded project (cpp-httplib may hand the path over decoded), PRIVATE-TOKEN,
  // "name", running -> success.
  auto gl = Seen_("/gl/api/v4/projects/");
  ASSERT_EQ(gl.size(), 2u);
  EXPECT_THAT(gl[0].path, ::testing::AnyOf("/gl/api/v4/projects/acme%2Fapp/statuses/" + c1,
                                           "/gl/api/v4/projects/acme/app/statuses/" + c1));
  EXPECT_EQ(gl[0].auth, "PRIVATE-TOKEN gl-t0ken");
  EXPECT_EQ(Json::parse(gl[0].body)["name"], "stackctl/" + stack_ + "gl");
  EXPECT_EQ(States("/gl/api/v4/"), (std::vector<std::string>{"running", "success"}));
  // Gitea: token scheme, pending -> success.
  auto gt = Seen_("/gitea/api/v1/repos/acme/app/statuses/" + c1);
  ASSERT_EQ(gt.size(), 2u);
  EXPECT_EQ(gt[0].auth, "token gitea-t0ken");
  EXPECT_EQ(States("/gitea/"), (std::vector<std::string>{"pending", "success"}));
  EXPECT_TRUE(Seen_("/slack/").empty());  // nothing failed

  // A rollout that rolls back: pending -> failure naming the service; one chat message.
  WriteApp("[\"/no/such/binary\"]");
  const std::string bad = Git("commit -qam broken");
  auto t0 = std::chrono::steady_clock::now();
  auto sync = ctl_->Http("POST", "/api/v1/stacks/" + stack_ + "gh/sync?wait=true&timeout=3m", "{}",
                         "-H 'Authorization: Bearer s3cr3t-token'");
  EXPECT_EQ(sync.first, 422) << sync.second;
  const auto rollout = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(WaitFor([&] { return Seen_("/gh/repos/acme/app/statuses/" + bad).size() == 2; }, 30))
      << ctl_->Log();
  auto failed = Seen_("/gh/repos/acme/app/statuses/" + bad);
  EXPECT_EQ(Json::parse(failed[0].body)["state"], "pending");
  Json f = Json::parse(failed[1].body);
  EXPECT_EQ(f["state"], "failure");
  const std::string desc = f["description"];
  EXPECT_THAT(desc, ::testing::StartsWith("service " + stack_ + "gh_web: "));
  EXPECT_LE(desc.size(), 140u);
  ASSERT_TRUE(WaitFor([&] { return Seen_("/slack/hook").size() == 1; }, 30)) << ctl_->Log();
  Json chat = Json::parse(Seen_("/slack/hook")[0].body);
  EXPECT_THAT(chat["text"].get<std::string>(),
              ::testing::StartsWith("stackctl: stack " + stack_ + "gh rolled back at " +
                                    bad.substr(0, 12) + ": service " + stack_ + "gh_web: "));
  EXPECT_EQ(chat.size(), 1u);  // {"text": ...} only
  // The down target: its attempts fail after the 2 s timeout and are retried;
  // the rollout itself did not wait for it.
  ASSERT_TRUE(WaitFor(
      [&] { return Metric("stackctl_notifications_failed_total{kind=\"webhook\"}") >= 2; }, 30))
      << ctl_->Log();
  EXPECT_THAT(ctl_->Log(),
              HasSubstr("target down rolled_back " + stack_ + "gh: attempt 1 failed, retrying"));
  EXPECT_LT(rollout, std::chrono::seconds(150));

  // The same commit fails again when asked again: the chat hears nothing new.
  sync = ctl_->Http("POST", "/api/v1/stacks/" + stack_ + "gh/sync?wait=true&timeout=3m", "{}",
                    "-H 'Authorization: Bearer s3cr3t-token'");
  EXPECT_EQ(sync.first, 422) << sync.second;
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(Seen_("/slack/hook").size(), 1u);
  EXPECT_EQ(Metric("stackctl_notifications_sent_total{kind=\"slack\"}"), 1);
}

}  // namespace
}  // namespace stackctl::testing
