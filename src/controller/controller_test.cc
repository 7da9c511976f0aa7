#include "controller/controller.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engineapi/engine_wrapper.h"
#include "engineapi/fake_engine.h"
#include "notify/dispatcher.h"
#include "notify/notifier.h"
#include "reconciler/history.h"

namespace stackctl::controller {
namespace {

using engine::FakeEngine;

// An in-memory repository: commits are maps of files; head moves on Commit().
class FakeSource : public gitsource::Source {
 public:
  std::string Commit(std::map<std::string, std::string> files, std::string summary = "msg") {
    std::lock_guard<std::mutex> l(mu_);
    std::string id = std::string(40 - std::to_string(commits_.size() + 1).size(), 'a') +
                     std::to_string(commits_.size() + 1);
    commits_[id] = std::move(files);
    summaries_[id] = std::move(summary);
    head_ = id;
    return id;
  }
  void SetDown(bool down) { down_ = down; }
  // Fetches fail as from a cache that could not be repaired.
  void SetFetchDown(bool down) { fetch_down_ = down; }
  // Fetches fail with `st` (OK: they work again), as a remote that refuses them.
  void SetFetchError(Status st) {
    std::lock_guard<std::mutex> l(mu_);
    fetch_error_ = std::move(st);
  }
  int resolves() const { return resolves_; }

  std::string DisplayUrl() const override { return "file:///fake"; }
  Result<std::string> ResolveRemote() override {
    std::lock_guard<std::mutex> l(mu_);
    ++resolves_;
    if (down_) return Unavailable("git file:///fake: connection refused");
    return head_;
  }
  Result<gitsource::Snapshot> Fetch(const std::string& revision) override {
    std::lock_guard<std::mutex> l(mu_);
    if (fetch_down_) return Unavailable("git fetch file:///fake: Git cache /c/repo.git: unreadable");
    if (!fetch_error_.ok()) return fetch_error_;
    auto it = commits_.find(revision);
    if (it == commits_.end()) return NotFound("git file:///fake: unknown revision " + revision);
    return gitsource::Snapshot({revision, summaries_.at(revision), "a <a@b>", 0},
                               std::make_shared<MemoryFileSource>(it->second));
  }
  Result<std::vector<std::string>> ChangedPaths(const std::string& from, const std::string& to) override {
    std::lock_guard<std::mutex> l(mu_);
    // As GitSource: a revision that is no commit of the cache is not found.
    for (const std::string& rev : {from, to}) {
      if (!commits_.count(rev)) return NotFound("git diff file:///fake: commit \"" + rev + "\" is not in the cache");
    }
    const auto& a = commits_.at(from);
    const auto& b = commits_.at(to);
    std::set<std::string> out;
    for (const auto& [p, c] : a) {
      auto it = b.find(p);
      if (it == b.end() || it->second != c) out.insert(p);
    }
    for (const auto& [p, c] : b) {
      if (!a.count(p)) out.insert(p);
    }
    return std::vector<std::string>(out.begin(), out.end());
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::map<std::string, std::string>> commits_;
  std::map<std::string, std::string> summaries_;  // commit -> first line of its message
  std::string head_;
  Status fetch_error_;
  std::atomic<bool> down_{false}, fetch_down_{false};
  int resolves_ = 0;
};

std::string Compose(const std::string& image, const std::string& level) {
  return "version: \"3.8\"\nservices:\n  app:\n    image: " + image +
         "\n    environment:\n      LEVEL: \"" + level + "\"\n";
}

// Forwards to the fake; Cut() ends the current event stream with an error,
// as a dockerd restart or a dropped connection would. It reads the fake in
// slices of 50 ms, each resumed from the last event it delivered, so a slice
// boundary loses nothing; `since_` records what each stream asked for.
class BreakableEvents : public engine::EngineWrapper {
 public:
  explicit BreakableEvents(engine::FakeEngine& fake) : EngineWrapper(fake), fake_(fake) {}
  Status StreamEvents(const engine::Filters& filters, int64_t since_nano,
                      const std::function<bool(const Json&)>& on_event, int64_t timeout_ms,
                      const std::atomic<bool>* cancel = nullptr) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      since_.push_back(since_nano);
      timeouts_.push_back(timeout_ms);
    }
    ++streams_;
    // Fake event times are unique: resuming at the last one + 1 ns skips it.
    int64_t cursor = since_nano;
    if (cursor == 0) {
      auto events = fake_.Events();
      cursor = events.empty() ? 1 : engine::EventTimeNano(events.back()) + 1;
      // A new stream starts after the newest event: those before count as handled.
      int64_t handled = delivered_;
      while (handled < cursor - 1 && !delivered_.compare_exchange_weak(handled, cursor - 1)) {
      }
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      bool more = true;
      Status st = target().StreamEvents(filters, cursor, [&](const Json& e) {
        cursor = engine::EventTimeNano(e) + 1;
        more = on_event(e);
        delivered_ = engine::EventTimeNano(e);
        return more;
      }, 50, cancel);
      if (!st.ok() || !more || (cancel && *cancel)) return st;
      if (cut_.exchange(false)) {
        ++cuts_;
        return Unavailable("events: the Docker engine closed the stream");
      }
      if (timeout_ms > 0 && std::chrono::steady_clock::now() >= deadline) return OkStatus();
    }
  }
  void Cut() { cut_ = true; }
  // While held, task lists (a rollout's convergence wait) block until
  // Release(): the rollout stays in its first wave for the test to look at.
  Result<std::vector<engine::Task>> ListTasks(const engine::Filters& filters) override {
    {
      std::unique_lock<std::mutex> l(mu_);
      ++task_lists_;
      gate_.wait(l, [&] { return !held_; });
    }
    return target().ListTasks(filters);
  }
  void Hold() {
    std::lock_guard<std::mutex> l(mu_);
    held_ = true;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> l(mu_);
      held_ = false;
    }
    gate_.notify_all();
  }
  int TaskLists() {
    std::lock_guard<std::mutex> l(mu_);
    return task_lists_;
  }
  std::vector<int64_t> Since() {
    std::lock_guard<std::mutex> l(mu_);
    return since_;
  }
  // The timeout each stream was asked with (0: until it breaks).
  std::vector<int64_t> Timeouts() {
    std::lock_guard<std::mutex> l(mu_);
    return timeouts_;
  }
  std::atomic<int> streams_{0}, cuts_{0};
  // Time of the last event the controller was handed (or skipped as older
  // than its first stream).
  std::atomic<int64_t> delivered_{0};

 private:
  engine::FakeEngine& fake_;
  std::atomic<bool> cut_{false};
  std::mutex mu_;
  std::condition_variable gate_;
  bool held_ = false;
  int task_lists_ = 0;
  std::vector<int64_t> since_, timeouts_;
};

