// deploy/stackctld-stack.yml on the test bed: stackctl deploys stackctld as a
// swarm service (an image made of the host-built binary and its libraries,
// pushed to the bed's registry), the task becomes healthy, answers /healthz
// and its CI API, and deploys a stack from a Git repository mounted into it.
//
// The bed's dockerd runs with --iptables=false, so the routing mesh (and
// host-mode publishing) cannot forward the published port; the test reaches
// the task at its docker_gwbridge address instead, from the bed's namespace.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "integration/testbed.h"

namespace stackctl::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Json = nlohmann::json;

class SelfHostE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTBED(tb_);
    const std::string id = std::to_string(getpid() % 100000);
    dir_ = fs::temp_directory_path() / ("stackctld-selfhost-" + id);
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "secrets");
    fs::create_directories(dir_ / "repo" / "app");
    ctl_ = "shctl" + id;
    app_ = "shapp" + id;
    image_ = tb_.registry + "/stackctld:it-" + id;
    socket_ = tb_.docker_host.substr(std::string("unix://").size());
  }
  void TearDown() override {
    if (tb_.docker_host.empty()) return;
    std::string out;
    // The controller first, so that it cannot redeploy the app stack.
    RunCommand(Stackctl("rm " + ctl_), &out);
    RunCommand(Stackctl("rm " + app_), &out);
    RunCommand("for i in $(seq 1 50); do " + Docker("volume rm " + ctl_ + "_state") +
                   " >/dev/null 2>&1 && break; sleep 0.2; done; " + Docker("image rm " + image_) + " >/dev/null",
               &out);
    fs::remove_all(dir_);
  }
  void Write(const std::string& rel, const std::string& text) { std::ofstream(dir_ / rel) << text; }
  std::string Docker(const std::string& args) const {
    return tb_.docker_cli + " -H " + tb_.docker_host + " " + args;
  }
  std::string Stackctl(const std::string& args, const std::string& env = "") const {
    return "cd " + dir_.string() + " && " + env + " DOCKER_HOST=" + tb_.docker_host + " " + tb_.bin_dir +
           "/stackctl " + args;
  }
  std::string Git(const std::string& cmd) { return GitInRepo((dir_ / "repo").string(), cmd); }
  void WriteApp(const std::string& level) {
    Write("repo/app/docker-compose.yml", "version: \"3.8\"\nservices:\n  web:\n    image: " + tb_.image +
                                             "\n    command: [\"sleep\", \"3600\"]\n    environment:\n      LEVEL: \"" +
                                             level + "\"\n");
  }

  // The image: stackctld, curl (the stack's healthcheck) and the shared
  // libraries `ldd` names, plus the few /etc files they read.
  void BuildImage() {
    Write("build-image.sh", R"SH(set -euo pipefail
mkdir -p "$R"/usr/local/bin "$R"/usr/bin "$R"/etc/ssl/certs "$R"/tmp "$R"/var/lib/stackctld "$R"/run
strip -o "$R/usr/local/bin/stackctld" "$BIN/stackctld"
cp /usr/bin/curl "$R/usr/bin/"
for lib in $(ldd "$BIN/stackctld" /usr/bin/curl | awk '/=> \//{print $3} /^\t\//{print $1}' | sort -u); do
  cp -L --parents "$lib" "$R"
done
cp /etc/passwd /etc/group /etc/nsswitch.conf "$R/etc/"
cp -L /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/"
tar -C "$R" -c . | $DOCKER import -c 'ENTRYPOINT ["/usr/local/bin/stackctld"]' -c 'ENV HOME=/var/lib/stackctld' - "$IMAGE" >/dev/null
$DOCKER push "$IMAGE" >/dev/null
)SH");
    std::string out;
    ASSERT_EQ(RunCommand("R=" + (dir_ / "rootfs").string() + " BIN=" + tb_.bin_dir + " IMAGE=" + image_ +
                             " DOCKER='" + Docker("") + "' bash " + (dir_ / "build-image.sh").string(),
                         &out),
              0)
        << out;
  }

  // The task's address on docker_gwbridge ("" until it has one).
  std::string TaskAddress(const std::string& container) {
    std::string out;
    if (RunCommand(Docker("network inspect docker_gwbridge --format '{{json .Containers}}'"), &out, false) != 0) {
      return "";
    }
    Json containers = Json::parse(out, nullptr, false);
    if (!containers.is_object() || !containers.contains(container)) return "";
    std::string cidr = containers[container].value("IPv4Address", "");
    return cidr.substr(0, cidr.find('/'));
  }

  Testbed tb_;
  fs::path dir_;
  std::string ctl_, app_, image_, socket_;
};

