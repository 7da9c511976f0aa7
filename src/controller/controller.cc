#include "controller/controller.h"

#include "controller/report_notify.h"
#include "controller/stack_target.h"

#include <algorithm>
#include <cctype>
#include <random>
#include <utility>

#include "common/log.h"
#include "common/memory.h"
#include "gitsource/url.h"
#include "notary/swarm_root_store.h"

namespace stackctl::controller {
namespace {

// Hands a deploy's wave progress to the operations it runs for.
class OperationProgress : public reconciler::ProgressSink {
 public:
  explicit OperationProgress(std::function<void(const reconciler::WaveProgress&)> wave)
      : wave_(std::move(wave)) {}
  void Info(const std::string&) override {}
  void Service(const std::string&, const reconciler::ServiceHealth&) override {}
  void Wave(const reconciler::WaveProgress& progress) override { wave_(progress); }

 private:
  std::function<void(const reconciler::WaveProgress&)> wave_;
};

// A Git source error as a reconcile reports it. The remote refusing the
// controller's credentials or certificate (UNAUTHENTICATED,
// PERMISSION_DENIED) becomes FAILED_PRECONDITION, same message: a waited API
// sync then answers 422 ("fix the controller's repository settings"), and
// 401/403 keep meaning that the caller's API token was refused.
Status SourceError(const Status& st) {
  if (st.code() == Code::kUnauthenticated || st.code() == Code::kPermissionDenied) {
    return FailedPrecondition(st.message());
  }
  return st;
}

// How long after a reconcile engine events of its stack count as its own echo.
constexpr std::chrono::seconds kEchoWindow{2};
// An event stream that ran this long before it failed may have missed events.
constexpr std::chrono::seconds kStreamUpAtLeast{1};
// After such a failure every stack is checked this long after re-subscribing.
constexpr std::chrono::seconds kResyncDelay{1};
// A new event stream is asked for this long after one ended (by the Clock).
constexpr std::chrono::seconds kResubscribeDelay{2};
// A repository failing for longer than this many poll intervals is stale.
constexpr int kStalePolls = 3;
// The interval for that of a repository that is not polled (webhooks only).
constexpr std::chrono::minutes kUnpolledInterval{1};
// A full check's read of a stack is not used by a check that starts later
// than this after it (a queue behind a long rollout): that one reads again.
constexpr std::chrono::seconds kSharedReadMaxAge{30};
// How long an image reference that failed to resolve is not asked again
// (polls, webhooks and drift checks reconcile far more often than that).
constexpr std::chrono::minutes kImageFailureBackoff{5};

std::shared_ptr<spdlog::logger> Log() { return log::Get("controller"); }

bool FollowsRef(const gitsource::RemoteSpec& r, const std::string& ref) {
  switch (r.kind) {
    case gitsource::RefKind::kBranch: return ref == "refs/heads/" + r.ref;
    case gitsource::RefKind::kTag: return ref == "refs/tags/" + r.ref;
    case gitsource::RefKind::kCommit: return false;
  }
  return false;
}

// A history record's revision that may name a commit: hex, at least as long
// as an abbreviated id. Others ("manual", any `stackctl deploy --revision`
// text) are never looked up: the source would take them for a branch or tag
// name and fetch the whole remote to find out.
bool MayNameCommit(const std::string& revision) {
  if (revision.size() < 7 || revision.size() > 64) return false;
  return std::all_of(revision.begin(), revision.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

}  // namespace

std::vector<std::string> RepositoriesForPush(const std::vector<config::RepositoryConfig>& repositories,
                                             const std::vector<std::string>& repo_urls, const std::string& ref) {
  std::set<std::string> keys;
  for (const std::string& u : repo_urls) keys.insert(gitsource::RepoKey(u));
  std::vector<std::string> names;
  for (const config::RepositoryConfig& r : repositories) {
    if (keys.count(gitsource::RepoKey(r.remote.url)) && FollowsRef(r.remote, ref)) names.push_back(r.remote.name);
  }
  return names;
}

Controller::Controller(config::Config config, engine::Engine& engine, Clock& clock,
                       SourceFactory sources, secrets::Keyring keys, metrics::ControllerMetrics& metrics,
                       ControllerOptions options)
    : config_(std::move(config)),
      engine_(engine),
      clock_(clock),
      source_factory_(std::move(sources)),
      keys_(std::move(keys)),
      metrics_(metrics),
      options_(options) {
  deployer_ = std::make_unique<reconciler::Deployer>(engine_, clock_);
  trust_roots_ = std::make_unique<notary::SwarmRootStore>(engine_);
  for (const auto& r : config_.repositories) repos_[r.remote.name].config = &r;
  for (const auto& s : config_.stacks) {
    stacks_[s.name].config = &s;
    failed_images_[s.name] = std::make_unique<notary::FailedResolutions>(clock_, kImageFailureBackoff);
  }
}

Controller::~Controller() { Stop(); }

Status Controller::Start() {
  for (auto& [name, repo] : repos_) {
    ASSIGN_OR_RETURN(repo.source, source_factory_(*repo.config));
  }
  for (int i = 0; i < std::max(1, options_.workers); ++i) threads_.emplace_back([this] { WorkerLoop(); });
  // Level-triggered start: resolve every repository now, so every stack is
  // reconciled against the swarm as it is (after a restart too).
  for (auto& [name, repo] : repos_) PollRepository(name);
  for (auto& [name, repo] : repos_) {
    threads_.emplace_back([this, n = name] { PollLoop(n); });
  }
  if (options_.watch_events) threads_.emplace_back([this] { EventLoop(); });
  threads_.emplace_back([this] { DriftLoop(); });
  ready_ = true;
  return OkStatus();
}

void Controller::Stop() {
  if (stop_.exchange(true)) return;
  cv_.notify_all();
  ops_cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

bool Controller::Ready() {
  if (!ready_ || stop_) return false;
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [name, repo] : repos_) {
    if (StaleLocked(repo)) return false;
  }
  return true;
}

std::string Controller::NotReadyReason() {
  if (!ready_ || stop_) return "the controller is not running";
  std::lock_guard<std::mutex> l(mu_);
  std::string why;
  for (const auto& [name, repo] : repos_) {
    if (!StaleLocked(repo)) continue;
    if (!why.empty()) why += "; ";
    why += "repository " + name + " failing since " + FormatRfc3339(repo.failing_since_wall) + ": " +
           (repo.error.empty() ? repo.fetch_error : repo.error);
  }
  return why;
}

bool Controller::StaleLocked(const RepoState& repo) const {
  if (repo.failing_since == std::chrono::steady_clock::time_point{}) return false;
  auto interval = std::chrono::duration_cast<std::chrono::milliseconds>(repo.config->poll_interval);
  if (interval.count() <= 0) interval = kUnpolledInterval;
  return clock_.Steady() - repo.failing_since > kStalePolls * interval;
}

void Controller::NoteRepositoryLocked(RepoState& repo, RepoOp op, const Status& st) {
  (op == RepoOp::kResolve ? repo.error : repo.fetch_error) = st.ok() ? "" : st.message();
  if (repo.error.empty() && repo.fetch_error.empty()) {
    repo.failing_since = {};
  } else if (repo.failing_since == std::chrono::steady_clock::time_point{}) {
    repo.failing_since = clock_.Steady();
    repo.failing_since_wall = clock_.Now();
  }
}

void Controller::NoteRepository(const std::string& repository, RepoOp op, const Status& st) {
  std::lock_guard<std::mutex> l(mu_);
  NoteRepositoryLocked(repos_.at(repository), op, st);
}

void Controller::Enqueue(Request r) {
  std::lock_guard<std::mutex> l(mu_);
  if (!stacks_.count(r.stack)) return;
  auto merge = [&r](Request& into) {
    // An explicit (api) request wins over automatic ones; operations accumulate.
    if (r.trigger == reconciler::Trigger::kApi || into.trigger != reconciler::Trigger::kApi) {
      into.trigger = r.trigger;
      into.revision = r.revision;
      into.rollback_to = r.rollback_to;
    }
    into.operations.insert(into.operations.end(), r.operations.begin(), r.operations.end());
    // Two requests, maybe an event between them: the reconcile reads afresh.
    into.live.reset();
  };
  if (running_.count(r.stack)) {
    // It runs after a reconcile that may change the stack: it reads afresh.
    r.live.reset();
    auto it = deferred_.find(r.stack);
    if (it == deferred_.end()) {
      deferred_.emplace(r.stack, std::move(r));
    } else {
      merge(it->second);
    }
    return;
  }
  if (queued_.count(r.stack)) {
    for (auto& q : queue_) {
      if (q.stack == r.stack) merge(q);
    }
    return;
  }
  queued_.insert(r.stack);
  queue_.push_back(std::move(r));
  // notify_all: pollers and the drift loop wait on cv_ too; one notify could
  // wake one of them instead of a worker.
  cv_.notify_all();
}

void Controller::WorkerLoop() {
  for (;;) {
    Request r;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      r = std::move(queue_.front());
      queue_.pop_front();
      queued_.erase(r.stack);
      running_.insert(r.stack);
      StackState& st = stacks_.at(r.stack);
      // A full check's read of the stack that a reconcile finished since, or
      // that is old, no longer says what the stack is.
      if (r.live && (r.live_read_at < st.finished_at || clock_.Steady() - r.live_read_at > kSharedReadMaxAge)) {
        r.live.reset();
      }
      // This reconcile reads the live state after every event so far (a
      // full check's read may predate some: their checks stay due).
      if (!r.live) st.drift_due = {};
    }
    Reconcile(r);
    // A reconcile of a large stack allocates tens of MB (rendered specs,
    // live state, history record) and frees it again; glibc keeps freed
    // memory in its arenas. Hand it back so an idle controller stays small.
    ReleaseFreedMemory();
    {
      std::lock_guard<std::mutex> l(mu_);
      running_.erase(r.stack);
      StackState& st = stacks_.at(r.stack);
      st.rollout.reset();
      st.finished_at = clock_.Steady();
      st.echo_until = st.finished_at + kEchoWindow;
      if (st.drift_due != std::chrono::steady_clock::time_point{}) st.drift_due = st.echo_until;
      auto it = deferred_.find(r.stack);
      if (it != deferred_.end()) {
        queued_.insert(r.stack);
        queue_.push_back(std::move(it->second));
        deferred_.erase(it);
      }
    }
    cv_.notify_all();
  }
}

void Controller::PollLoop(std::string repository) {
  const auto interval = repos_.at(repository).config->poll_interval;
  std::mt19937 rng(std::hash<std::string>{}(repository) ^ static_cast<unsigned>(getpid()));
  RepoState& repo = repos_.at(repository);
  for (;;) {
    reconciler::Trigger trigger = reconciler::Trigger::kPoll;
    {
      std::unique_lock<std::mutex> l(mu_);
      auto woken = [&] { return stop_.load() || repo.push_pending; };
      if (interval.count() <= 0) {
        cv_.wait(l, woken);  // webhooks only
      } else {
        // +-10% jitter so many controllers/repositories do not poll in lockstep.
        auto base = std::chrono::duration_cast<std::chrono::milliseconds>(interval).count();
        std::uniform_int_distribution<int64_t> jitter(-base / 10, base / 10);
        cv_.wait_for(l, std::chrono::milliseconds(base + jitter(rng)), woken);
      }
      if (stop_) return;
      if (repo.push_pending) trigger = reconciler::Trigger::kWebhook;
      repo.push_pending = false;
    }
    PollRepository(repository, trigger);
  }
}

void Controller::PollRepository(const std::string& repository, reconciler::Trigger trigger) {
  gitsource::Source* source = nullptr;
  std::string old_head;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = repos_.find(repository);
    if (it == repos_.end() || !it->second.source) return;
    source = it->second.source.get();
    old_head = it->second.head;
  }
  auto head = source->ResolveRemote();
  std::vector<std::string> to_reconcile;
  {
    std::lock_guard<std::mutex> l(mu_);
    RepoState& repo = repos_.at(repository);
    NoteRepositoryLocked(repo, RepoOp::kResolve, head.status());
    if (!head.ok()) {
      Log()->warn("repository {}: {}", repository, repo.error);
      return;
    }
    if (*head == old_head) return;  // nothing new: one ref lookup, nothing else
    repo.head = *head;
    for (auto& [name, st] : stacks_) {
      if (st.config->repository == repository) to_reconcile.push_back(name);
    }
  }
  Log()->info("repository {}: {} -> {}", repository, old_head.empty() ? "(start)" : old_head.substr(0, 12),
              head->substr(0, 12));
  // Only stacks that the new commit can change: a path in their directory or
  // one their last render read. One that cannot be told (no render yet, or
  // the paths cannot be listed) is reconciled.
  bool fetched = false;
  for (const auto& name : to_reconcile) {
    std::string rendered, path;
    std::set<std::string> inputs;
    bool inputs_known;
    {
      std::lock_guard<std::mutex> l(mu_);
      const StackState& st = stacks_.at(name);
      rendered = st.rendered_commit;
      path = st.config->path;
      inputs = st.inputs;
      inputs_known = st.inputs_known;
    }
    bool changed = true;
    if (!rendered.empty() && inputs_known) {
      Status fetch = OkStatus();
      if (!fetched) {
        fetch = source->Fetch(*head).status();
        NoteRepository(repository, RepoOp::kFetch, fetch);
      }
      fetched = fetch.ok();
      auto paths = fetch.ok() ? source->ChangedPaths(rendered, *head)
                              : Result<std::vector<std::string>>(fetch);
      if (paths.ok()) changed = gitsource::StackInputsChanged(*paths, path, inputs);
    }
    // Otherwise the stack stays at the commit it rendered last: nothing it
    // reads differs at the new head.
    if (changed)
      Enqueue({.stack = name, .trigger = old_head.empty() ? reconciler::Trigger::kStart : trigger});
  }
}

std::vector<std::string> Controller::OnPush(const server::RepositoryPush& push) {
  std::vector<std::string> names = RepositoriesForPush(config_.repositories, push.repo_urls, push.ref);
  if (names.empty()) return names;
  // The repository's poll thread resolves it at once, so the HTTP answer is
  // not delayed and Stop() joins the work.
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const std::string& name : names) {
      Log()->info("webhook: push to {} ({})", name, push.commit.empty() ? "?" : push.commit.substr(0, 12));
      repos_.at(name).push_pending = true;
    }
  }
  cv_.notify_all();
  return names;
}