// Records each request as "<state> <description>" for commit statuses and
// "chat <text>" for Slack-style messages.
class RecordingSender : public notify::Sender {
 public:
  Status Send(const notify::HttpRequest& r) override {
    Json b = Json::parse(r.body);
    std::lock_guard<std::mutex> l(mu_);
    if (b.contains("text")) {
      lines_.push_back("chat " + b["text"].get<std::string>());
    } else {
      lines_.push_back(b["state"].get<std::string>() + " " + b["description"].get<std::string>());
    }
    return OkStatus();
  }
  std::vector<std::string> Take() {
    std::lock_guard<std::mutex> l(mu_);
    return std::exchange(lines_, {});
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

// `lines` without the "pending" commit statuses. A pending status that was
// not sent yet when its commit's final status was queued is superseded by it
// (notify/dispatcher.h), so whether it is sent depends on the dispatcher's
// thread: tests assert the final statuses and messages, in order, and that no
// commit had more than one pending status.
std::vector<std::string> FinalDeliveries(const std::vector<std::string>& lines,
                                         size_t max_pending) {
  std::vector<std::string> out;
  for (const auto& l : lines) {
    if (l != "pending rollout started") out.push_back(l);
  }
  EXPECT_LE(lines.size() - out.size(), max_pending) << ::testing::PrintToString(lines);
  return out;
}

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = new FakeSource();  // owned by the controller once created
    head_ = source_->Commit({{"a/docker-compose.yml", Compose("app:1", "1")},
                             {"b/docker-compose.yml", Compose("other:1", "1")}});
  }
  void Start(bool self_heal = false) {
    config::RepositoryConfig repo;
    repo.remote.name = "repo";
    repo.remote.url = "file:///fake";
    repo.remote.ref = "main";
    repo.poll_interval = poll_interval_;  // tests poll by hand
    config_.repositories.push_back(repo);
    for (const char* name : {"a", "b"}) {
      config::StackConfig s;
      s.name = name;
      s.repository = "repo";
      s.path = name;
      s.compose_files = s.name == "a" ? a_compose_files_ : std::vector<std::string>{"docker-compose.yml"};
      s.options.self_heal = self_heal;
      s.options.rollout.parallelism = 0;
      s.options.timeout = std::chrono::seconds(10);
      s.options.resolve_image = resolve_image_;
      config_.stacks.push_back(s);
    }
    ControllerOptions o;
    o.notifier = notifier_.get();
    o.watch_events = watch_events_;
    o.drift_check_interval = std::chrono::hours(1);
    o.min_backoff = std::chrono::milliseconds(50);
    ctl_ = std::make_unique<Controller>(
        config_, engine_, use_fake_clock_ ? static_cast<Clock&>(fake_clock_) : clock_,
        [this](const config::RepositoryConfig&) -> Result<std::unique_ptr<gitsource::Source>> {
          return std::unique_ptr<gitsource::Source>(source_);
        },
        secrets::Keyring(), metrics_, o);
    ASSERT_TRUE(ctl_->Start().ok());
    ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  }
  void TearDown() override {
    if (ctl_) ctl_->Stop();
    else delete source_;
  }
  server::StackView Stack(const std::string& name) { return *ctl_->GetStack(name); }
  // The stack as ListStacks shows it: no engine call (GetStack lists tasks).
  server::StackView Listed(const std::string& name) {
    for (auto& v : ctl_->ListStacks()) {
      if (v.name == name) return v;
    }
    ADD_FAILURE() << "stack " << name << " not listed";
    return {};
  }
  // Polls `pred` every 10 ms until it holds or `limit` passes; its last value.
  template <typename F>
  static bool Eventually(F pred, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
  }
  bool Subscribed() {
    return Eventually([&] { return fake_.Calls("StreamEvents") > 0; }, std::chrono::seconds(2));
  }
  // Event tests run on the FakeClock: moving it past the echo window of the
  // start-up reconciles and running the due work replaces waiting for it.
  void PastTheEchoWindow() {
    // The events of the start-up deploys first reach the controller (a check
    // is deferred to the window's end), then the window ends.
    ASSERT_TRUE(Delivered());
    fake_clock_.Advance(std::chrono::seconds(3));
    ctl_->RunDueWork();
    ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  }
  // The newest event of the fake engine has reached the controller.
  bool Delivered() {
    const int64_t newest = engine::EventTimeNano(fake_.Events().back());
    return Eventually([&] { return engine_.delivered_ >= newest; }, std::chrono::seconds(5));
  }
  // Ends the current stream and waits until the controller saw it end.
  bool CutTheStream() {
    const int cuts = engine_.cuts_;
    engine_.Cut();
    return Eventually([&] { return engine_.cuts_ > cuts; }, std::chrono::seconds(2));
  }
  // Moves the clock past the resubscribe delay; true once the next stream runs.
  // The event loop reads the clock when it starts to wait, which may be after
  // the test saw the cut (slow under ASan): an advance made before that does
  // not count, so the clock is advanced again until the new stream runs.
  bool Resubscribed() {
    const int streams = engine_.streams_;
    for (int advance = 0; advance < 20; ++advance) {
      fake_clock_.Advance(std::chrono::seconds(3));
      if (Eventually([&] { return engine_.streams_ > streams; }, std::chrono::milliseconds(250))) return true;
    }
    return false;
  }
  bool Reverted(const std::string& svc) {
    return Eventually([&] { return Image(svc) == "app:1"; }, std::chrono::seconds(10));
  }
  std::string Image(const std::string& svc) {
    return fake_.InspectService(svc)->spec["TaskTemplate"]["ContainerSpec"]["Image"];
  }

  bool watch_events_ = false;
  std::vector<std::string> a_compose_files_ = {"docker-compose.yml"};
  bool use_fake_clock_ = false;
  reconciler::ResolveMode resolve_image_ = reconciler::ResolveMode::kChanged;
  std::chrono::milliseconds poll_interval_ = std::chrono::hours(1);
  FakeClock fake_clock_;
  FakeEngine fake_;
  BreakableEvents engine_{fake_};
  SystemClock clock_;
  metrics::Registry registry_;
  metrics::ControllerMetrics metrics_{registry_};
  config::Config config_;
  FakeSource* source_;
  std::string head_;
  // Commit statuses and notifications, when a test sets notifier_ up.
  RecordingSender sent_;
  FakeClock notify_clock_;
  notify::Dispatcher dispatcher_{sent_, notify_clock_, metrics_};
  std::unique_ptr<notify::Notifier> notifier_;
  std::unique_ptr<Controller> ctl_;  // stops before the dispatcher and notifier go
};

TEST_F(ControllerTest, StartDeploysEveryStackAtTheHeadCommit) {
  Start();
  EXPECT_EQ(Stack("a").sync, reconciler::SyncState::kSynced);
  EXPECT_EQ(Stack("a").health, reconciler::StackHealth::kHealthy);
  EXPECT_EQ(Stack("a").revision, head_);
  EXPECT_EQ(Stack("b").sync, reconciler::SyncState::kSynced);
  EXPECT_EQ(Image("a_app"), "app:1");
  EXPECT_EQ(fake_.InspectService("a_app")->labels["io.stackctl.revision"], head_);
  EXPECT_EQ(metrics_.reconcile_total.With({"a", "success"}).Value(), 1);
}

// A repository that cannot be resolved for longer than three poll intervals
// is shown in the stacks' status and makes the controller not ready.
TEST_F(ControllerTest, RepositoryFailingForThreePollIntervalsIsStale) {
  use_fake_clock_ = true;
  poll_interval_ = std::chrono::minutes(10);  // the poll thread stays idle
  Start();
  EXPECT_TRUE(ctl_->Ready());
  EXPECT_EQ(Stack("a").repository_failing_since, "");
  EXPECT_EQ(Stack("a").repository_stale, false);

  source_->SetDown(true);
  const std::string since = FormatRfc3339(fake_clock_.Now());
  ctl_->PollRepository("repo");
  EXPECT_EQ(Stack("a").repository_error, "git file:///fake: connection refused");
  EXPECT_EQ(Stack("a").repository_failing_since, since);
  EXPECT_EQ(Stack("a").repository_stale, false);
  fake_clock_.Advance(std::chrono::minutes(30));  // three intervals: not longer
  ctl_->PollRepository("repo");
  EXPECT_TRUE(ctl_->Ready());
  EXPECT_EQ(Stack("b").repository_failing_since, since);
  fake_clock_.Advance(std::chrono::seconds(1));
  EXPECT_FALSE(ctl_->Ready());
  EXPECT_EQ(ctl_->NotReadyReason(),
            "repository repo failing since " + since + ": git file:///fake: connection refused");
  EXPECT_EQ(Stack("a").repository_stale, true);
  EXPECT_EQ(Stack("b").repository_stale, true);

  source_->SetDown(false);
  ctl_->PollRepository("repo");
  EXPECT_TRUE(ctl_->Ready());
  EXPECT_EQ(ctl_->NotReadyReason(), "");
  EXPECT_EQ(Stack("a").repository_error, "");
  EXPECT_EQ(Stack("a").repository_failing_since, "");
  EXPECT_EQ(Stack("a").repository_stale, false);
}

// The head resolves but cannot be fetched (a cache the source could not
// repair): the repository is failing too, until a fetch of the head works.
TEST_F(ControllerTest, HeadThatCannotBeFetchedIsStaleToo) {
  use_fake_clock_ = true;
  poll_interval_ = std::chrono::minutes(10);
  Start();
  source_->SetFetchDown(true);
  std::string next = source_->Commit({{"a/docker-compose.yml", Compose("app:2", "1")},
                                      {"b/docker-compose.yml", Compose("other:1", "1")}});
  const std::string since = FormatRfc3339(fake_clock_.Now());
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(Stack("a").repository_error, "git fetch file:///fake: Git cache /c/repo.git: unreadable");
  EXPECT_EQ(Stack("a").repository_failing_since, since);
  EXPECT_EQ(Stack("a").last_error, "git fetch file:///fake: Git cache /c/repo.git: unreadable");
  EXPECT_EQ(Stack("a").revision, head_);
  fake_clock_.Advance(std::chrono::minutes(31));
  EXPECT_FALSE(ctl_->Ready());
  EXPECT_EQ(ctl_->NotReadyReason(), "repository repo failing since " + since +
                                        ": git fetch file:///fake: Git cache /c/repo.git: unreadable");

  // The stack's retry (once its backoff has passed on the fake clock) fetches again.
  source_->SetFetchDown(false);
  // (The drift loop may be running a retry that fetched before the repair:
  // then the next one is due at most max_backoff later.)
  for (int i = 0; i < 3 && Stack("a").revision != next; ++i) {
    fake_clock_.Advance(std::chrono::minutes(5));
    ctl_->RunDueWork();
    ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  }
  ASSERT_EQ(Stack("a").revision, next) << Stack("a").last_error;
  EXPECT_TRUE(ctl_->Ready());
  EXPECT_EQ(Stack("a").repository_error, "");
  EXPECT_EQ(Stack("a").repository_failing_since, "");
}

