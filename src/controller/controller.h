// Controller: the GitOps loop of stackctld (controller-runtime's model).
//
// Requests carry only a stack name and a trigger; a reconcile reads the
// desired state (the stack's files at the target commit, rendered by
// render::RenderStack) and the live state every time, and lets the Deployer
// change what differs. Triggers:
//   poll      one remote ref lookup per repository every poll interval (with
//             jitter); nothing new -> nothing else happens
//   webhook   OnPush from the HTTP server: resolve the repository now
//   api       Sync(stack, revision) from the CI API: an operation to wait on
//   drift     the engine's event stream (service/network/secret/config events
//             of a managed stack) and a periodic full check (CheckAllStacks:
//             one read of every stack, four list calls in all, then each
//             stack compared on its part): with self_heal
//             the drift is reverted, otherwise the stack is OutOfSync. Events
//             that arrive while the stack reconciles, or within kEchoWindow
//             after, are mostly the echo of its own writes: they schedule one
//             check at the end of the window instead of an immediate one (a
//             reconcile that starts meanwhile covers them), so a webhook right
//             after a deploy does not queue behind a full check of the stack.
//             One stream stays open; when it breaks, the next one resumes
//             with `since` = the time of the last event seen, so the engine
//             replays the events of the gap (and when it no longer buffers
//             them, or no event was seen yet, every stack is checked once)
// On a new commit only the stacks it can change are reconciled: those with a
// changed path inside their directory or among the repository paths their
// last render read or looked for (compose and override files, `.env`,
// env_file, secret/config files, a bundle; gitsource::StackInputsChanged). A
// stack keeps the commit it last rendered as its revision (after an API
// rollback: the history record's revision, see RollBack). One reconcile is
// ReconcileAtCommit(TargetFromConfig(stack), path, snapshot, trigger, ...)
// (stack_target.h, over stacksync::ReconcileStack): whether it deploys, only compares or skips
// (reconciler::DecideReconcile), the render, the trust chain and the deploy
// or diff. The Controller resolves and fetches the commit, and maps the
// ReconcileReport to status, metrics and operations.
//
// Errors: retryable ones (kUnavailable, kAborted, kDeadlineExceeded: engine or
// git down) requeue with per-stack exponential backoff (1 s .. 5 min), reset on
// success; a retry keeps the trigger of the attempt that failed. Anything else (a bad compose file, an unsigned image, a rolled-back
// rollout) marks the commit failed: it is not retried until the commit changes
// (no hot loop), and the status shows the path-qualified error. An operation
// whose rollout failed and was rolled back ends "failed" with the code
// FAILED_PRECONDITION (the commit cannot be applied as it is).
// A repository whose head cannot be resolved, or whose head cannot be fetched
// (the Git cache repairs itself, see gitsource/git_source.h), for longer than
// kStalePolls poll intervals (kStalePolls minutes when it is not polled) is
// shown in every stack's status (repository_failing_since, repository_stale)
// and makes /readyz answer 503 naming it, until one succeeds.
// A stack pinned by `stackctl deploy/rollback` is diffed but not changed by
// automatic triggers until `stackctl resume`; an explicit API sync still runs.
//
// Thread safety: all public methods may be called from any thread. Internally
// one mutex guards the per-stack state, the queue and the operations.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"
#include "engineapi/engine.h"
#include "gitsource/source.h"
#include "notary/failed_resolutions.h"
#include "notary/trust_store.h"
#include "notify/notifier.h"
#include "reconciler/deployer.h"
#include "reconciler/policy.h"
#include "config/config.h"
#include "secrets/keyring.h"
#include "server/controller_api.h"  // the only server header the controller sees

namespace stackctl::controller {

struct ControllerOptions {
  int workers = 2;  // stacks reconciled concurrently (one stack never twice at once)
  // The periodic full check; stackctld takes it from the configuration
  // (controller.full_check_interval).
  std::chrono::milliseconds drift_check_interval{std::chrono::minutes(3)};
  std::chrono::milliseconds min_backoff{std::chrono::seconds(1)};
  std::chrono::milliseconds max_backoff{std::chrono::minutes(5)};
  bool watch_events = true;
  // Told when a deploy starts and how each reconcile ended (commit statuses,
  // notifications); it only queues, never blocks. Null = nobody is told.
  notify::Notifier* notifier = nullptr;
};

// Builds the Source of a repository (GitSource in production, fakes in tests).
using SourceFactory =
    std::function<Result<std::unique_ptr<gitsource::Source>>(const config::RepositoryConfig&)>;

// The configured repositories (their names) that a pushed `ref` of a
// repository known by any of `repo_urls` concerns: same repository in any
// spelling (gitsource::RepoKey), and the branch or tag they follow. A
// repository pinned to a commit is never concerned.
std::vector<std::string> RepositoriesForPush(const std::vector<config::RepositoryConfig>& repositories,
                                             const std::vector<std::string>& repo_urls, const std::string& ref);

class Controller : public server::ControllerApi {
 public:
  Controller(config::Config config, engine::Engine& engine, Clock& clock, SourceFactory sources,
             secrets::Keyring keys, metrics::ControllerMetrics& metrics, ControllerOptions options = {});
  ~Controller() override;