void Controller::CheckDrift(const std::string& stack) {
  Enqueue({.stack = stack, .trigger = reconciler::Trigger::kDrift});
}

void Controller::CheckAllStacks() {
  std::set<std::string> names;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [name, st] : stacks_) names.insert(name);
  }
  const auto read_at = clock_.Steady();
  auto live = reconciler::ReadLiveStacks(engine_, names);
  if (!live.ok()) {
    Log()->warn("full check: {}; checking each stack on its own", live.status().message());
    for (const auto& name : names) CheckDrift(name);
    return;
  }
  for (auto& [name, state] : *live) {
    Enqueue({.stack = name,
             .trigger = reconciler::Trigger::kDrift,
             .live = std::move(state),
             .live_read_at = read_at});
  }
}

void Controller::CheckEveryStackSoon() {
  std::lock_guard<std::mutex> l(mu_);
  auto due = clock_.Steady() + kResyncDelay;
  for (auto& [name, st] : stacks_) {
    if (st.drift_due == std::chrono::steady_clock::time_point{} || st.drift_due > due) st.drift_due = due;
  }
}

void Controller::EventLoop() {
  engine::Filters f{{"type", {"service", "network", "secret", "config"}}};
  // The engine's time (ns) of the last event seen; 0 = none yet. A new stream
  // resumes from it: dockerd first replays the events it still buffers from
  // that time on, that event included, so a change made while no stream ran
  // is still seen as an event.
  int64_t last_seen = 0;
  bool lost_events = false;
  while (!stop_) {
    if (lost_events) {
      // Whatever happened while the stream was down is unknown: every stack
      // gets one check, due once the new stream has subscribed.
      CheckEveryStackSoon();
      lost_events = false;
    }
    const int64_t since = last_seen;
    bool first = true;
    const auto subscribed = clock_.Steady();
    Status st = engine_.StreamEvents(
        f, since,
        [&](const Json& ev) {
          if (stop_) return false;
          int64_t t = engine::EventTimeNano(ev);
          if (since > 0 && std::exchange(first, false)) {
            // The replay starts with the event we saw last: nothing is
            // missing, and that one was handled already. Starting later, the
            // engine no longer had it (more than its 256 buffered events
            // since, or it restarted): what fell in between is unknown.
            if (t == since) return true;
            Log()->warn("engine events: the engine no longer buffers the events since the stream broke; "
                        "checking every stack");
            CheckEveryStackSoon();
          }
          last_seen = std::max(last_seen, t);
          std::string name = ev.value("Actor", Json::object()).value("Attributes", Json::object()).value("name", "");
          std::vector<std::string> hit;
          {
            std::lock_guard<std::mutex> l(mu_);
            for (const auto& [stack, st] : stacks_) {
              if (name.rfind(stack + "_", 0) == 0) hit.push_back(stack);
            }
          }
          for (const auto& s : hit) OnStackEvent(s);
          return true;
        },
        /*timeout_ms=*/0, &stop_);
    if (stop_) return;
    Log()->warn("engine events: {}", st.ok() ? "the stream ended" : st.message());
    // The next stream resumes from the last event seen. Without one there is
    // no time to resume from: a stream that was up may have lost events (a
    // refused connection has not).
    lost_events = last_seen == 0 && clock_.Steady() - subscribed >= kStreamUpAtLeast;
    // Waits on the Clock, in short real slices, so tests on a FakeClock move
    // past the delay by advancing it.
    const auto resubscribe_at = clock_.Steady() + kResubscribeDelay;
    std::unique_lock<std::mutex> l(mu_);
    while (!stop_ && clock_.Steady() < resubscribe_at) {
      cv_.wait_for(l, std::chrono::milliseconds(100), [&] { return stop_.load(); });
    }
  }
}