TEST_F(SelfHostE2E, StackFileRunsStackctldWhichDeploysFromGit) {
  // What the stack file expects next to it: the configuration and the secrets.
  fs::copy_file(fs::path(STACKCTL_SOURCE_DIR) / "deploy" / "stackctld-stack.yml", dir_ / "stackctld-stack.yml");
  Write("secrets/api_token", "selfhost-token\n");
  Write("secrets/webhook_secret", "hook-key\n");
  Write("secrets/git_token", "unused-by-file-urls\n");
  std::string out;
  ASSERT_EQ(RunCommand("age-keygen -o " + (dir_ / "secrets" / "age_identity.txt").string(), &out), 0) << out;
  Write("stackctld.yml",
        "engine: {host: \"unix:///var/run/docker.sock\"}\n"
        "state_dir: /var/lib/stackctld\n"
        "http: {listen: \"0.0.0.0:9090\", api_token_file: /run/secrets/stackctld_api_token}\n"
        "webhooks: {generic: {secret_file: /run/secrets/stackctld_webhook_secret}}\n"
        "repositories:\n"
        "  - {name: apps, url: \"file:///srv/repo\", branch: main, poll_interval: 5s}\n"
        "defaults: {timeout: 2m, rollout: {parallelism: 0}}\n"
        "stacks:\n"
        "  - {name: " + app_ + ", repository: apps, path: app}\n");
  // The test's Git repository, mounted where the configuration points.
  Write("repo-mount.yml",
        "version: \"3.8\"\nservices:\n  stackctld:\n    volumes:\n      - type: bind\n        source: " +
            (dir_ / "repo").string() + "\n        target: /srv/repo\n        read_only: true\n");
  WriteApp("1");
  std::string head = Git("init -q -b main && git add -A && git commit -qm initial");
  BuildImage();

  // validate's stack name is optional: it must not be taken for a third -c file.
  ASSERT_EQ(RunCommand(Stackctl("validate -c stackctld-stack.yml -c repo-mount.yml " + ctl_), &out), 0) << out;
  EXPECT_EQ(out, "valid: 1 services, 1 networks, 4 secrets, 1 configs\n");
  ASSERT_EQ(RunCommand(Stackctl("deploy --timeout 2m -c stackctld-stack.yml -c repo-mount.yml " + ctl_,
                                "STACKCTLD_IMAGE=" + image_ + " STACKCTLD_DOCKER_SOCKET=" + socket_),
                       &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("stack " + ctl_ + ": "));

  // The service is what the stack file says.
  std::string svc = ctl_ + "_stackctld";
  ASSERT_EQ(RunCommand(Docker("service inspect " + svc + " --format '{{json .Spec}}'"), &out, false), 0) << out;
  Json spec = Json::parse(out);
  EXPECT_EQ(spec["Mode"]["Replicated"]["Replicas"], 1);
  EXPECT_EQ(spec["UpdateConfig"]["Order"], "stop-first");
  EXPECT_EQ(spec["RollbackConfig"]["Order"], "stop-first");
  EXPECT_EQ(spec["TaskTemplate"]["Placement"]["Constraints"], Json::parse(R"(["node.role == manager"])"));
  EXPECT_EQ(spec["EndpointSpec"]["Ports"][0]["TargetPort"], 9090);
  EXPECT_EQ(spec["EndpointSpec"]["Ports"][0]["PublishedPort"], 9090);
  const Json& cs = spec["TaskTemplate"]["ContainerSpec"];
  EXPECT_THAT(cs["Image"].get<std::string>(), ::testing::StartsWith(image_ + "@sha256:"));
  EXPECT_EQ(cs["Args"], Json::parse(R"(["--config=/etc/stackctld/stackctld.yml",
                                         "--age-identity=/run/secrets/stackctld_age_identity"])"));
  EXPECT_EQ(cs["Healthcheck"]["Test"],
            Json::parse(R"(["CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9090/healthz"])"));
  std::map<std::string, std::string> mounts;  // target -> type:source
  for (const auto& m : cs["Mounts"]) mounts[m["Target"]] = m["Type"].get<std::string>() + ":" + m["Source"].get<std::string>();
  EXPECT_EQ(mounts["/var/run/docker.sock"], "bind:" + socket_);
  EXPECT_EQ(mounts["/var/lib/stackctld"], "volume:" + ctl_ + "_state");
  EXPECT_EQ(mounts["/srv/repo"], "bind:" + (dir_ / "repo").string());
  std::set<std::string> secrets;
  for (const auto& s : cs["Secrets"]) secrets.insert(s["File"]["Name"].get<std::string>());
  EXPECT_EQ(secrets, (std::set<std::string>{"stackctld_api_token", "stackctld_webhook_secret",
                                            "stackctld_age_identity", "stackctld_git_token"}));
  ASSERT_EQ(cs["Configs"].size(), 1u);
  EXPECT_EQ(cs["Configs"][0]["File"]["Name"], "/etc/stackctld/stackctld.yml");

  // The task runs, Docker's healthcheck (curl /healthz inside it) says healthy.
  std::string container;
  ASSERT_TRUE(WaitFor([&] {
    RunCommand(Docker("ps -q --no-trunc --filter label=com.docker.swarm.service.name=" + svc), &container, false);
    container = container.substr(0, container.find('\n'));
    return !container.empty();
  }, 60)) << out;
  std::string health;
  EXPECT_TRUE(WaitFor([&] {
    RunCommand(Docker("inspect --format '{{.State.Health.Status}}' " + container), &health, false);
    return health == "healthy\n";
  }, 90)) << health;
  std::string ip = TaskAddress(container);
  ASSERT_FALSE(ip.empty());
  ASSERT_EQ(RunCommand("curl -s -o /dev/null -w '%{http_code}' http://" + ip + ":9090/healthz", &out, false), 0);
  EXPECT_EQ(out, "200");

  // It deploys the stack from Git; `stackctl --server` reads it through its API.
  const std::string server = "--server http://" + ip + ":9090 --token-file secrets/api_token ";
  Json status;
  EXPECT_TRUE(WaitFor([&] {
    if (RunCommand(Stackctl(server + "status -o json " + app_), &out, false) != 0) return false;
    status = Json::parse(out, nullptr, false);
    return status.is_object() && status.value("sync", "") == "Synced";
  }, 120)) << out;
  EXPECT_EQ(status["revision"], head);
  EXPECT_EQ(status["health"], "healthy");
  ASSERT_EQ(RunCommand(Docker("service inspect " + app_ + "_web --format '{{json .Spec.TaskTemplate.ContainerSpec.Env}}'"),
                       &out, false),
            0);
  EXPECT_THAT(out, HasSubstr("LEVEL=1"));

  // A new commit, synced through the API and waited for.
  WriteApp("2");
  std::string c2 = Git("commit -qam two");
  ASSERT_EQ(RunCommand(Stackctl(server + "sync --wait --timeout 2m " + app_), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr(" at " + c2.substr(0, 12) + " (history record 2)"));
  ASSERT_EQ(RunCommand(Docker("service inspect " + app_ + "_web --format '{{json .Spec.TaskTemplate.ContainerSpec.Env}}'"),
                       &out, false),
            0);
  EXPECT_THAT(out, HasSubstr("LEVEL=2"));
  ASSERT_EQ(RunCommand(Stackctl(server + "history -o json " + app_), &out, false), 0) << out;
  Json hist = Json::parse(out);
  ASSERT_EQ(hist.size(), 2u) << out;
  EXPECT_EQ(hist[0]["revision"], c2);
  EXPECT_EQ(hist[1]["revision"], head);
}

}  // namespace
}  // namespace stackctl::testing