// The remote refuses the fetch of a new head (a wrong token): an error of the
// remote, not of the commit. The stack keeps retrying with backoff and gets
// the commit once the token works, without a new push.
TEST_F(ControllerTest, RemoteErrorOnFetchIsRetriedNotMarkedFailed) {
  use_fake_clock_ = true;
  poll_interval_ = std::chrono::minutes(10);  // the poll thread stays idle
  Start();
  const std::string refused =
      "git fetch http://git.example/repo.git: authentication failed: credentials rejected";
  source_->SetFetchError(Unauthenticated(refused));
  std::string next = source_->Commit({{"a/docker-compose.yml", Compose("app:2", "1")},
                                      {"b/docker-compose.yml", Compose("other:1", "1")}});
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  server::StackView a = Stack("a");
  EXPECT_EQ(a.sync, reconciler::SyncState::kFailed);
  EXPECT_EQ(a.last_result, reconciler::ReconcileResult::kError) << a.last_error;  // not "failed": no final verdict on the commit
  EXPECT_EQ(a.last_error, refused);
  EXPECT_EQ(a.revision, head_);
  EXPECT_EQ(metrics_.reconcile_errors_total.With({"a"}).Value(), 1);
  // A waited API sync gets the refusal as FAILED_PRECONDITION (HTTP 422):
  // 401 would read as the caller's own API token refused.
  auto op = ctl_->Sync("a", std::nullopt);
  ASSERT_TRUE(op.ok());
  auto done = ctl_->WaitOperation(*op, std::chrono::seconds(20));
  ASSERT_TRUE(done.ok());
  ASSERT_TRUE(done->error.has_value());
  EXPECT_EQ(*done->error, FailedPrecondition(refused));
  // Still refused: each backoff step retries (and fails) again.
  ASSERT_TRUE(Eventually(
      [&] {
        fake_clock_.Advance(std::chrono::seconds(1));
        return metrics_.reconcile_errors_total.With({"a"}).Value() >= 3;
      },
      std::chrono::seconds(10)));
  EXPECT_EQ(Stack("a").revision, head_);

  // The token is fixed; the head has not moved, so no poll brings anything
  // new: the stack's own retry deploys the commit.
  source_->SetFetchError(OkStatus());
  ASSERT_TRUE(Eventually(
      [&] {
        fake_clock_.Advance(std::chrono::seconds(1));
        return Stack("a").revision == next && Stack("a").sync == reconciler::SyncState::kSynced;
      },
      std::chrono::seconds(10)))
      << Stack("a").last_error;
  EXPECT_EQ(Image("a_app"), "app:2");
  EXPECT_EQ(Stack("a").last_result, reconciler::ReconcileResult::kSucceeded);
}

// A revision named by the caller that the remote does not have is final for
// that request ("failed", no backoff), unlike the remote's errors above.
TEST_F(ControllerTest, UnknownExplicitRevisionIsFinal) {
  use_fake_clock_ = true;
  poll_interval_ = std::chrono::minutes(10);
  Start();
  const std::string missing(40, 'f');
  ASSERT_TRUE(ctl_->Sync("a", missing).ok());
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  server::StackView a = Stack("a");
  EXPECT_EQ(a.last_result, reconciler::ReconcileResult::kFailed) << a.last_error;
  EXPECT_EQ(a.last_error, "git file:///fake: unknown revision " + missing);
  EXPECT_EQ(a.revision, head_);
  EXPECT_EQ(metrics_.reconcile_errors_total.With({"a"}).Value(), 1);
}

TEST_F(ControllerTest, NewCommitReconcilesOnlyStacksWhoseFilesChanged) {
  Start();
  fake_.ResetCalls();
  std::string next = source_->Commit({{"a/docker-compose.yml", Compose("app:2", "1")},
                                      {"b/docker-compose.yml", Compose("other:1", "1")}});
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(Image("a_app"), "app:2");
  EXPECT_EQ(fake_.Calls("UpdateService"), 1);
  EXPECT_EQ(Stack("a").revision, next);
  // Nothing b reads changed: no reconcile, and b stays at the commit it rendered.
  EXPECT_EQ(Stack("b").revision, head_);
  EXPECT_EQ(metrics_.reconcile_total.With({"b", "success"}).Value(), 1);

  // An idle poll: one ref lookup, no engine call at all.
  fake_.ResetCalls();
  int before = source_->resolves();
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(5)));
  EXPECT_EQ(source_->resolves(), before + 1);
  EXPECT_EQ(fake_.Calls("ListServices") + fake_.WriteCalls(), 0);
}

// A stack reads files outside its folder (an env_file, an override file, a
// secret): a commit that changes only one of them reconciles it; a commit that
// changes nothing it reads does not.
TEST_F(ControllerTest, CommitChangingAFileTheStackReadsOutsideItsFolderIsDeployed) {
  const std::string compose =
      "version: \"3.8\"\nservices:\n  app:\n    image: app:1\n    env_file: ../common/common.env\n"
      "    secrets: [token]\nsecrets:\n  token:\n    file: ../secrets/token.txt\n";
  std::map<std::string, std::string> files = {{"a/docker-compose.yml", compose},
                                              {"common/override.yml", "version: \"3.8\"\nservices:\n  app:\n    labels: [x=1]\n"},
                                              {"b/docker-compose.yml", Compose("other:1", "1")},
                                              {"common/common.env", "LEVEL=1\n"},
                                              {"secrets/token.txt", "t1"},
                                              {"README.md", "one\n"}};
  head_ = source_->Commit(files);
  // Stack a reads an override file outside its folder too; nothing below touches b.
  a_compose_files_ = {"docker-compose.yml", "../common/override.yml"};
  Start();
  ASSERT_EQ(Stack("a").sync, reconciler::SyncState::kSynced) << Stack("a").last_error;
  auto labels = [&] { return fake_.InspectService("a_app")->spec["TaskTemplate"]["ContainerSpec"]["Labels"]; };
  EXPECT_EQ(labels()["x"], "1");
  auto env = [&] { return fake_.InspectService("a_app")->spec["TaskTemplate"]["ContainerSpec"]["Env"]; };
  EXPECT_EQ(env(), Json::array({"LEVEL=1"}));
  const double a_runs = metrics_.reconcile_total.With({"a", "success"}).Value();

  // Only the env file outside a/ changes.
  files["common/common.env"] = "LEVEL=2\n";
  std::string c2 = source_->Commit(files);
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(env(), Json::array({"LEVEL=2"}));
  EXPECT_EQ(Stack("a").revision, c2);
  EXPECT_EQ(Stack("b").revision, head_);

  // Only the secret file outside a/ changes: the secret gets a new content name.
  files["secrets/token.txt"] = "t2";
  std::string c3 = source_->Commit(files);
  ctl_->PollRepository("repo", reconciler::Trigger::kWebhook);
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(Stack("a").revision, c3);
  EXPECT_EQ(metrics_.reconcile_total.With({"a", "success"}).Value(), a_runs + 2);

  // Only the override compose file outside a/ changes.
  files["common/override.yml"] = "version: \"3.8\"\nservices:\n  app:\n    labels: [x=2]\n";
  std::string c4 = source_->Commit(files);
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(labels()["x"], "2");
  EXPECT_EQ(Stack("a").revision, c4);
  EXPECT_EQ(metrics_.reconcile_total.With({"a", "success"}).Value(), a_runs + 3);

  // A file nobody reads: nothing is reconciled, nothing is written.
  fake_.ResetCalls();
  files["README.md"] = "two\n";
  files["common/unrelated.env"] = "X=1\n";
  source_->Commit(files);
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(fake_.WriteCalls(), 0);
  EXPECT_EQ(Stack("a").revision, c4);  // never marked as applied at a commit it did not render
  EXPECT_EQ(metrics_.reconcile_total.With({"a", "success"}).Value(), a_runs + 3);

  // Adding a file the render looked for and did not find (.env) counts too.
  files["a/.env"] = "UNUSED=1\n";
  std::string c5 = source_->Commit(files);
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(Stack("a").revision, c5);
}

TEST_F(ControllerTest, BadCommitChangesNothingAndIsNotRetried) {
  Start();
  source_->Commit({{"a/docker-compose.yml", "version: \"3.8\"\nservices:\n  app:\n    image: app:3\n    replicas: 2\n"},
                   {"b/docker-compose.yml", Compose("other:1", "1")}});
  fake_.ResetCalls();
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(fake_.WriteCalls(), 0);
  server::StackView a = Stack("a");
  EXPECT_EQ(a.sync, reconciler::SyncState::kFailed);
  EXPECT_NE(a.last_error.find("services.app"), std::string::npos) << a.last_error;
  EXPECT_EQ(Image("a_app"), "app:1");
  double errors = metrics_.reconcile_errors_total.With({"a"}).Value();
  // A sync request for the same bad commit fails again; automatic triggers do not retry it.
  auto op = ctl_->Sync("a", std::nullopt);
  ASSERT_TRUE(op.ok());
  auto done = ctl_->WaitOperation(*op, std::chrono::seconds(20));
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, server::OperationState::kFailed);
  ASSERT_TRUE(done->error.has_value());
  EXPECT_EQ(done->error->code(), Code::kInvalidArgument);
  EXPECT_EQ(metrics_.reconcile_errors_total.With({"a"}).Value(), errors + 1);
}