void Controller::OnStackEvent(const std::string& stack) {
  {
    std::lock_guard<std::mutex> l(mu_);
    StackState& st = stacks_.at(stack);
    auto now = clock_.Steady();
    if (running_.count(stack)) {
      st.drift_due = now + kEchoWindow;  // moved to the window's end when the reconcile ends
      return;
    }
    if (now < st.echo_until) {
      st.drift_due = st.echo_until;
      return;
    }
  }
  CheckDrift(stack);
}

void Controller::ProcessDueDriftChecks() {
  std::vector<std::string> due;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto now = clock_.Steady();
    for (auto& [name, st] : stacks_) {
      if (st.drift_due != std::chrono::steady_clock::time_point{} && st.drift_due <= now &&
          !running_.count(name)) {
        st.drift_due = {};
        due.push_back(name);
      }
    }
  }
  for (const auto& s : due) CheckDrift(s);
}

void Controller::ProcessDueRetries() {
  std::vector<Request> due;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto now = clock_.Steady();
    for (auto& [name, st] : stacks_) {
      if (st.failures > 0 && st.retry_at != std::chrono::steady_clock::time_point{} && st.retry_at <= now) {
        st.retry_at = {};
        due.push_back({.stack = name, .trigger = reconciler::RetryTrigger(st.retry_trigger)});
      }
    }
  }
  for (auto& r : due) Enqueue(std::move(r));
}

