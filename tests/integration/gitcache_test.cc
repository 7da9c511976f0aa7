// stackctld repairs its own Git cache (src/gitsource/cache_fault.h), end to
// end: the real stackctld follows two repositories, one over file:// and one
// over http:// with a token (git http-backend behind lighttpd, basic auth,
// tests/testbed/git-server.sh), each with one stack on the test bed's swarm,
// polled every 5 s (the configuration's minimum).
//
// For each kind of damage done to both caches under state_dir/cache/<repo>.git
// (objects/pack and the loose objects removed; the newest pack truncated;
// garbage in HEAD; the cache folder replaced by a regular file) a new commit is
// pushed to both remotes, and each stack must start deploying it at the first
// poll after the push, with no failed reconcile in between, while
// stackctl_git_cache_rebuilds_total counts exactly one more for the repository.
// Then a wrong token on the http remote: an error of the remote, not of the
// cache (no rebuild, the cache folder stays where it is); the error names
// authentication and, once it has lasted three poll intervals, the repository
// is stale in the stack's status and /readyz answers 503 naming it; the right
// token again, and the pushed commit is deployed.
//
// One stackctld, one git server and one sequence of cases (sleep as the
// container's init ignores SIGTERM: a 1 s grace period keeps each update
// short): about 100 s on the test bed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "integration/testbed.h"

namespace stackctl::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr char kGitServer[] = STACKCTL_SOURCE_DIR "/tests/testbed/git-server.sh";
constexpr int kPollSeconds = 5;  // the configuration's minimum
constexpr char kToken[] = "t0ken-for-the-cache-test";

