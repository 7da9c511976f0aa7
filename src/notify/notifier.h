// Notifier: turns how each reconcile of a stack ended into commit statuses on
// the Git host and notification events, de-duplicated, and hands them to the
// Dispatcher (never blocks: the controller calls it on its worker threads).
//
// Commit status (context "stackctl/<stack>", target URL the stack's dashboard
// page when `dashboard_url` is set), for reconciles not started by drift:
//   Started (a deploy of the commit begins)          pending
//   kDeployed, kInSync                               success
//   kRolledBack, kDeployFailed, kImageRefused        failure ("service web_app: <error>")
//   kRenderFailed                                    error
//   kRetrying, kOutOfSync, kPinned                   nothing (a retry or a later sync decides)
// A state equal to the last one sent for the stack (same commit, state and
// description) is not sent again.
// Events: kRolledBack -> rolled_back, kDeployFailed and kRetrying ->
// rollout_failed, kImageRefused -> image_refused, kRenderFailed ->
// render_failed: one per commit, kind and service (a failure repeated by
// retries or resyncs is sent once); kDeployed/kInSync after any failure ->
// recovered (always); kDeployed by a drift check -> drift_reverted;
// kOutOfSync with drift -> drift_detected, once until the stack is in sync.
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "notify/commit_status.h"
#include "notify/dispatcher.h"
#include "notify/events.h"

namespace stackctl::notify {

// The `notifications` section of the stackctld configuration.
struct NotifyConfig {
  // The stack's page, "{stack}" replaced by its name:
  // "https://stackctl.example.com/stacks/{stack}"; "" = no link.
  std::string dashboard_url;
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};  // one request
  std::vector<Target> targets;

  bool operator==(const NotifyConfig&) const = default;
};

enum class Ending {
  kDeployed,      // changes applied and converged
  kInSync,        // nothing to do
  kRolledBack,    // a wave failed; the stack is back on its previous state
  kDeployFailed,  // the rollout failed otherwise (e.g. cleanup)
  kRenderFailed,  // the files could not be loaded, validated or decrypted
  kImageRefused,  // an image failed signature verification
  kRetrying,      // a retryable error (engine, registry, lock): retried with backoff
  kOutOfSync,     // compared only and found changes
  kPinned,        // pinned by a manual deploy: not changed
};

// How one reconcile of a stack ended, as the controller tells it.
struct StackOutcome {
  std::string stack;
  std::string commit;
  std::string repository;                 // URL as configured
  std::optional<StatusHost> status_host;  // where commit statuses go; none = not sent
  bool drift = false;                     // started by a drift check
  Ending ending = Ending::kInSync;
  std::string service;  // the failing service
  std::string message;  // the error or summary
  size_t drifted = 0;   // changes found that are drift of the live state
};

class Notifier {
 public:
  Notifier(NotifyConfig config, Dispatcher& dispatcher, Clock& clock);

  // A deploy of `commit` begins (the reconcile decided to deploy).
  void Started(const std::string& stack, const std::string& commit,
               const std::optional<StatusHost>& host, bool drift);
  void Finished(const StackOutcome& outcome);

 private:
  struct SentStatus {
    std::string commit;
    CommitState state = CommitState::kPending;
    std::string description;
    bool operator==(const SentStatus&) const = default;
  };
  struct StackMemory {
    std::optional<SentStatus> status;  // the last commit status queued
    bool failing = false;              // a failure since the last success
    std::string failure_key;           // commit/kind/service of the last failure event
    std::string drift_key;             // the last drift_detected sent (until in sync)
  };
  std::string StackUrl(const std::string& stack) const;
  void SetStatusLocked(StackMemory& m, const std::string& stack, const StatusHost& host,
                       const std::string& commit, CommitState state,
                       const std::string& description);
  void Send(const Event& e);

  const NotifyConfig config_;
  Dispatcher& dispatcher_;
  Clock& clock_;
  std::mutex mu_;
  std::map<std::string, StackMemory> stacks_;
};

}  // namespace stackctl::notify