void Controller::RunDueWork() {
  ProcessDueRetries();
  ProcessDueDriftChecks();
}

void Controller::DriftLoop() {
  auto next_check = clock_.Steady() + options_.drift_check_interval;
  while (!stop_) {
    {
      std::unique_lock<std::mutex> l(mu_);
      if (cv_.wait_for(l, std::chrono::milliseconds(500), [&] { return stop_.load(); })) return;
    }
    RunDueWork();
    if (clock_.Steady() >= next_check) {
      next_check = clock_.Steady() + options_.drift_check_interval;
      CheckAllStacks();
    }
  }
}

void Controller::Reconcile(Request& r) {
  if (r.rollback_to > 0) return RollBack(r);
  auto started = clock_.Steady();
  const config::StackConfig* cfg;
  gitsource::Source* source;
  std::string target, failed_commit;
  {
    std::lock_guard<std::mutex> l(mu_);
    StackState& st = stacks_.at(r.stack);
    cfg = st.config;
    RepoState& repo = repos_.at(cfg->repository);
    source = repo.source.get();
    target = !r.revision.empty() ? r.revision : repo.head;
    failed_commit = st.failed_commit;
    for (const auto& id : r.operations) {
      auto op = operations_.find(id);
      if (op != operations_.end()) op->second.state = server::OperationState::kRunning;
    }
  }
  auto log = Log();
  auto finish_metrics = [&](const std::string& result) {
    metrics_.reconcile_total.With({r.stack, result}).Inc();
    metrics_.reconcile_time_seconds.With({r.stack})
        .Observe(std::chrono::duration<double>(clock_.Steady() - started).count());
  };
  auto fail = [&](const Status& st, const std::string& commit, bool terminal) {
    {
      std::lock_guard<std::mutex> l(mu_);
      StackState& s = stacks_.at(r.stack);
      s.sync = reconciler::SyncState::kFailed;
      s.last_error = st.message();
      s.last_result = terminal ? reconciler::ReconcileResult::kFailed : reconciler::ReconcileResult::kError;
      s.last_sync_time = FormatRfc3339(clock_.Now());
      if (terminal) {
        s.failed_commit = commit;
        s.failures = 0;
      } else {
        // Exponential backoff per stack: 1 s, 2 s, 4 s ... capped; the retry
        // runs with this attempt's trigger.
        s.failures++;
        s.retry_trigger = r.trigger;
        auto backoff = options_.min_backoff * (1LL << std::min(s.failures - 1, 16));
        s.retry_at = clock_.Steady() + std::min<std::chrono::milliseconds>(backoff, options_.max_backoff);
      }
    }
    metrics_.reconcile_errors_total.With({r.stack}).Inc();
    finish_metrics("error");
    log->error("stack {} commit {} ({}): {}", r.stack, commit.substr(0, 12), reconciler::TriggerName(r.trigger),
               st.message());
    NoteRecordedRevision(r.stack);
    FinishOperations(r.operations, {commit, std::nullopt, st, ""});
  };

  // Errors of the source (credentials, network, certificates, a missing
  // branch, its cache) say nothing about the commit: they keep the backoff
  // and are retried, so fixing a token or the network is enough. Only a
  // revision the caller named that the remote does not have is final.
  auto source_error_is_terminal = [&](const Status& st) {
    return !r.revision.empty() &&
           (st.code() == Code::kNotFound || st.code() == Code::kInvalidArgument);
  };
  // An explicit sync of "the branch" means its newest commit, not the last one polled.
  if (target.empty() || (r.trigger == reconciler::Trigger::kApi && r.revision.empty())) {
    auto head = source->ResolveRemote();
    NoteRepository(cfg->repository, RepoOp::kResolve, head.status());
    if (!head.ok()) return fail(SourceError(head.status()), "", /*terminal=*/false);
    target = *head;
    std::lock_guard<std::mutex> l(mu_);
    repos_.at(cfg->repository).head = *head;
  }
  auto snap = source->Fetch(target);
  // An explicit revision that cannot be fetched says nothing about the repository.
  if (r.revision.empty()) NoteRepository(cfg->repository, RepoOp::kFetch, snap.status());
  if (!snap.ok()) return fail(SourceError(snap.status()), target, source_error_is_terminal(snap.status()));
  const std::string commit = snap->commit();

  const config::RepositoryConfig& repo_config = *config_.FindRepository(cfg->repository);
  // The policy: deploy, only compare or skip; render; verify; deploy or diff.
  stacksync::ReconcileEnv env{
      .engine = engine_,
      .clock = clock_,
      .keys = keys_,
      .trust_roots = *trust_roots_,
      .trust_cache = trust_cache_,
      .decided = [&](reconciler::Decision d) {
        if (d == reconciler::Decision::kDeploy && options_.notifier) {
          options_.notifier->Started(r.stack, commit, repo_config.commit_status,
                                     r.trigger == reconciler::Trigger::kDrift);
        }
        if (d == reconciler::Decision::kSkip || r.trigger == reconciler::Trigger::kDrift) return;
        std::lock_guard<std::mutex> l(mu_);
        stacks_.at(r.stack).sync = reconciler::SyncState::kProgressing;
      }};
  env.failed_images = failed_images_.at(r.stack).get();
  env.live = std::move(r.live);
  OperationProgress progress(
      [&](const reconciler::WaveProgress& p) { NoteProgress(r.stack, r.operations, p); });
  env.progress = &progress;
  const stacksync::ReconcileReport rep =
      ReconcileAtCommit(TargetFromConfig(*cfg), cfg->path, *snap, r.trigger, commit == failed_commit, env);
  if (options_.notifier && rep.decision != reconciler::Decision::kSkip) {
    options_.notifier->Finished(StackOutcomeOf(r.stack, repo_config, r.trigger, rep));
  }
  if (rep.decision == reconciler::Decision::kSkip) {
    // This commit already failed for good: wait for a new one (no hot loop).
    std::string why;
    {
      std::lock_guard<std::mutex> l(mu_);
      why = stacks_.at(r.stack).last_error;
    }
    FinishOperations(r.operations, {commit, std::nullopt,
                                    FailedPrecondition("stack " + r.stack + ": commit " + commit.substr(0, 12) +
                                                       " failed before and waits for a new commit: " + why),
                                    ""});
    return;
  }
  if (rep.inputs_known) {
    std::lock_guard<std::mutex> l(mu_);
    StackState& s = stacks_.at(r.stack);
    s.inputs = rep.inputs;
    s.inputs_known = true;
  }
  if (rep.error) return fail(*rep.error, commit, rep.terminal);

  // Bookkeeping: status, metrics, operations.
  const auto& res = rep.result;
  for (const auto& [kind, n] : rep.managed) metrics_.managed_objects.With({r.stack, kind}).Set(n);
  if (rep.drifted) metrics_.drift_detected_total.With({r.stack}).Inc(static_cast<double>(rep.drifted));
  const std::string result_label = res.outcome == reconciler::Outcome::kSucceeded ? "success"
                                   : rep.ok                                       ? "noop"
                                                                                  : "error";
  {
    std::lock_guard<std::mutex> l(mu_);
    StackState& s = stacks_.at(r.stack);
    s.last_sync_time = FormatRfc3339(clock_.Now());
    s.last_result = rep.outcome;
    s.out_of_sync.clear();
    s.last_error.clear();  // this reconcile ran to its end; a failed rollout sets it below
    s.failures = 0;
    s.pinned = rep.pinned;
    // The pin is kept apart (StackState::sync): a pinned stack whose
    // comparison found changes is OutOfSync underneath.
    s.sync = rep.sync != reconciler::SyncState::kPinned ? rep.sync
             : rep.pending.empty()                      ? reconciler::SyncState::kSynced
                                                        : reconciler::SyncState::kOutOfSync;
    if (rep.decision == reconciler::Decision::kDeploy &&
        (res.outcome == reconciler::Outcome::kSucceeded ||
         res.outcome == reconciler::Outcome::kInSync)) {
      s.image_verdicts = reconciler::MergeVerdicts(s.image_verdicts, res.image_verdicts);
    }
    if (rep.sync == reconciler::SyncState::kPinned || rep.sync == reconciler::SyncState::kOutOfSync) {
      s.out_of_sync = rep.pending;
    } else if (rep.ok) {
      s.health = reconciler::StackHealth::kHealthy;
      s.last_failed_service.clear();
      s.applied_commit = commit;
      s.applied_info = snap->info();
      s.failed_commit.clear();
    } else {
      s.health = reconciler::StackHealth::kDegraded;
      s.last_error = res.message;
      s.last_failed_service = res.failed_service;
      s.failed_commit = commit;
      // Rolled back: the swarm runs what it ran before. A rollout that
      // failed without a rollback left the commit's specs in part: shown.
      if (res.outcome != reconciler::Outcome::kRolledBack) {
        s.applied_commit = commit;
        s.applied_info = snap->info();
      }
    }
    s.rendered_commit = commit;
  }
  NoteRecordedRevision(r.stack);  // when still empty: a compare or a failure deployed nothing
  if (rep.ok) {
    metrics_.last_success_timestamp_seconds.With({r.stack})
        .Set(static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count()));
  } else {
    metrics_.reconcile_errors_total.With({r.stack}).Inc();
  }
  finish_metrics(result_label);
  if (res.outcome != reconciler::Outcome::kInSync || !rep.pending.empty()) {
    log->info("stack {} commit {} ({}): {}: {}", r.stack, commit.substr(0, 12), reconciler::TriggerName(r.trigger),
              reconciler::ReconcileResultName(rep.outcome), rep.message);
  }
  Finished done{commit,
                server::OperationReport{rep.outcome, rep.message, res.history_seq, rep.pending, res.still_removing},
                std::nullopt, ""};
  // A rollout that failed (and was rolled back) is a terminal failure of this
  // commit: FAILED_PRECONDITION (HTTP 422), not ABORTED (409, "try again").
  if (!rep.ok) {
    done.error = FailedPrecondition(res.message);
    done.failed_service = res.failed_service;
  }
  FinishOperations(r.operations, done);
}