// Seconds since the epoch of an RFC 3339 time "YYYY-MM-DDTHH:MM:SSZ"; -1 when it does not parse.
std::time_t ParseUtc(const std::string& s) {
  std::tm tm{};
  if (s.empty() || !strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return -1;
  return timegm(&tm);
}

// One followed repository: its remote, a work tree pushing to it, its stack.
struct Repo {
  std::string name;  // in stackctld.yml; names the cache and the metric's label
  std::string stack;
  fs::path work;        // clone that commits and pushes
  std::string url;      // as configured
  double rebuilds = 0;  // what stackctl_git_cache_rebuilds_total should say
  int level = 1;        // LEVEL of the last commit
};

class GitCacheE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTBED(tb_);
    dir_ = fs::temp_directory_path() / ("stackctld-gitcache-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "remotes");
    const std::string id = std::to_string(getpid() % 100000);
    file_ = {"filerepo", "gcf" + id, dir_ / "work-file",
             "file://" + (dir_ / "remotes/file.git").string()};
    http_ = {"httprepo", "gch" + id, dir_ / "work-http", ""};
    for (Repo* r : {&file_, &http_}) {
      const std::string bare =
          (dir_ / "remotes" / (r == &file_ ? "file.git" : "http.git")).string();
      Sh("git init -q --bare -b main " + bare);
      Sh("git init -q -b main " + r->work.string() + " && git -C " + r->work.string() +
         " remote add origin " + bare);
      Push(*r);
    }
    // The http remote: basic auth, user x-access-token (stackctl's default user for a token).
    std::string out;
    std::string cmd = "GIT_SERVER_STATE_DIR=" + (dir_ / "git-server").string() + " " + kGitServer +
                      " http " + server_name_ + " " + (dir_ / "remotes").string() +
                      " x-access-token " + kToken;
    ASSERT_EQ(RunCommand(cmd, &out, false), 0) << cmd << ": " << out;
    server_started_ = true;
    http_.url = Trim(out) + "http.git";
    ASSERT_EQ(http_.url.rfind("http://127.0.0.1:", 0), 0u) << http_.url;
    WriteFile((dir_ / "token").string(), std::string(kToken) + "\n");
    WriteFile((dir_ / "api-token").string(), "api-t0ken");

    port_ = FreeLoopbackPort();
    // clang-format off
    WriteFile((dir_ / "stackctld.yml").string(),
              "engine: {host: \"" + tb_.docker_host + "\"}\n"
              "state_dir: " + (dir_ / "state").string() + "\n"
              "log: {level: info}\n"
              "http: {listen: \"127.0.0.1:" + std::to_string(port_) + "\", api_token_file: api-token}\n"
              "repositories:\n"
              "  - {name: " + file_.name + ", url: \"" + file_.url + "\", branch: main, poll_interval: " +
                  std::to_string(kPollSeconds) + "s}\n"
              "  - {name: " + http_.name + ", url: \"" + http_.url + "\", branch: main, poll_interval: " +
                  std::to_string(kPollSeconds) + "s, auth: {token_file: token}}\n"
              "defaults: {timeout: 2m, rollout: {parallelism: 0}}\n"
              "stacks:\n"
              "  - {name: " + file_.stack + ", repository: " + file_.name + ", path: app}\n"
              "  - {name: " + http_.stack + ", repository: " + http_.name + ", path: app}\n");
    // clang-format on
    ctl_ = std::make_unique<Stackctld>(tb_, dir_.string(), port_, "api-t0ken");
    ASSERT_TRUE(ctl_->Start()) << ctl_->Log();
  }

  void TearDown() override {
    if (tb_.docker_host.empty()) return;
    ctl_.reset();
    std::string out;
    for (const Repo* r : {&file_, &http_}) {
      if (!r->stack.empty()) {
        RunCommand(
            "DOCKER_HOST=" + tb_.docker_host + " " + tb_.bin_dir + "/stackctl rm " + r->stack,
            &out);
      }
    }
    if (server_started_) RunCommand(std::string(kGitServer) + " stop " + server_name_, &out);
    fs::remove_all(dir_);
  }

  std::string Sh(const std::string& cmd) {
    std::string out;
    EXPECT_EQ(RunCommand(cmd, &out), 0) << cmd << ": " << out;
    return Trim(out);
  }
  // Commits app/docker-compose.yml with LEVEL = r.level and pushes main; the commit id.
  std::string Push(Repo& r) {
    fs::create_directories(r.work / "app");
    WriteFile((r.work / "app" / "docker-compose.yml").string(),
              "version: \"3.8\"\nservices:\n  web:\n    image: " + tb_.image +
                  "\n    command: [\"sleep\", \"3600\"]\n    stop_grace_period: 1s\n    "
                  "environment:\n      LEVEL: \"" +
                  std::to_string(r.level) + "\"\n");
    const std::string git = "git -C " + r.work.string() + " -c user.name=t -c user.email=t@t ";
    Sh(git + "add -A && " + git + "commit -qm 'level " + std::to_string(r.level) + "' && " + git +
       "push -q origin HEAD:main");
    return Sh(git + "rev-parse HEAD");
  }
  fs::path Cache(const Repo& r) { return dir_ / "state" / "cache" / (r.name + ".git"); }
  Json Stack(const Repo& r) {
    Json s = ctl_->Stack(r.stack);
    return s.is_object() ? s : Json::object();
  }
  bool Deployed(const Repo& r, const std::string& commit) {
    Json s = Stack(r);
    return s.value("revision", "") == commit && s.value("sync", "") == "Synced";
  }
  // The LEVEL the swarm runs for the stack's service (docker CLI).
  std::string LiveEnv(const Repo& r) {
    return tb_.Docker("service inspect " + r.stack +
                      "_web --format '{{json .Spec.TaskTemplate.ContainerSpec.Env}}'");
  }
  double Rebuilds(const Repo& r) {
    return ctl_->Metric("stackctl_git_cache_rebuilds_total{repo=\"" + r.name + "\"}");
  }
  double Errors(const Repo& r) {
    return std::max(0.0,
                    ctl_->Metric("stackctl_reconcile_errors_total{stack=\"" + r.stack + "\"}"));
  }
  // The history record of `commit` (null when there is none).
  Json Record(const Repo& r, const std::string& commit) {
    for (const Json& h : Stack(r).value("history", Json::array())) {
      if (h.value("revision", "") == commit) return h;
    }
    return nullptr;
  }

  Testbed tb_;
  fs::path dir_;
  int port_ = 0;
  const std::string server_name_ = "gitcache" + std::to_string(getpid());
  bool server_started_ = false;
  Repo file_, http_;
  std::unique_ptr<Stackctld> ctl_;
};

struct Damage {
  const char* name;
  std::function<void(const fs::path& cache)> apply;
};