TEST_F(ControllerTest, SyncOperationReportsTheRolloutResult) {
  Start();
  const std::string good = Stack("a").revision;
  ASSERT_FALSE(good.empty());
  fake_.FailImage("app:bad", "task: non-zero exit (1)");
  std::string bad = source_->Commit({{"a/docker-compose.yml", Compose("app:bad", "1")},
                                     {"b/docker-compose.yml", Compose("other:1", "1")}});
  auto op = ctl_->Sync("a", bad);
  ASSERT_TRUE(op.ok());
  auto done = ctl_->WaitOperation(*op, std::chrono::seconds(30));
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, server::OperationState::kFailed);
  ASSERT_TRUE(done->report.has_value());
  EXPECT_EQ(done->report->result, reconciler::ReconcileResult::kRolledBack);
  EXPECT_EQ(done->failed_service, "a_app");
  ASSERT_TRUE(done->error.has_value());
  EXPECT_EQ(done->error->code(), Code::kFailedPrecondition);  // terminal (HTTP 422), not ABORTED
  EXPECT_TRUE(done->report->still_removing.empty());  // an update undone: nothing removed
  EXPECT_EQ(Image("a_app"), "app:1");
  EXPECT_EQ(Stack("a").last_failed_service, "a_app");  // for the dashboard's "last error"
  EXPECT_EQ(ctl_->Sync("nope", std::nullopt).status().code(), Code::kNotFound);
  // Rolled back: the swarm runs the earlier commit, and the view says so; the
  // failed commit is named apart.
  EXPECT_EQ(Stack("a").revision, good);
  EXPECT_EQ(Stack("a").failed_revision, bad);

  // A commit that changes only another stack does not retry the failed one:
  // a's inputs are compared with the commit it rendered last, not with the
  // one it runs.
  fake_.ResetCalls();
  source_->Commit({{"a/docker-compose.yml", Compose("app:bad", "1")},
                   {"b/docker-compose.yml", Compose("other:2", "1")}});
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(Image("a_app"), "app:1");
  EXPECT_EQ(Image("b_app"), "other:2");
  EXPECT_EQ(Stack("a").revision, good);
  EXPECT_EQ(Stack("a").failed_revision, bad);

  // The fix runs and clears the failure.
  std::string fixed = source_->Commit({{"a/docker-compose.yml", Compose("app:2", "1")},
                                       {"b/docker-compose.yml", Compose("other:2", "1")}});
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(Image("a_app"), "app:2");
  EXPECT_EQ(Stack("a").revision, fixed);
  EXPECT_EQ(Stack("a").failed_revision, "");
}

// A controller that starts on a commit that fails has deployed nothing: the
// stack's revision is what the swarm runs as recorded (its newest succeeded
// history record), not empty.
TEST_F(ControllerTest, AFailedFirstReconcileShowsTheRecordedRevision) {
  reconciler::HistoryRecord before;
  before.revision = "0123456789abcdef0123456789abcdef01234567";
  before.result = reconciler::HistoryResult::kSucceeded;
  reconciler::HistoryRecord failed;
  failed.revision = "fedcba9876543210fedcba9876543210fedcba98";
  failed.result = reconciler::HistoryResult::kRolledBack;
  ASSERT_TRUE(reconciler::HistoryStore(fake_, "a").Append(before, 10).ok());
  ASSERT_TRUE(reconciler::HistoryStore(fake_, "a").Append(failed, 10).ok());
  // A file that does not render: the first reconcile fails before it deploys.
  const std::string bad = source_->Commit(
      {{"a/docker-compose.yml", "version: \"3.8\"\nservices:\n  app:\n    image: app:3\n    replicas: 2\n"},
       {"b/docker-compose.yml", Compose("other:1", "1")}});
  Start();
  server::StackView a = Listed("a");
  EXPECT_EQ(a.last_result, reconciler::ReconcileResult::kFailed);
  EXPECT_EQ(a.revision, before.revision);
  EXPECT_EQ(a.failed_revision, bad);
  EXPECT_EQ(Listed("b").revision, bad);  // b deployed at the head
}

// A rollout that a commit started (no API operation) shows its wave on the
// stack while it runs, and nothing once it ended.
TEST_F(ControllerTest, APushedRolloutShowsItsWaveOnTheStack) {
  Start();
  EXPECT_FALSE(Listed("a").rollout.has_value());
  engine_.Hold();
  // Released however the test ends: the controller's Stop joins the worker.
  struct ReleaseAtExit {
    BreakableEvents& engine;
    ~ReleaseAtExit() { engine.Release(); }
  } release{engine_};
  const int lists = engine_.TaskLists();
  source_->Commit({{"a/docker-compose.yml", Compose("app:2", "1")},
                   {"b/docker-compose.yml", Compose("other:1", "1")}});
  ctl_->PollRepository("repo");
  ASSERT_TRUE(Eventually([&] { return engine_.TaskLists() > lists; }, std::chrono::seconds(10)));
  std::optional<reconciler::WaveProgress> shown = Listed("a").rollout;
  ASSERT_TRUE(shown.has_value());
  EXPECT_EQ(*shown, (reconciler::WaveProgress{1, 1, {"a_app"}, 0}));
  EXPECT_FALSE(Listed("b").rollout.has_value());  // b did not change
  engine_.Release();
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(Image("a_app"), "app:2");
  EXPECT_FALSE(Listed("a").rollout.has_value());
}

// What the notifier is told: pending then failure for a rolled-back rollout
// (naming the service), one chat message however often the commit fails,
// and success plus "recovered" for the commit that fixes it.
TEST_F(ControllerTest, RollbackNotifiesOnceAndTheFixRecovers) {
  const std::string token = ::testing::TempDir() + "/controller_test_token";
  { std::ofstream(token) << "t0ken\n"; }
  notify::NotifyConfig nc;
  notify::Target chat;
  chat.name = "chat";
  chat.type = notify::TargetType::kSlack;
  chat.url = "https://chat.example.com/hook";
  chat.stacks = {"a"};
  nc.targets = {chat};
  notifier_ = std::make_unique<notify::Notifier>(nc, dispatcher_, notify_clock_);
  dispatcher_.Start();  // sends while rollouts run, as in stackctld
  auto drain = [&] { return Eventually([&] { return dispatcher_.Idle(); }, std::chrono::seconds(5)); };
  notify::StatusHost host{notify::GitHost::kGitHub, "https://api.github.com", "acme/app", token, ""};
  config::RepositoryConfig repo;
  repo.remote.name = "repo";
  repo.remote.url = "file:///fake";
  repo.poll_interval = std::chrono::hours(1);
  repo.commit_status = host;
  config_.repositories.push_back(repo);
  for (const char* name : {"a", "b"}) {
    config::StackConfig sc;
    sc.name = name;
    sc.repository = "repo";
    sc.path = name;
    sc.compose_files = {"docker-compose.yml"};
    sc.options.rollout.parallelism = 0;
    sc.options.timeout = std::chrono::seconds(10);
    config_.stacks.push_back(sc);
  }
  ControllerOptions o;
  o.notifier = notifier_.get();
  o.watch_events = false;
  o.drift_check_interval = std::chrono::hours(1);
  ctl_ = std::make_unique<Controller>(
      config_, engine_, clock_,
      [this](const config::RepositoryConfig&) -> Result<std::unique_ptr<gitsource::Source>> {
        return std::unique_ptr<gitsource::Source>(source_);
      },
      secrets::Keyring(), metrics_, o);
  ASSERT_TRUE(ctl_->Start().ok());
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  ASSERT_TRUE(drain());
  // Both stacks deployed (by two workers, in any order); no failure, so no chat message.
  std::vector<std::string> lines = FinalDeliveries(sent_.Take(), 2);
  EXPECT_EQ(lines, (std::vector<std::string>{"success deployed", "success deployed"}));

  fake_.FailImage("app:bad", "task: non-zero exit (1)");
  std::string bad = source_->Commit({{"a/docker-compose.yml", Compose("app:bad", "1")},
                                     {"b/docker-compose.yml", Compose("other:1", "1")}});
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(30)));
  ASSERT_TRUE(drain());
  lines = FinalDeliveries(sent_.Take(), 1);
  ASSERT_EQ(lines.size(), 2u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], ::testing::StartsWith("failure service a_app: "));
  EXPECT_THAT(lines[1],
              ::testing::StartsWith("chat stackctl: stack a rolled back at " + bad.substr(0, 12) +
                                    ": service a_app: update paused"));
  // Asked again, the same commit fails the same way: the chat hears nothing new.
  auto op = ctl_->Sync("a", bad);
  ASSERT_TRUE(op.ok());
  ASSERT_TRUE(ctl_->WaitOperation(*op, std::chrono::seconds(30)).ok());
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(30)));
  ASSERT_TRUE(drain());
  lines = sent_.Take();
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.rfind("chat", 0) == 0; }),
            0)
      << ::testing::PrintToString(lines);

  std::string fixed = source_->Commit({{"a/docker-compose.yml", Compose("app:2", "1")},
                                       {"b/docker-compose.yml", Compose("other:1", "1")}});
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(30)));
  ASSERT_TRUE(drain());
  EXPECT_EQ(FinalDeliveries(sent_.Take(), 1),
            (std::vector<std::string>{"success deployed", "chat stackctl: stack a recovered at " +
                                                              fixed.substr(0, 12) +
                                                              ": rollout complete"}));
  std::remove(token.c_str());
}