std::string Controller::NewOperationLocked(const std::string& stack, const std::string& revision) {
  const std::string id = "op-" + std::to_string(next_operation_++);
  server::Operation& op = operations_[id];
  op.id = id;
  op.stack = stack;
  op.revision = revision;
  op.state = server::OperationState::kPending;
  op.created_at = FormatRfc3339(clock_.Now());
  // Keep the newest 1000 operations.
  while (operations_.size() > 1000) {
    auto oldest = std::min_element(operations_.begin(), operations_.end(), [](const auto& a, const auto& b) {
      return std::stoull(a.first.substr(3)) < std::stoull(b.first.substr(3));
    });
    operations_.erase(oldest);
  }
  return id;
}

Result<std::string> Controller::Sync(const std::string& stack, const std::optional<std::string>& revision) {
  std::string id;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!stacks_.count(stack)) return NotFound("stack " + stack + ": not managed by this controller");
    id = NewOperationLocked(stack, revision.value_or(""));
  }
  Enqueue({.stack = stack,
           .trigger = reconciler::Trigger::kApi,
           .revision = revision.value_or(""),
           .operations = {id}});
  return id;
}

Result<std::string> Controller::Rollback(const std::string& stack, int64_t seq) {
  // The record is checked now, so a wrong one is refused at once.
  ASSIGN_OR_RETURN(auto records, GetHistory(stack));
  auto record = std::find_if(records.begin(), records.end(), [&](const auto& r) { return r.seq == seq; });
  if (record == records.end()) return NotFound("stack " + stack + ": no history record " + std::to_string(seq));
  if (record->result != reconciler::HistoryResult::kSucceeded) {
    return FailedPrecondition("stack " + stack + ": record " + std::to_string(seq) + " is a " +
                              std::string(reconciler::HistoryResultName(record->result)) +
                              " deploy; roll back to a succeeded one");
  }
  std::string id;
  {
    std::lock_guard<std::mutex> l(mu_);
    id = NewOperationLocked(stack, record->revision);
  }
  Enqueue({.stack = stack,
           .trigger = reconciler::Trigger::kApi,
           .revision = record->revision,
           .operations = {id},
           .rollback_to = seq});
  return id;
}