  // Creates the sources and starts pollers, workers and the event watcher.
  Status Start();
  void Stop();

  // server::ControllerApi
  bool Ready() override;
  std::string NotReadyReason() override;
  std::vector<std::string> OnPush(const server::RepositoryPush& push) override;
  Result<std::string> Sync(const std::string& stack, const std::optional<std::string>& revision) override;
  Result<server::Operation> WaitOperation(const std::string& id, std::chrono::milliseconds timeout) override;
  std::vector<server::StackView> ListStacks() override;
  Result<server::StackView> GetStack(const std::string& name) override;
  Result<std::vector<reconciler::HistoryRecord>> GetHistory(const std::string& name) override;
  Result<server::Operation> GetOperation(const std::string& id) override;
  // Writes the pin as `stackctl deploy` does (pinned_by "api"); resuming
  // queues a reconcile of the stack so it catches up with its repository.
  Status SetPinned(const std::string& stack, bool pinned) override;
  Result<std::string> Rollback(const std::string& stack, int64_t seq) override;

  // Resolves one repository now (what a poll tick does; a webhook's trigger
  // is kWebhook).
  void PollRepository(const std::string& repository,
                      reconciler::Trigger trigger = reconciler::Trigger::kPoll);
  // Queues a drift check of one stack (what an engine event does).
  void CheckDrift(const std::string& stack);
  // The periodic full check (every drift_check_interval): the live state of
  // every stack read at once (reconciler::ReadLiveStacks, four list calls
  // whatever the number of stacks), then a drift check of each stack on its
  // part of that read. A part is not used when the stack's request merges
  // with another one, waits for a reconcile of the stack, or starts after a
  // reconcile of the stack finished or more than kSharedReadMaxAge after the
  // read: that check reads the stack again. When the read fails each stack
  // is checked on its own (and retried with backoff as usual).
  void CheckAllStacks();
  // Queues the retries whose backoff has passed and the deferred drift
  // checks that are due, by the Clock: what the drift loop does every tick.
  // Tests on a FakeClock advance it and call this instead of waiting.
  void RunDueWork();
  // Blocks until no stack is queued or being reconciled (tests).
  bool WaitIdle(std::chrono::milliseconds timeout);

 private:
  struct StackState {
    const config::StackConfig* config = nullptr;
    // Last commit rendered by a finished reconcile (any result), or the
    // revision of the history record a rollback deployed (maybe not a
    // commit): a new head is compared with it to tell whether the stack's
    // inputs changed.
    std::string rendered_commit;
    // What the swarm runs as far as this controller knows: the commit of the
    // last reconcile that did not roll back (a rollout that failed and was
    // rolled back leaves the earlier one), or the revision of the history
    // record a rollback deployed. Empty until then.
    std::string applied_commit;
    gitsource::CommitInfo applied_info;  // its message, author and time; empty when not known
    // Repository paths the last render read or looked for; `inputs_known`
    // false until one render ran (then any new commit reconciles the stack).
    std::set<std::string> inputs;
    bool inputs_known = false;
    std::string failed_commit;   // terminal failure: not retried until a new commit
    // What the last reconcile found, never kPinned: the pin is `pinned`, and
    // the API shows reconciler::ShownSyncState of both.
    reconciler::SyncState sync = reconciler::SyncState::kUnknown;
    // The control record's pin as last read (a reconcile, GetStack) or
    // written (SetPinned, a rollback) by this controller.
    bool pinned = false;
    // Of the last successful deploy, merged (reconciler::MergeVerdicts).
    reconciler::ImageVerdicts image_verdicts;
    // The wave of the rollout running now, whatever its trigger (a push, a
    // drift, the API); cleared when the reconcile ends.
    std::optional<reconciler::WaveProgress> rollout;
    reconciler::StackHealth health = reconciler::StackHealth::kUnknown;
    std::string last_error;
    reconciler::ReconcileResult last_result = reconciler::ReconcileResult::kNone;
    std::string last_sync_time;
    std::string last_failed_service;  // of the last rollout that failed
    std::vector<std::string> out_of_sync;  // changed objects when OutOfSync
    int failures = 0;
    reconciler::Trigger retry_trigger = reconciler::Trigger::kPoll;  // of the failed attempt
    std::chrono::steady_clock::time_point retry_at{};
    std::chrono::steady_clock::time_point echo_until{};  // see "drift" above
    std::chrono::steady_clock::time_point drift_due{};   // a deferred event check; {} = none
    std::chrono::steady_clock::time_point finished_at{};  // of the last reconcile; {} = none yet
  };
  struct RepoState {
    const config::RepositoryConfig* config = nullptr;
    std::unique_ptr<gitsource::Source> source;
    std::string head;          // last resolved commit
    std::string error;         // of the last ResolveRemote
    std::string fetch_error;   // of the last Fetch of the head
    std::chrono::steady_clock::time_point failing_since{};  // {} = not failing
    Clock::TimePoint failing_since_wall{};
    bool push_pending = false;  // a webhook asked for a resolve (PollLoop runs it)
  };
  enum class RepoOp { kResolve, kFetch };
  // Members have initializers so that designated initializers may leave
  // them out (-Wmissing-field-initializers).
  struct Request {
    std::string stack;
    reconciler::Trigger trigger = reconciler::Trigger::kPoll;
    // api: explicit revision ("" = repository head); a rollback: the
    // history record's revision, which the stack runs once it succeeded.
    std::string revision{};
    std::vector<std::string> operations{};  // api operations waiting on this request
    // The stack's part of a full check's read (CheckAllStacks), and when it
    // was read; empty: the reconcile reads the stack itself.
    std::optional<reconciler::LiveState> live{};
    std::chrono::steady_clock::time_point live_read_at{};
    int64_t rollback_to = 0;  // api: > 0 rolls back to this history record instead
  };
  // How a reconcile ended, for the operations waiting on it.
  struct Finished {
    std::string revision;  // the commit ("" when none was resolved)
    std::optional<server::OperationReport> report;
    std::optional<Status> error;  // set: the operation failed
    std::string failed_service;
  };