// Images no registry knows (locally built): with resolve_image "always" each
// reconcile would ask the registry again; a failure is remembered for the
// backoff instead, and a manual sync asks again.
TEST_F(ControllerTest, AnImageThatFailedToResolveIsNotAskedAgainUntilAManualSync) {
  resolve_image_ = reconciler::ResolveMode::kAlways;
  Start();
  EXPECT_EQ(fake_.Calls("DistributionDigest"), 2);  // app:1 and other:1, both unknown
  EXPECT_EQ(Image("a_app"), "app:1");

  source_->Commit({{"a/docker-compose.yml", Compose("app:1", "2")},
                   {"b/docker-compose.yml", Compose("other:1", "1")}});
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(fake_.InspectService("a_app")->spec["TaskTemplate"]["ContainerSpec"]["Env"], Json({"LEVEL=2"}));
  EXPECT_EQ(fake_.Calls("DistributionDigest"), 2);

  auto op = ctl_->Sync("a", std::nullopt);
  ASSERT_TRUE(op.ok());
  ASSERT_TRUE(ctl_->WaitOperation(*op, std::chrono::seconds(30)).ok());
  EXPECT_EQ(fake_.Calls("DistributionDigest"), 3);
}

// The rollback of a new service the engine keeps listing for minutes: the
// operation says what is still being removed (a 60 s removal wait, fake clock).
TEST_F(ControllerTest, SyncOperationListsWhatTheEngineIsStillRemoving) {
  use_fake_clock_ = true;
  Start();
  fake_.SetRemovalDelay(&fake_clock_, std::chrono::minutes(5), {"service", "network", "secret"});
  fake_.FailImage("extra:bad", "task: non-zero exit (1)");
  std::string bad = source_->Commit({{"a/docker-compose.yml", Compose("app:1", "1") + "  extra:\n    image: extra:bad\n"},
                                     {"b/docker-compose.yml", Compose("other:1", "1")}});
  auto op = ctl_->Sync("a", bad);
  ASSERT_TRUE(op.ok());
  auto done = ctl_->WaitOperation(*op, std::chrono::seconds(30));
  ASSERT_TRUE(done.ok());
  ASSERT_TRUE(done->report.has_value());
  EXPECT_EQ(done->report->result, reconciler::ReconcileResult::kRolledBack) << done->report->message;
  EXPECT_EQ(done->report->still_removing, std::vector<std::string>({"service a_extra"}));
  auto hist = ctl_->GetHistory("a");
  ASSERT_TRUE(hist.ok());
  ASSERT_FALSE(hist->empty());
  EXPECT_EQ(hist->front().still_removing, std::vector<std::string>({"service a_extra"}));
}

TEST_F(ControllerTest, PinnedStackIsLeftAloneUntilResumed) {
  Start();
  reconciler::Deployer d(fake_, clock_);
  ASSERT_TRUE(d.SetPinned("a", true, "deploy", "manual").ok());
  source_->Commit({{"a/docker-compose.yml", Compose("app:2", "1")},
                   {"b/docker-compose.yml", Compose("other:1", "1")}});
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(Image("a_app"), "app:1");
  EXPECT_EQ(Stack("a").sync, reconciler::SyncState::kPinned);
  ASSERT_TRUE(d.SetPinned("a", false, "", "").ok());
  auto op = ctl_->Sync("a", std::nullopt);
  ASSERT_TRUE(ctl_->WaitOperation(*op, std::chrono::seconds(20)).ok());
  EXPECT_EQ(Image("a_app"), "app:2");
}

// Pin and resume through the API (the dashboard's buttons): the pin is the
// same record `stackctl deploy` writes; resume queues a reconcile that
// catches up with the repository at once.
TEST_F(ControllerTest, PinAndResumeThroughTheApi) {
  Start();
  ASSERT_TRUE(ctl_->SetPinned("a", true).ok());
  server::StackView a = Stack("a");
  EXPECT_EQ(a.sync, reconciler::SyncState::kPinned);
  ASSERT_TRUE(a.live);
  EXPECT_TRUE(a.live->control.pinned);
  EXPECT_EQ(a.live->control.pinned_by, "api");
  EXPECT_EQ(a.live->control.pinned_revision, head_);
  EXPECT_EQ(ctl_->ListStacks()[0].sync, reconciler::SyncState::kPinned);
  source_->Commit({{"a/docker-compose.yml", Compose("app:2", "1")},
                   {"b/docker-compose.yml", Compose("other:1", "1")}});
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(Image("a_app"), "app:1");

  ASSERT_TRUE(ctl_->SetPinned("a", false).ok());
  ASSERT_TRUE(Eventually([&] { return Image("a_app") == "app:2"; }, std::chrono::seconds(10)));
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_FALSE(Stack("a").live->control.pinned);
  EXPECT_EQ(Stack("a").sync, reconciler::SyncState::kSynced);
  EXPECT_EQ(ctl_->SetPinned("nope", true), NotFound("stack nope: not managed by this controller"));
}

// A rollback through the API runs in the stack's turn, deploys the record's
// specs and pins the stack; a wrong record is refused at once.
TEST_F(ControllerTest, RollbackThroughTheApi) {
  Start();
  source_->Commit({{"a/docker-compose.yml", Compose("app:2", "1")},
                   {"b/docker-compose.yml", Compose("other:1", "1")}});
  auto sync = ctl_->Sync("a", std::nullopt);
  ASSERT_TRUE(ctl_->WaitOperation(*sync, std::chrono::seconds(20)).ok());
  ASSERT_EQ(Image("a_app"), "app:2");
  auto history = ctl_->GetHistory("a");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  const int64_t first = history->back().seq;
  auto op = ctl_->Rollback("a", first);
  ASSERT_TRUE(op.ok()) << op.status().ToString();
  auto done = ctl_->WaitOperation(*op, std::chrono::seconds(20));
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, server::OperationState::kSucceeded);
  EXPECT_EQ(done->revision, head_);
  ASSERT_TRUE(done->report);
  EXPECT_EQ(done->report->result, reconciler::ReconcileResult::kSucceeded);
  EXPECT_EQ(Image("a_app"), "app:1");
  server::StackView a = Stack("a");
  EXPECT_EQ(a.sync, reconciler::SyncState::kPinned);
  EXPECT_EQ(a.live->control.pinned_by, "rollback");
  EXPECT_EQ(ctl_->Rollback("a", 99).status(), NotFound("stack a: no history record 99"));
  EXPECT_EQ(ctl_->Rollback("nope", 1).status(), NotFound("stack nope: not managed by this controller"));
  // Pinned: a poll leaves it on the record.
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(Image("a_app"), "app:1");
}

// After an API rollback the stack shows the revision the swarm runs, the
// record's, with that commit's message (not the one synced before), and what
// the branch head would change as pending: the rollback queues a drift check
// of the stack. A record whose revision the repository does not have (a
// commit it no longer has, `stackctl deploy --revision manual`) is shown by
// its revision alone.
TEST_F(ControllerTest, RollbackShowsTheRecordsRevisionAndTheChangesToTheHead) {
  use_fake_clock_ = true;
  poll_interval_ = std::chrono::minutes(10);  // the poll thread stays idle
  Start();
  const std::string second = source_->Commit({{"a/docker-compose.yml", Compose("app:2", "1")},
                                              {"b/docker-compose.yml", Compose("other:1", "1")}},
                                             "second: app 2");
  auto sync = ctl_->Sync("a", std::nullopt);
  ASSERT_EQ(ctl_->WaitOperation(*sync, std::chrono::seconds(20))->state, server::OperationState::kSucceeded);
  ASSERT_EQ(Stack("a").revision, second);
  ASSERT_EQ(Stack("a").revision_summary, "second: app 2");
  auto history = ctl_->GetHistory("a");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->back().revision, head_);

  auto rollback = ctl_->Rollback("a", history->back().seq);
  ASSERT_TRUE(rollback.ok()) << rollback.status().ToString();
  ASSERT_EQ(ctl_->WaitOperation(*rollback, std::chrono::seconds(20))->state, server::OperationState::kSucceeded);
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  ASSERT_EQ(Image("a_app"), "app:1");
  auto listed = [&] {
    for (const auto& v : ctl_->ListStacks()) {
      if (v.name == "a") return v;
    }
    return server::StackView{};
  };
  for (const server::StackView& v : {listed(), Stack("a")}) {
    EXPECT_EQ(v.revision, head_);
    EXPECT_EQ(v.revision_summary, "msg");
    EXPECT_EQ(v.revision_author, "a <a@b>");
    EXPECT_EQ(v.revision_time, "1970-01-01T00:00:00Z");
    EXPECT_EQ(v.target_revision, second);
    EXPECT_EQ(v.sync, reconciler::SyncState::kPinned);
    EXPECT_EQ(v.out_of_sync, std::vector<std::string>{"service a_app: update"});
  }
  // The pin names the record's revision too.
  EXPECT_EQ(Stack("a").live->control.pinned_revision, head_);

  // Records whose revision names no commit of the repository: the first
  // deploy's specs stored again under such revisions (as `stackctl deploy`
  // writes them).
  auto records = reconciler::HistoryStore(fake_, "a").List();
  ASSERT_TRUE(records.ok());
  auto deployed_first = std::find_if(records->begin(), records->end(), [&](const auto& r) {
    return r.revision == head_ && r.trigger == reconciler::Trigger::kStart;
  });
  ASSERT_NE(deployed_first, records->end());
  const std::string gone(40, 'f');
  for (const std::string& revision : {gone, std::string("manual")}) {
    reconciler::HistoryRecord record = *deployed_first;
    record.revision = revision;
    auto seq = reconciler::HistoryStore(fake_, "a").Append(record, 50);
    ASSERT_TRUE(seq.ok()) << seq.status().ToString();
    rollback = ctl_->Rollback("a", *seq);
    ASSERT_TRUE(rollback.ok()) << rollback.status().ToString();
    auto done = ctl_->WaitOperation(*rollback, std::chrono::seconds(20));
    ASSERT_EQ(done->state, server::OperationState::kSucceeded) << revision;
    EXPECT_EQ(done->revision, revision);
    ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
    ASSERT_EQ(Image("a_app"), "app:1");
    for (const server::StackView& v : {listed(), Stack("a")}) {
      EXPECT_EQ(v.revision, revision);
      EXPECT_EQ(v.revision_summary, "") << revision;
      EXPECT_EQ(v.revision_author, "") << revision;
      EXPECT_EQ(v.revision_time, "") << revision;
      EXPECT_EQ(v.out_of_sync, std::vector<std::string>{"service a_app: update"}) << revision;
    }
  }
}