void RemovePacksAndLooseObjects(const fs::path& cache) {
  fs::remove_all(cache / "objects" / "pack");
  for (const auto& e : fs::directory_iterator(cache / "objects")) {
    const std::string n = e.path().filename().string();
    if (n.size() == 2 && std::isxdigit(static_cast<unsigned char>(n[0]))) fs::remove_all(e.path());
  }
}

// The newest pack (it holds the commit the cache's ref names) cut to half its
// size, written as a crash leaves it: a new file renamed over the old one. A
// pack truncated in place while a running operation has it mapped can end
// the process with SIGBUS (libgit2 reads packs through mmap); see
// docs/configuration.md, "The Git cache".
void TruncateNewestPack(const fs::path& cache) {
  fs::path newest;
  for (const auto& e : fs::directory_iterator(cache / "objects" / "pack")) {
    if (e.path().extension() != ".pack") continue;
    if (newest.empty() || fs::last_write_time(e.path()) > fs::last_write_time(newest))
      newest = e.path();
  }
  ASSERT_FALSE(newest.empty()) << cache << ": no pack";
  std::string bytes = ReadFile(newest.string());
  ASSERT_GT(bytes.size(), 64u) << newest;
  const fs::path cut = newest.string() + ".cut";
  WriteFile(cut.string(), bytes.substr(0, bytes.size() / 2));
  fs::rename(cut, newest);
}

void GarbageInHead(const fs::path& cache) {
  WriteFile((cache / "HEAD").string(), "\x01garbage, not a ref\n");
}

void FolderReplacedByAFile(const fs::path& cache) {
  fs::remove_all(cache);
  WriteFile(cache.string(), "not a repository\n");
}