  void WorkerLoop();
  void PollLoop(std::string repository);
  void EventLoop();
  void DriftLoop();
  void Enqueue(Request r);
  void Reconcile(Request& r);  // consumes r.live
  // The rollback a Request with rollback_to asks for (not a reconcile: no
  // render, no retry; its error ends the operation). A successful one makes
  // the record's revision the stack's applied one and queues a drift check
  // of the stack, which fills in what differs from the branch head.
  void RollBack(const Request& r);
  // Registers a new pending operation of `stack`; returns its id.
  std::string NewOperationLocked(const std::string& stack, const std::string& revision);
  void FinishOperations(const std::vector<std::string>& ids, const Finished& finished);
  // A deploy of `stack` (for operations `ids`, if any) reached `progress`.
  // After a reconcile of `stack` that deployed nothing (it failed, or only
  // compared) and while this controller has not deployed the stack since it
  // started (applied_commit empty): what the swarm runs as recorded, i.e.
  // the revision of its newest succeeded history record (read from the
  // records' labels). One engine call, only then; nothing when there is none
  // or it cannot be read.
  void NoteRecordedRevision(const std::string& stack);
  void NoteProgress(const std::string& stack, const std::vector<std::string>& ids,
                    const reconciler::WaveProgress& progress);
  void ProcessDueRetries();
  void ProcessDueDriftChecks();
  void OnStackEvent(const std::string& stack);
  server::StackView StackViewLocked(const std::string& name, const StackState& s) const;
  // A drift check of every stack, due kResyncDelay from now: after events
  // may have been lost.
  void CheckEveryStackSoon();
  // Records the outcome of a ResolveRemote or of a Fetch of the head.
  void NoteRepositoryLocked(RepoState& repo, RepoOp op, const Status& st);
  void NoteRepository(const std::string& repository, RepoOp op, const Status& st);
  // Failing for longer than kStalePolls poll intervals.
  bool StaleLocked(const RepoState& repo) const;

  config::Config config_;
  engine::Engine& engine_;
  Clock& clock_;
  SourceFactory source_factory_;
  secrets::Keyring keys_;
  metrics::ControllerMetrics& metrics_;
  ControllerOptions options_;
  std::unique_ptr<reconciler::Deployer> deployer_;  // status/history reads
  std::unique_ptr<notary::RootStore> trust_roots_;   // TOFU roots, in the swarm
  notary::MemoryMetadataCache trust_cache_;
  // Per stack: image references that failed to resolve, not asked again for
  // kImageFailureBackoff (a manual sync asks again). Built in the constructor,
  // never resized: read without mu_.
  std::map<std::string, std::unique_ptr<notary::FailedResolutions>> failed_images_;

  mutable std::mutex mu_;
  std::condition_variable cv_;        // queue changes, webhook pushes, stop
  std::condition_variable ops_cv_;    // operations finished
  std::map<std::string, StackState> stacks_;
  std::map<std::string, RepoState> repos_;
  std::deque<Request> queue_;
  std::set<std::string> queued_, running_;
  std::map<std::string, Request> deferred_;  // requests for stacks being reconciled
  std::map<std::string, server::Operation> operations_;
  uint64_t next_operation_ = 1;
  std::atomic<bool> stop_{false};
  std::atomic<bool> ready_{false};
  std::vector<std::thread> threads_;
};

}  // namespace stackctl::controller
