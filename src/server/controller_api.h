// ControllerApi: what the HTTP server (server.h) needs from the controller,
// as typed values. The server alone turns them into the JSON documents of the
// CI API (docs/configuration.md lists the fields); the controller never
// builds JSON for it and the server never reads the configuration or Git.
//
// The controller implements it; tests use a fake. Every method must return
// promptly except WaitOperation, which blocks up to its timeout.
//
// Thread safety: implementations must accept concurrent calls from the
// server's worker threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "reconciler/deployer.h"
#include "reconciler/health.h"
#include "reconciler/history.h"
#include "reconciler/policy.h"

namespace stackctl::server {

// A push a webhook announced (webhook.h's PushEvent, reduced to what decides
// which repositories it concerns).
struct RepositoryPush {
  std::vector<std::string> repo_urls;  // every spelling the provider sent
  std::string ref;                     // "refs/heads/main", "refs/tags/v1"
  std::string commit;                  // "" when the provider sent none
};

enum class OperationState { kPending, kRunning, kSucceeded, kFailed };
// Header-only, so the controller implements this interface without linking
// the HTTP server.
inline std::string_view OperationStateName(OperationState s) {
  switch (s) {
    case OperationState::kPending: return "pending";
    case OperationState::kRunning: return "running";
    case OperationState::kSucceeded: return "succeeded";
    case OperationState::kFailed: return "failed";
  }
  return "unknown";
}

// What a finished reconcile reports to the operations waiting on it.
struct OperationReport {
  reconciler::ReconcileResult result = reconciler::ReconcileResult::kNone;
  std::string message;
  int64_t history_seq = 0;  // 0: no history record written
  std::vector<std::string> changes;
  std::vector<std::string> still_removing;  // objects the engine still listed when the removal wait ended
};

// A CI API sync or rollback.
struct Operation {
  std::string id, stack;
  std::string revision;  // as asked for; the commit once resolved
  OperationState state = OperationState::kPending;
  std::string created_at, finished_at;  // RFC 3339; finished_at "" until done
  std::optional<OperationReport> report;  // when a reconcile ran to its end
  // When failed: the code says what the caller should do (a rolled-back
  // rollout or a commit that already failed is kFailedPrecondition, a held
  // stack lock kAborted); `failed_service` names the service whose rollout
  // failed, if one did.
  std::optional<Status> error;
  std::string failed_service;
  // The rollout's wave as last reported (reconciler::ProgressSink::Wave):
  // set once a deploy of this operation started rolling services out, kept
  // when it ends; empty when nothing was rolled out (in sync, failed before).
  std::optional<reconciler::WaveProgress> progress;
};

// One managed stack. The `live`, `history`, `live_error` and `operations`
// parts are filled by GetStack only (they read the swarm). `sync` is
// reconciler::ShownSyncState of the last reconcile and the pin in both
// ListStacks and GetStack, so the two never disagree.
struct StackView {
  std::string name;
  std::string repository;      // its configured repository's name
  std::string repository_url;  // its URL without credentials
  std::string path;
  // What the swarm runs as far as the controller knows: the commit of the
  // last reconcile that did not roll back, or the revision of the history
  // record a rollback deployed.
  std::string revision;
  // That commit's first message line, author ("Name <email>") and time
  // (RFC 3339); "" until a reconcile rendered it.
  std::string revision_summary, revision_author, revision_time;
  std::string target_revision;  // the repository's last resolved head
  // The commit that failed for good (a render error, a refused image, a
  // rollout that failed): not tried again until a new commit. "" otherwise.
  std::string failed_revision;
  std::string repository_error;          // of the last ls-remote or fetch of the head
  std::string repository_failing_since;  // RFC 3339; "" when not failing
  bool repository_stale = false;
  reconciler::SyncState sync = reconciler::SyncState::kUnknown;
  reconciler::StackHealth health = reconciler::StackHealth::kUnknown;  // from the swarm in GetStack
  reconciler::ReconcileResult last_result = reconciler::ReconcileResult::kNone;
  std::string last_error, last_sync_time;
  std::string last_failed_service;  // the service whose rollout failed last, if one did
  std::vector<std::string> out_of_sync;  // pending changes when not applied
  bool auto_sync = false, self_heal = false, prune = false;
  bool pinned = false;  // the stack's control record pins it (`sync` then shows it)
  // What trust verification said about each service's image at the stack's
  // last successful deploy by this controller, by service name; a service
  // missing here was not deployed by it since it started.
  reconciler::ImageVerdicts image_verdicts;
  // The wave of the rollout running now, whatever started it (a push, a
  // drift, the API); empty when none runs.
  std::optional<reconciler::WaveProgress> rollout;

  std::optional<reconciler::StackStatus> live;  // pin and services, as read from the swarm
  std::string live_error;                       // why `live` could not be read
  std::optional<std::vector<reconciler::HistoryRecord>> history;  // newest first, specs dropped
  std::vector<Operation> operations;  // of this stack, not finished yet, oldest first
};

class ControllerApi {
 public:
  virtual ~ControllerApi() = default;

  // True once the controller can serve (engine reachable, config loaded) and
  // while no repository has been failing for long (controller.h).
  virtual bool Ready() = 0;
  // Why Ready() is false, for /readyz ("" when unknown or ready).
  virtual std::string NotReadyReason() { return ""; }
  // A webhook announced a push. Queues a resolve of every configured
  // repository with one of `push.repo_urls` (any spelling of the URL) that
  // follows `push.ref`, and returns their names at once; none: ignored.
  virtual std::vector<std::string> OnPush(const RepositoryPush& push) = 0;
  // Starts a sync of `stack` at `revision` (a commit id, branch or tag; none =
  // the repository's configured ref) and returns the operation id.
  // kNotFound for an unknown stack.
  virtual Result<std::string> Sync(const std::string& stack,
                                   const std::optional<std::string>& revision) = 0;
  // The operation once it is finished, or as it is when `timeout` passes.
  // kNotFound for an unknown id.
  virtual Result<Operation> WaitOperation(const std::string& id,
                                          std::chrono::milliseconds timeout) = 0;
  virtual std::vector<StackView> ListStacks() = 0;
  virtual Result<StackView> GetStack(const std::string& name) = 0;
  // Newest first, specs dropped.
  virtual Result<std::vector<reconciler::HistoryRecord>> GetHistory(const std::string& name) = 0;
  virtual Result<Operation> GetOperation(const std::string& id) = 0;
  // Rolls `stack` back to its history record `seq` as `stackctl rollback
  // --to` does (the exact specs of that deploy; the stack is then pinned, so
  // automatic syncs leave it there until resumed) and returns the operation
  // id. It runs in the stack's turn, like a sync (a sync asked for after it,
  // before it started, replaces it). kNotFound for an unknown stack or
  // record, kFailedPrecondition for a record of a deploy that did not
  // succeed.
  virtual Result<std::string> Rollback(const std::string& stack, int64_t seq) = 0;
  // Pins `stack` (automatic triggers then only diff it, as after `stackctl
  // deploy`) or hands it back to the controller, which then reconciles it.
  // kNotFound for an unknown stack; the engine's errors otherwise.
  virtual Status SetPinned(const std::string& stack, bool pinned) = 0;
};

}  // namespace stackctl::server