// The stacks list and the stack's page show one sync state for a pinned
// stack (reconciler::ShownSyncState of the same controller state): after an
// API rollback, after a drift check compared it with its branch, after an API
// sync over the pin, and once it is unpinned outside the controller.
TEST_F(ControllerTest, ListAndStackShowTheSameSyncStateForAPinnedStack) {
  Start();
  auto listed = [&] {
    for (const auto& v : ctl_->ListStacks()) {
      if (v.name == "a") return v.sync;
    }
    return reconciler::SyncState::kUnknown;
  };
  const std::string second = source_->Commit({{"a/docker-compose.yml", Compose("app:2", "1")},
                                              {"b/docker-compose.yml", Compose("other:1", "1")}});
  auto sync = ctl_->Sync("a", std::nullopt);
  ASSERT_TRUE(ctl_->WaitOperation(*sync, std::chrono::seconds(20)).ok());
  auto history = ctl_->GetHistory("a");
  ASSERT_TRUE(history.ok());
  auto rollback = ctl_->Rollback("a", history->back().seq);
  ASSERT_TRUE(rollback.ok());
  ASSERT_EQ(ctl_->WaitOperation(*rollback, std::chrono::seconds(20))->state, server::OperationState::kSucceeded);
  ASSERT_EQ(Image("a_app"), "app:1");
  EXPECT_EQ(listed(), reconciler::SyncState::kPinned);
  EXPECT_EQ(Stack("a").sync, reconciler::SyncState::kPinned);

  // A drift check only compares the pinned stack with its branch: changes
  // pending, still Pinned in both (the list is asked first, before a
  // GetStack reads the swarm).
  ctl_->CheckDrift("a");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(listed(), reconciler::SyncState::kPinned);
  server::StackView a = Stack("a");
  EXPECT_EQ(a.sync, reconciler::SyncState::kPinned);
  EXPECT_TRUE(a.pinned);
  EXPECT_EQ(a.out_of_sync, std::vector<std::string>{"service a_app: update"});

  // An API sync deploys over the pin, which stays.
  sync = ctl_->Sync("a", std::nullopt);
  ASSERT_EQ(ctl_->WaitOperation(*sync, std::chrono::seconds(20))->state, server::OperationState::kSucceeded);
  ASSERT_EQ(Image("a_app"), "app:2");
  EXPECT_EQ(listed(), reconciler::SyncState::kPinned);
  EXPECT_EQ(Stack("a").sync, reconciler::SyncState::kPinned);
  EXPECT_EQ(Stack("a").revision, second);

  // Unpinned outside the controller (`stackctl resume`): the next check of
  // the stack reads it, and both show what the comparison found.
  reconciler::Deployer d(fake_, clock_);
  ASSERT_TRUE(d.SetPinned("a", false, "", "").ok());
  ctl_->CheckDrift("a");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(listed(), reconciler::SyncState::kSynced);
  EXPECT_EQ(Stack("a").sync, reconciler::SyncState::kSynced);
  EXPECT_FALSE(Stack("a").pinned);
}

// Each service's image verdict of the stack's last deploy: the registry's
// digest under the default (off) policy is not-checked; an image no registry
// knows runs its tag with a warning; a later deploy that keeps the digest
// keeps the verdict.
TEST_F(ControllerTest, StackKeepsTheImageVerdictsOfItsLastDeploy) {
  const std::string digest = "sha256:" + std::string(64, 'a');
  fake_.SetImageDigest("app:1", digest);
  Start();
  const reconciler::ImageVerdict off{reconciler::VerdictKind::kNotChecked, "app:1", digest, "trust policy off", true};
  EXPECT_EQ(Stack("a").image_verdicts, (reconciler::ImageVerdicts{{"a_app", off}}));
  EXPECT_EQ(ctl_->ListStacks()[0].image_verdicts.at("a_app"), off);
  const reconciler::ImageVerdict other = Stack("b").image_verdicts.at("b_app");
  EXPECT_EQ(other.kind, reconciler::VerdictKind::kWarned);
  EXPECT_EQ(other.digest, "");
  EXPECT_THAT(other.detail, ::testing::StartsWith("could not be verified or pinned: "));

  source_->Commit({{"a/docker-compose.yml", Compose("app:1", "2")},
                   {"b/docker-compose.yml", Compose("other:1", "1")}});
  ctl_->PollRepository("repo");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  ASSERT_EQ(fake_.InspectService("a_app")->spec["TaskTemplate"]["ContainerSpec"]["Env"], Json({"LEVEL=2"}));
  EXPECT_EQ(Stack("a").image_verdicts.at("a_app"), off);
}

// What the dashboard shows of a stack besides its state: the commit's
// message, author and time, and the repository URL.
TEST_F(ControllerTest, StackViewCarriesTheCommitItRendered) {
  Start();
  server::StackView a = Stack("a");
  EXPECT_EQ(a.repository_url, "file:///fake");
  EXPECT_EQ(a.revision, head_);
  EXPECT_EQ(a.revision_summary, "msg");
  EXPECT_EQ(a.revision_author, "a <a@b>");
  EXPECT_EQ(a.revision_time, "1970-01-01T00:00:00Z");
  EXPECT_EQ(a.last_failed_service, "");
  EXPECT_TRUE(a.operations.empty());
  EXPECT_EQ(ctl_->ListStacks()[0].revision_summary, "msg");
}

void Tamper(FakeEngine& fake, const std::string& service) {
  auto svc = fake.InspectService(service);
  Json spec = svc->spec;
  spec["TaskTemplate"]["ContainerSpec"]["Image"] = "manual:1";
  ASSERT_TRUE(fake.UpdateService(svc->id, svc->version, spec, "").ok());
}

TEST_F(ControllerTest, DriftIsRevertedWithSelfHeal) {
  Start(/*self_heal=*/true);
  Tamper(fake_, "a_app");
  ctl_->CheckDrift("a");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(Image("a_app"), "app:1");
  EXPECT_EQ(Stack("a").sync, reconciler::SyncState::kSynced);
  EXPECT_EQ(metrics_.drift_detected_total.With({"a"}).Value(), 1);
}

TEST_F(ControllerTest, AChangeRightAfterAReconcileIsStillSeenThroughEvents) {
  watch_events_ = true;
  use_fake_clock_ = true;
  Start(/*self_heal=*/true);
  // Events are only delivered once the event loop has subscribed.
  ASSERT_TRUE(Subscribed());
  // The start-up deploy's own events and this manual change fall in the echo
  // window after the reconcile: one check runs when the window ends.
  Tamper(fake_, "a_app");
  ASSERT_TRUE(Delivered());
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(Image("a_app"), "manual:1");  // not checked inside the window
  PastTheEchoWindow();
  EXPECT_TRUE(Reverted("a_app")) << "the deferred drift check never ran";
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(metrics_.drift_detected_total.With({"a"}).Value(), 1);
  EXPECT_EQ(metrics_.drift_detected_total.With({"b"}).Value(), 0);  // its own writes are no drift
}