void Controller::RollBack(const Request& r) {
  const config::StackConfig* cfg;
  reconciler::SyncState before;
  {
    std::lock_guard<std::mutex> l(mu_);
    StackState& st = stacks_.at(r.stack);
    cfg = st.config;
    before = st.sync;
    st.sync = reconciler::SyncState::kProgressing;
    for (const auto& id : r.operations) {
      auto op = operations_.find(id);
      if (op != operations_.end()) op->second.state = server::OperationState::kRunning;
    }
  }
  OperationProgress progress(
      [&](const reconciler::WaveProgress& p) { NoteProgress(r.stack, r.operations, p); });
  reconciler::Deployer deployer(engine_, clock_, &progress);
  Result<reconciler::DeployResult> res =
      deployer.Rollback(r.stack, r.rollback_to, TargetFromConfig(*cfg).deploy);
  auto log = Log();
  if (!res.ok()) {
    // Nothing was deployed (the record went away, the lock is held, ...).
    {
      std::lock_guard<std::mutex> l(mu_);
      stacks_.at(r.stack).sync = before;
    }
    log->error("stack {}: rollback to record {}: {}", r.stack, r.rollback_to, res.status().message());
    FinishOperations(r.operations, {"", std::nullopt, res.status(), ""});
    return;
  }
  const bool ok = res->outcome == reconciler::Outcome::kSucceeded || res->outcome == reconciler::Outcome::kInSync;
  // The stack now runs the record's revision: shown with its commit's
  // message, author and time when the repository has that commit (from the
  // Git cache, no network traffic for a commit deployed from it before),
  // otherwise the revision alone (a record of `stackctl deploy`, a commit
  // the remote no longer has).
  std::string revision = r.revision;
  gitsource::CommitInfo info;
  if (ok && MayNameCommit(revision)) {
    gitsource::Source* source;
    {
      std::lock_guard<std::mutex> l(mu_);
      source = repos_.at(cfg->repository).source.get();
    }
    auto snap = source->Fetch(revision);
    if (snap.ok()) {
      info = snap->info();
      revision = info.commit;  // a full id for an abbreviated one
    } else {
      log->info("stack {}: rollback to record {}: revision {} shown without its commit: {}", r.stack,
                r.rollback_to, revision, snap.status().message());
    }
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    StackState& s = stacks_.at(r.stack);
    s.last_sync_time = FormatRfc3339(clock_.Now());
    s.last_result = stacksync::ResultOf(res->outcome);
    s.out_of_sync.clear();
    if (ok) {
      // The stack now runs the record's specs and stays there (pinned); the
      // verdicts of the images it ran before hold where the digest is the same.
      s.sync = reconciler::SyncState::kSynced;
      s.pinned = true;
      s.image_verdicts = reconciler::MergeVerdicts(s.image_verdicts, res->image_verdicts);
      s.health = reconciler::StackHealth::kHealthy;
      s.last_error.clear();
      s.last_failed_service.clear();
      s.applied_commit = revision;
      s.applied_info = info;  // empty: the view shows the revision alone
      s.rendered_commit = revision;
    } else {
      s.sync = reconciler::SyncState::kFailed;
      s.health = reconciler::StackHealth::kDegraded;
      s.last_error = res->message;
      s.last_failed_service = res->failed_service;
    }
  }
  log->info("stack {}: rollback to record {}: {}: {}", r.stack, r.rollback_to, reconciler::OutcomeName(res->outcome),
            res->message);
  // What differs between the swarm and the branch head needs the head's
  // render, which the rollback does not have: a drift check of the stack runs
  // right after it (the stack is pinned, so it only compares) and fills the
  // pending changes in. Queued before the operation ends, so whoever waits on
  // it and then for an idle controller sees them.
  if (ok) CheckDrift(r.stack);
  Finished done{revision,
                server::OperationReport{stacksync::ResultOf(res->outcome), res->message,
                                        res->history_seq, {}, res->still_removing},
                std::nullopt, ""};
  if (!ok) {
    done.error = FailedPrecondition(res->message);
    done.failed_service = res->failed_service;
  }
  FinishOperations(r.operations, done);
}