TEST_F(GitCacheE2E, DamagedCachesAreClonedAgainAndAWrongTokenIsNotDamage) {
  const std::string first_file = Sh("git -C " + file_.work.string() + " rev-parse HEAD");
  const std::string first_http = Sh("git -C " + http_.work.string() + " rev-parse HEAD");
  ASSERT_TRUE(
      WaitFor([&] { return Deployed(file_, first_file) && Deployed(http_, first_http); }, 90))
      << Stack(file_).dump() << Stack(http_).dump() << ctl_->Log();
  for (Repo* r : {&file_, &http_}) {
    EXPECT_EQ(Rebuilds(*r), 0) << r->name;  // exported from the start
    ASSERT_TRUE(fs::is_directory(Cache(*r) / "objects" / "pack")) << Cache(*r);
  }

  const Damage damages[] = {
      {"objects/pack and loose objects removed", RemovePacksAndLooseObjects},
      {"newest pack truncated", TruncateNewestPack},
      {"garbage in HEAD", GarbageInHead},
      {"cache folder replaced by a file", FolderReplacedByAFile},
  };
  std::map<std::string, std::string> commits = {{file_.name, first_file}, {http_.name, first_http}};
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.name);
    std::map<std::string, double> errors;
    for (Repo* r : {&file_, &http_}) {
      errors[r->name] = Errors(*r);
      d.apply(Cache(*r));
      if (HasFatalFailure()) return;
      r->level++;
    }
    const std::time_t pushed = std::time(nullptr);
    for (Repo* r : {&file_, &http_}) commits[r->name] = Push(*r);
    for (Repo* r : {&file_, &http_}) {
      SCOPED_TRACE(r->name);
      const std::string& commit = commits[r->name];
      ASSERT_TRUE(WaitFor([&] { return Deployed(*r, commit); }, 60))
          << Stack(*r).dump() << ctl_->Log();
      // Deployed from the first poll after the push (5 s +-10% jitter, the
      // clone, times in whole seconds), and nothing failed on the way.
      Json rec = Record(*r, commit);
      ASSERT_TRUE(rec.is_object()) << Stack(*r).dump();
      EXPECT_EQ(rec["result"], "succeeded");
      EXPECT_LE(ParseUtc(rec.value("started_at", "")) - pushed, kPollSeconds + 3) << rec.dump();
      EXPECT_EQ(Errors(*r), errors[r->name]) << "a reconcile failed before the repair";
      EXPECT_EQ(Rebuilds(*r), ++r->rebuilds);
      EXPECT_THAT(LiveEnv(*r), HasSubstr("\"LEVEL=" + std::to_string(r->level) + "\""));
      // The repaired cache is a repository again; the damaged copy is gone.
      EXPECT_TRUE(fs::is_directory(Cache(*r) / "objects" / "pack")) << Cache(*r);
      EXPECT_FALSE(fs::exists(fs::symlink_status(Cache(*r).string() + ".damaged"))) << Cache(*r);
      EXPECT_THAT(ctl_->Log(), HasSubstr("repository " + r->name + ": Git cache is damaged ("));
    }
  }
  EXPECT_EQ(Rebuilds(file_), 4);
  EXPECT_EQ(Rebuilds(http_), 4);

  // A wrong token: the remote's error. Nothing is cloned again, the cache stays.
  SCOPED_TRACE("wrong token");
  ASSERT_EQ(ctl_->Http("GET", "/readyz", "").first, 200);
  struct stat before {};
  ASSERT_EQ(stat(Cache(http_).c_str(), &before), 0);
  WriteFile((dir_ / "token").string(), "not-the-token\n");
  http_.level++;
  const std::string refused = Push(http_);
  ASSERT_TRUE(WaitFor([&] { return !Stack(http_).value("repository_error", "").empty(); },
                      2 * kPollSeconds))
      << Stack(http_).dump();
  const auto failing = std::chrono::steady_clock::now();
  Json s = Stack(http_);
  EXPECT_EQ(s["repository_error"],
            "git ls-remote " + http_.url + ": authentication failed: credentials rejected");
  EXPECT_EQ(s["repository_stale"], false);
  EXPECT_EQ(ctl_->Http("GET", "/readyz", "").first, 200);
  // Stale once failing for longer than three poll intervals.
  ASSERT_TRUE(
      WaitFor([&] { return Stack(http_).value("repository_stale", false); }, 3 * kPollSeconds + 10))
      << Stack(http_).dump();
  EXPECT_GE(std::chrono::steady_clock::now() - failing, std::chrono::seconds(3 * kPollSeconds - 1));
  auto ready = ctl_->Http("GET", "/readyz", "");
  EXPECT_EQ(ready.first, 503);
  EXPECT_THAT(ready.second,
              ::testing::StartsWith("not ready: repository " + http_.name + " failing since "));
  EXPECT_THAT(ready.second, HasSubstr(": git ls-remote " + http_.url + ": authentication failed"));
  EXPECT_THAT(ready.second, ::testing::Not(HasSubstr(file_.name)));
  s = Stack(http_);
  EXPECT_EQ(s["repository_stale"], true);
  EXPECT_EQ(s["revision"], commits[http_.name]);
  std::string status;
  ASSERT_EQ(RunCommand("cd " + dir_.string() + " && " + tb_.bin_dir +
                           "/stackctl --server http://127.0.0.1:" + std::to_string(port_) +
                           " --token-file api-token status " + http_.stack,
                       &status),
            0)
      << status;
  EXPECT_THAT(status,
              HasSubstr("\nRemote:    failing since " + s.value("repository_failing_since", "?") +
                        " (stale): git ls-remote " + http_.url +
                        ": authentication failed: credentials rejected\n"));
  EXPECT_FALSE(Stack(file_).value("repository_stale", true));
  EXPECT_EQ(Rebuilds(http_), 4);
  struct stat after {};
  ASSERT_EQ(stat(Cache(http_).c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino) << "the cache was moved";
  EXPECT_FALSE(fs::exists(fs::symlink_status(Cache(http_).string() + ".damaged")));
  EXPECT_THAT(LiveEnv(http_), HasSubstr("\"LEVEL=" + std::to_string(http_.level - 1) + "\""));

  // The right token again: the next poll brings the commit.
  WriteFile((dir_ / "token").string(), std::string(kToken) + "\n");
  ASSERT_TRUE(WaitFor([&] { return Deployed(http_, refused); }, 60))
      << Stack(http_).dump() << ctl_->Log();
  EXPECT_THAT(LiveEnv(http_), HasSubstr("\"LEVEL=" + std::to_string(http_.level) + "\""));
  EXPECT_EQ(Stack(http_)["repository_stale"], false);
  EXPECT_EQ(Stack(http_)["repository_error"], "");
  EXPECT_EQ(ctl_->Http("GET", "/readyz", "").first, 200);
  EXPECT_EQ(Rebuilds(http_), 4);
  EXPECT_EQ(Rebuilds(file_), 4);
}

}  // namespace
}  // namespace stackctl::testing