TEST_F(ControllerTest, OneEventStreamStaysSubscribedAndStopEndsIt) {
  watch_events_ = true;
  use_fake_clock_ = true;
  Start();
  ASSERT_TRUE(Subscribed());
  ASSERT_EQ(engine_.streams_, 1);
  // One stream, asked without a timeout: it is not re-subscribed on a
  // schedule, so nothing falls between two streams.
  EXPECT_THAT(engine_.Timeouts(), ::testing::ElementsAre(0));
  fake_clock_.Advance(std::chrono::hours(2));  // past the periodic full check too
  ctl_->RunDueWork();
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(engine_.streams_, 1);
  auto t0 = std::chrono::steady_clock::now();
  ctl_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
}

// The stream breaks; the next one resumes from the last event seen, and the
// engine's replay of the gap carries the change made meanwhile: only its
// stack is checked.
TEST_F(ControllerTest, ABrokenEventStreamResumesFromTheLastEventSeen) {
  watch_events_ = true;
  use_fake_clock_ = true;
  Start(/*self_heal=*/true);
  ASSERT_TRUE(Subscribed());
  PastTheEchoWindow();
  // An event of no stack after the subscription: a time to resume from.
  ASSERT_TRUE(fake_.CreateObject(engine::Kind::kConfig, {{"Name", "unrelated"}, {"Data", ""}}).ok());
  ASSERT_TRUE(Delivered());
  const int64_t last_seen = engine::EventTimeNano(fake_.Events().back());
  const double b_checks = metrics_.reconcile_total.With({"b", "noop"}).Value();
  ASSERT_TRUE(CutTheStream());
  Tamper(fake_, "a_app");  // while no stream runs
  ASSERT_TRUE(Resubscribed());
  EXPECT_TRUE(Reverted("a_app")) << "the gap's event was not replayed";
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_THAT(engine_.Since(), ::testing::ElementsAre(0, last_seen));
  EXPECT_EQ(metrics_.drift_detected_total.With({"a"}).Value(), 1);
  EXPECT_EQ(metrics_.reconcile_total.With({"b", "noop"}).Value(), b_checks);  // b was not touched
}

// The engine no longer buffers the last event seen (its buffer keeps 256):
// the replay starts later, so every stack is checked once.
TEST_F(ControllerTest, AResumeThatMissesTheLastEventSeenChecksEveryStack) {
  watch_events_ = true;
  use_fake_clock_ = true;
  Start(/*self_heal=*/true);
  ASSERT_TRUE(Subscribed());
  PastTheEchoWindow();
  ASSERT_TRUE(fake_.CreateObject(engine::Kind::kConfig, {{"Name", "unrelated"}, {"Data", ""}}).ok());
  ASSERT_TRUE(Delivered());
  const int64_t last_seen = engine::EventTimeNano(fake_.Events().back());
  const double b_checks = metrics_.reconcile_total.With({"b", "noop"}).Value();
  ASSERT_TRUE(CutTheStream());
  fake_.DropEventsBefore(fake_.Events().size());  // everything up to now is forgotten
  Tamper(fake_, "a_app");
  ASSERT_TRUE(Resubscribed());
  EXPECT_TRUE(Reverted("a_app"));
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  // Every stack's check is due a moment after the new stream subscribed.
  fake_clock_.Advance(std::chrono::seconds(2));
  ctl_->RunDueWork();
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_GT(metrics_.reconcile_total.With({"b", "noop"}).Value(), b_checks) << "b was not checked";
  EXPECT_THAT(engine_.Since(), ::testing::ElementsAre(0, last_seen));  // it did resume
  EXPECT_EQ(metrics_.drift_detected_total.With({"b"}).Value(), 0);
}

TEST_F(ControllerTest, ChangesWhileTheEventStreamWasDownAreCheckedOnceItIsBack) {
  watch_events_ = true;
  use_fake_clock_ = true;
  Start(/*self_heal=*/true);
  ASSERT_TRUE(Subscribed());
  // Past the start-up echo window and the one check it schedules; the
  // stream has now been up long enough that it may have missed events.
  PastTheEchoWindow();
  ASSERT_TRUE(CutTheStream());
  ASSERT_EQ(engine_.cuts_, 1);
  // Nobody listens now: the event of this change is lost for good.
  Tamper(fake_, "a_app");
  ASSERT_TRUE(Resubscribed());
  EXPECT_EQ(engine_.streams_, 2);
  // Every stack's check is due a moment after the new stream subscribed.
  fake_clock_.Advance(std::chrono::seconds(2));
  ctl_->RunDueWork();
  EXPECT_TRUE(Reverted("a_app")) << "no check after the stream came back";
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(metrics_.drift_detected_total.With({"a"}).Value(), 1);
  EXPECT_EQ(metrics_.drift_detected_total.With({"b"}).Value(), 0);  // checked, and in sync
}

TEST_F(ControllerTest, DriftIsReportedWithoutSelfHeal) {
  Start(/*self_heal=*/false);
  Tamper(fake_, "b_app");
  ctl_->CheckDrift("b");
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(Image("b_app"), "manual:1");
  server::StackView b = Stack("b");
  EXPECT_EQ(b.sync, reconciler::SyncState::kOutOfSync);
  EXPECT_EQ(b.last_result, reconciler::ReconcileResult::kOutOfSync);
  EXPECT_EQ(b.out_of_sync, std::vector<std::string>{"service b_app: update"});
  EXPECT_EQ(metrics_.drift_detected_total.With({"b"}).Value(), 1);
}

// The scale: one repository with 50 stacks of 20 services
// (replicas 0), no event stream; the periodic full check is asked for by hand.
class ControllerAtScale : public ::testing::Test {
 protected:
  static constexpr int kStacks = 50, kServices = 20;
  static std::string StackName(int i) { return "s" + std::to_string(10 + i); }
  static std::string StackCompose() {
    std::string out = "version: \"3.8\"\nservices:\n";
    for (int i = 0; i < kServices; ++i) {
      out += "  svc" + std::to_string(10 + i) + ":\n    image: app:1\n    deploy: {replicas: 0}\n";
    }
    return out;
  }
  void Start(bool self_heal) {
    auto* source = new FakeSource();  // owned by the controller
    std::map<std::string, std::string> files;
    config::Config config;
    config::RepositoryConfig repo;
    repo.remote.name = "repo";
    repo.poll_interval = std::chrono::hours(1);
    config.repositories.push_back(repo);
    for (int i = 0; i < kStacks; ++i) {
      files[StackName(i) + "/docker-compose.yml"] = StackCompose();
      config::StackConfig s;
      s.name = StackName(i);
      s.repository = "repo";
      s.path = s.name;
      s.compose_files = {"docker-compose.yml"};
      s.options.self_heal = self_heal;
      config.stacks.push_back(s);
    }
    source->Commit(files);
    ControllerOptions o;
    o.watch_events = false;
    o.drift_check_interval = std::chrono::hours(1);
    ctl_ = std::make_unique<Controller>(
        config, fake_, clock_,
        [source](const config::RepositoryConfig&) -> Result<std::unique_ptr<gitsource::Source>> {
          return std::unique_ptr<gitsource::Source>(source);
        },
        secrets::Keyring(), metrics_, o);
    ASSERT_TRUE(ctl_->Start().ok());
    ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(120)));
    for (const auto& v : ctl_->ListStacks()) ASSERT_EQ(v.sync, reconciler::SyncState::kSynced) << v.name;
  }
  void TearDown() override {
    if (ctl_) ctl_->Stop();
  }
  server::StackView Stack(const std::string& name) { return *ctl_->GetStack(name); }

  FakeEngine fake_;
  FakeClock clock_;  // rollout waits pass at once
  metrics::Registry registry_;
  metrics::ControllerMetrics metrics_{registry_};
  std::unique_ptr<Controller> ctl_;
};

// The full check of 1,000 services reads the engine four times in all (one
// list call per kind), not four times per stack, and still finds a change
// made by hand in one stack.
TEST_F(ControllerAtScale, FullCheckOfFiftyStacksIsFourEngineCalls) {
  Start(/*self_heal=*/false);
  Tamper(fake_, "s17_svc13");
  fake_.ResetCalls();
  ctl_->CheckAllStacks();
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(60)));
  EXPECT_EQ(fake_.AllCalls(), 4);
  EXPECT_EQ(fake_.Calls("ListServices"), 1);
  EXPECT_EQ(fake_.Calls("ListObjects"), 3);
  for (const auto& v : ctl_->ListStacks()) {
    if (v.name == "s17") continue;
    EXPECT_EQ(v.sync, reconciler::SyncState::kSynced) << v.name;
    EXPECT_EQ(metrics_.reconcile_total.With({v.name, "noop"}).Value(), 1) << v.name;
  }
  server::StackView s17 = Stack("s17");
  EXPECT_EQ(s17.sync, reconciler::SyncState::kOutOfSync);
  EXPECT_EQ(s17.out_of_sync, std::vector<std::string>{"service s17_svc13: update"});
  EXPECT_EQ(metrics_.drift_detected_total.With({"s17"}).Value(), 1);
}