void Controller::NoteRecordedRevision(const std::string& stack) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!stacks_.at(stack).applied_commit.empty()) return;
  }
  auto revision = reconciler::HistoryStore(engine_, stack).LastSucceededRevision();
  if (!revision.ok() || !*revision) return;
  std::lock_guard<std::mutex> l(mu_);
  StackState& s = stacks_.at(stack);
  if (s.applied_commit.empty()) {
    s.applied_commit = **revision;
    s.applied_info = {};  // the view shows the revision alone
  }
}

void Controller::NoteProgress(const std::string& stack, const std::vector<std::string>& ids,
                              const reconciler::WaveProgress& progress) {
  std::lock_guard<std::mutex> l(mu_);
  stacks_.at(stack).rollout = progress;
  for (const auto& id : ids) {
    auto it = operations_.find(id);
    if (it != operations_.end()) it->second.progress = progress;
  }
}

void Controller::FinishOperations(const std::vector<std::string>& ids, const Finished& finished) {
  if (ids.empty()) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& id : ids) {
      auto it = operations_.find(id);
      if (it == operations_.end()) continue;
      server::Operation& op = it->second;
      op.state = finished.error ? server::OperationState::kFailed : server::OperationState::kSucceeded;
      op.revision = finished.revision;
      op.report = finished.report;
      op.error = finished.error;
      op.failed_service = finished.failed_service;
      op.finished_at = FormatRfc3339(clock_.Now());
    }
  }
  ops_cv_.notify_all();
}