// With self_heal the stack that drifted is reverted; the others stay reads
// of the shared snapshot.
TEST_F(ControllerAtScale, FullCheckRevertsTheStackThatDrifted) {
  Start(/*self_heal=*/true);
  Tamper(fake_, "s42_svc29");
  fake_.ResetCalls();
  ctl_->CheckAllStacks();
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(60)));
  EXPECT_EQ(fake_.InspectService("s42_svc29")->spec["TaskTemplate"]["ContainerSpec"]["Image"], "app:1");
  EXPECT_EQ(fake_.Calls("UpdateService"), 1);
  EXPECT_EQ(Stack("s42").sync, reconciler::SyncState::kSynced);
  EXPECT_EQ(metrics_.reconcile_total.With({"s42", "success"}).Value(), 2);  // start, revert
  EXPECT_EQ(metrics_.reconcile_total.With({"s43", "noop"}).Value(), 1);
}

class FlakyEngine : public engine::EngineWrapper {
 public:
  using EngineWrapper::EngineWrapper;
  Status VisitServices(const engine::Filters& f, bool s,
                       const std::function<void(engine::Service&&)>& visit) override {
    if (failures_left > 0) {
      --failures_left;
      return Unavailable("engine unix:///fake.sock: connection refused");
    }
    return EngineWrapper::VisitServices(f, s, visit);
  }
  std::atomic<int> failures_left{0};
};

// One stack "s" at the root of a fake repository, reconciled through
// FlakyEngine (no event stream) on a FakeClock: a retry runs when the test
// has moved the clock past its backoff and asked for the due work.
class ControllerRetry : public ::testing::Test {
 protected:
  void Start(bool self_heal) {
    auto* source = new FakeSource();  // owned by the controller
    source->Commit({{"docker-compose.yml", Compose("app:1", "1")}});
    config::Config config;
    config::RepositoryConfig repo;
    repo.remote.name = "repo";
    repo.poll_interval = std::chrono::hours(1);
    config.repositories.push_back(repo);
    config::StackConfig s;
    s.name = "s";
    s.repository = "repo";
    s.path = ".";
    s.compose_files = {"docker-compose.yml"};
    s.options.self_heal = self_heal;
    s.options.rollout.parallelism = 0;
    config.stacks.push_back(s);
    ControllerOptions o;
    o.notifier = notifier_.get();
    o.watch_events = false;
    o.min_backoff = std::chrono::seconds(1);
    o.max_backoff = std::chrono::seconds(8);
    o.drift_check_interval = std::chrono::hours(1);
    ctl_ = std::make_unique<Controller>(
        config, flaky_, clock_,
        [source](const config::RepositoryConfig&) -> Result<std::unique_ptr<gitsource::Source>> {
          return std::unique_ptr<gitsource::Source>(source);
        },
        secrets::Keyring(), metrics_, o);
    ASSERT_TRUE(ctl_->Start().ok());
  }
  void TearDown() override {
    if (ctl_) ctl_->Stop();
  }
  // Runs the queued work, then retries whose backoff has passed, until the
  // stack is in `sync` or `rounds` backoffs went by (ListStacks reads no live
  // state, so it consumes no failures). Each round moves the clock by the
  // longest backoff.
  server::StackView RetryUntil(reconciler::SyncState sync, int rounds = 10) {
    EXPECT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
    for (int i = 0; i < rounds && ctl_->ListStacks()[0].sync != sync; ++i) {
      clock_.Advance(std::chrono::seconds(8));
      ctl_->RunDueWork();
      EXPECT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
    }
    return ctl_->ListStacks()[0];
  }

  FakeEngine fake_;
  FlakyEngine flaky_{fake_};
  FakeClock clock_;
  metrics::Registry registry_;
  metrics::ControllerMetrics metrics_{registry_};
  RecordingSender sent_;
  notify::Dispatcher dispatcher_{sent_, clock_, metrics_};
  std::unique_ptr<notify::Notifier> notifier_;
  std::unique_ptr<Controller> ctl_;
};

TEST_F(ControllerRetry, EngineOutageIsRetriedWithBackoff) {
  flaky_.failures_left = 3;
  Start(/*self_heal=*/false);
  EXPECT_EQ(RetryUntil(reconciler::SyncState::kSynced).sync, reconciler::SyncState::kSynced);
  EXPECT_EQ(metrics_.reconcile_errors_total.With({"s"}).Value(), 3);
  EXPECT_EQ(flaky_.failures_left, 0);
}

// A failure the controller retries is told once; the success after it always.
TEST_F(ControllerRetry, ARetriedFailureNotifiesOnce) {
  notify::NotifyConfig nc;
  notify::Target chat;
  chat.name = "chat";
  chat.type = notify::TargetType::kSlack;
  chat.url = "https://chat.example.com/hook";
  nc.targets = {chat};
  notifier_ = std::make_unique<notify::Notifier>(nc, dispatcher_, clock_);
  flaky_.failures_left = 3;
  Start(/*self_heal=*/false);
  EXPECT_EQ(RetryUntil(reconciler::SyncState::kSynced).sync, reconciler::SyncState::kSynced);
  EXPECT_EQ(metrics_.reconcile_errors_total.With({"s"}).Value(), 3);
  dispatcher_.RunDue();
  std::vector<std::string> lines = sent_.Take();
  ASSERT_EQ(lines.size(), 2u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], ::testing::StartsWith("chat stackctl: stack s rollout failed at aaaaaaaaaaaa: stack s: engine "));
  EXPECT_EQ(lines[1], "chat stackctl: stack s recovered at aaaaaaaaaaaa: rollout complete");
}

// A drift check that fails on an engine hiccup is retried as a drift check:
// with self_heal off the retry only compares, so the manual change stays.
TEST_F(ControllerRetry, RetriedDriftCheckWithoutSelfHealKeepsTheManualChange) {
  Start(/*self_heal=*/false);
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  ASSERT_EQ(ctl_->ListStacks()[0].sync, reconciler::SyncState::kSynced);
  Tamper(fake_, "s_app");
  flaky_.failures_left = 1;
  ctl_->CheckDrift("s");
  // The failed attempt, then its retry (after its backoff).
  server::StackView st = RetryUntil(reconciler::SyncState::kOutOfSync);
  EXPECT_EQ(st.sync, reconciler::SyncState::kOutOfSync) << st.last_error;
  EXPECT_EQ(st.out_of_sync, std::vector<std::string>{"service s_app: update"});
  EXPECT_EQ(fake_.InspectService("s_app")->spec["TaskTemplate"]["ContainerSpec"]["Image"], "manual:1");
  EXPECT_EQ(metrics_.reconcile_errors_total.With({"s"}).Value(), 1);
  EXPECT_EQ(flaky_.failures_left, 0);
}

// A full check whose shared read fails checks each stack on its own, as
// before: here the stack reads again and is found in sync.
TEST_F(ControllerRetry, FullCheckWhoseReadFailsChecksEachStackOnItsOwn) {
  Start(/*self_heal=*/false);
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  fake_.ResetCalls();
  flaky_.failures_left = 1;
  ctl_->CheckAllStacks();
  ASSERT_TRUE(ctl_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(flaky_.failures_left, 0);
  // The shared read's other three calls, then the stack's own four.
  EXPECT_EQ(fake_.Calls("ListServices"), 1);
  EXPECT_EQ(fake_.Calls("ListObjects"), 6);
  EXPECT_EQ(ctl_->ListStacks()[0].sync, reconciler::SyncState::kSynced);
  EXPECT_EQ(metrics_.reconcile_errors_total.With({"s"}).Value(), 0);
}

// Which configured repositories a webhook's push concerns (the HTTP server
// asks; the controller knows the configuration).
TEST(RepositoriesForPushTest, SameRepositoryInAnySpellingAndTheRefItFollows) {
  auto repo = [](std::string name, std::string url, gitsource::RefKind kind, std::string ref) {
    config::RepositoryConfig r;
    r.remote = {std::move(name), std::move(url), kind, std::move(ref), {}};
    return r;
  };
  const std::vector<config::RepositoryConfig> repos = {
      repo("infra", "https://github.com/acme/infra", gitsource::RefKind::kBranch, "main"),
      repo("rel", "git@github.com:acme/infra.git", gitsource::RefKind::kTag, "v1"),
      repo("pinned", "https://github.com/acme/infra.git", gitsource::RefKind::kCommit, std::string(40, 'a')),
      repo("other", "https://github.com/acme/other.git", gitsource::RefKind::kBranch, "main")};
  const std::vector<std::string> urls = {"https://github.com/acme/infra.git", "git@github.com:acme/infra.git"};
  EXPECT_EQ(RepositoriesForPush(repos, urls, "refs/heads/main"), std::vector<std::string>{"infra"});
  EXPECT_EQ(RepositoriesForPush(repos, {"ssh://git@github.com/acme/infra"}, "refs/tags/v1"),
            std::vector<std::string>{"rel"});
  EXPECT_TRUE(RepositoriesForPush(repos, urls, "refs/heads/dev").empty());
  EXPECT_TRUE(RepositoriesForPush(repos, {"https://github.com/acme/nope.git"}, "refs/heads/main").empty());
  EXPECT_TRUE(RepositoriesForPush(repos, urls, "refs/heads/" + std::string(40, 'a')).empty());
}

}  // namespace
}  // namespace stackctl::controller