namespace {
bool Done(const server::Operation& op) {
  return op.state == server::OperationState::kSucceeded || op.state == server::OperationState::kFailed;
}
}  // namespace

Result<server::Operation> Controller::WaitOperation(const std::string& id, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(mu_);
  if (!operations_.count(id)) return NotFound("operation " + id + ": not found");
  ops_cv_.wait_for(l, timeout, [&] { return stop_ || !operations_.count(id) || Done(operations_.at(id)); });
  auto it = operations_.find(id);
  if (it == operations_.end()) return NotFound("operation " + id + ": not found");
  return it->second;
}

Result<server::Operation> Controller::GetOperation(const std::string& id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = operations_.find(id);
  if (it == operations_.end()) return NotFound("operation " + id + ": not found");
  return it->second;
}

server::StackView Controller::StackViewLocked(const std::string& name, const StackState& s) const {
  const auto& repo = repos_.at(s.config->repository);
  server::StackView v;
  v.name = name;
  v.repository = s.config->repository;
  v.repository_url = repo.source ? repo.source->DisplayUrl() : "";
  v.path = s.config->path;
  v.revision = s.applied_commit;
  if (s.applied_info.commit == s.applied_commit && !s.applied_commit.empty()) {
    v.revision_summary = s.applied_info.summary;
    v.revision_author = s.applied_info.author;
    v.revision_time = FormatRfc3339(Clock::TimePoint(std::chrono::seconds(s.applied_info.time)));
  }
  v.target_revision = repo.head;
  v.failed_revision = s.failed_commit;
  v.repository_error = repo.error.empty() ? repo.fetch_error : repo.error;
  v.repository_failing_since =
      repo.failing_since == std::chrono::steady_clock::time_point{} ? "" : FormatRfc3339(repo.failing_since_wall);
  v.repository_stale = StaleLocked(repo);
  v.sync = reconciler::ShownSyncState(s.sync, s.pinned);
  v.pinned = s.pinned;
  v.image_verdicts = s.image_verdicts;
  v.rollout = s.rollout;
  v.health = s.health;
  v.last_result = s.last_result;
  v.last_error = s.last_error;
  v.last_sync_time = s.last_sync_time;
  v.last_failed_service = s.last_failed_service;
  v.out_of_sync = s.out_of_sync;
  v.auto_sync = s.config->options.auto_sync;
  v.self_heal = s.config->options.self_heal;
  v.prune = s.config->options.prune;
  return v;
}

std::vector<server::StackView> Controller::ListStacks() {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<server::StackView> out;
  for (const auto& [name, s] : stacks_) out.push_back(StackViewLocked(name, s));
  return out;
}

Result<server::StackView> Controller::GetStack(const std::string& name) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!stacks_.count(name)) return NotFound("stack " + name + ": not managed by this controller");
  }
  // The swarm first: the pin read now is kept for the stacks list too, and the
  // view below is made from the state it updated (one ShownSyncState for both).
  auto st = deployer_->GetStatus(name);
  server::StackView v;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = stacks_.find(name);
    if (st.ok()) it->second.pinned = st->control.pinned;
    v = StackViewLocked(name, it->second);
    for (const auto& [id, op] : operations_) {
      if (op.stack == name && !Done(op)) v.operations.push_back(op);
    }
    std::sort(v.operations.begin(), v.operations.end(), [](const auto& a, const auto& b) {
      return std::stoull(a.id.substr(3)) < std::stoull(b.id.substr(3));
    });
  }
  if (st.ok()) {
    // What the swarm says now wins over what the last reconcile saw.
    std::vector<reconciler::HealthState> services;
    for (const auto& s : st->services) services.push_back(s.health.state);
    v.health = reconciler::StackHealthOf(services);
    v.live = std::move(*st);
  } else {
    v.live_error = st.status().message();
  }
  auto hist = GetHistory(name);
  if (hist.ok()) v.history = std::move(*hist);
  return v;
}

Result<std::vector<reconciler::HistoryRecord>> Controller::GetHistory(const std::string& name) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!stacks_.count(name)) return NotFound("stack " + name + ": not managed by this controller");
  }
  ASSIGN_OR_RETURN(auto records, deployer_->History(name));
  for (auto& r : records) r.spec = Json();  // the API shows no specs
  return records;
}

Status Controller::SetPinned(const std::string& stack, bool pinned) {
  std::string revision;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = stacks_.find(stack);
    if (it == stacks_.end()) return NotFound("stack " + stack + ": not managed by this controller");
    revision = it->second.applied_commit;
  }
  RETURN_IF_ERROR(deployer_->SetPinned(stack, pinned, "api", revision));
  {
    std::lock_guard<std::mutex> l(mu_);
    stacks_.at(stack).pinned = pinned;
  }
  if (!pinned) Enqueue({.stack = stack, .trigger = reconciler::Trigger::kPoll});
  return OkStatus();
}

bool Controller::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(mu_);
  return cv_.wait_for(l, timeout, [&] { return queue_.empty() && running_.empty() && deferred_.empty(); });
}

}  // namespace stackctl::controller
