// Deployer: one stack's deploy, diff, rollback, status and removal against an
// Engine. The CLI calls it directly; the controller calls it per reconcile.
//
// Deploy is level-triggered: it reads all live state, diffs, and when nothing
// differs it returns without a single write (4 list calls in all). Otherwise it
// takes the stack lock (lock.h), reads again, plans (plan.h) and executes:
// networks/configs/secrets first, then services wave by wave, waiting for each
// wave to converge (health.h). A failed or timed-out wave rolls back every
// service this rollout changed and removes what it created, so the stack is
// back on its previous revision; then prune and retirement of superseded
// secret/config versions; finally a history record (history.h).
//
// Whatever a deploy, a rollback or Remove deletes, it then waits for (up to
// `removal_wait`) until the engine no longer lists it (removal.h), and
// reports what is still being removed (`still_removing`). A service create
// or update that fails because a network, secret or config it references has
// just vanished re-reads the live state, recreates what is missing (after
// waiting for one the engine is still removing) and retries once, without a
// rollback.
//
// Every write carries the Version.Index it read; "update out of sequence"
// re-reads and retries up to 5 times.
//
// Thread safety: a Deployer may be used from several threads for different
// stacks; deploys of one stack are serialized by the swarm lock.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "engineapi/engine.h"
#include "model/stack.h"
#include "reconciler/diff.h"
#include "reconciler/health.h"
#include "reconciler/history.h"
#include "reconciler/pin.h"
#include "reconciler/policy.h"

namespace stackctl::reconciler {

struct DeployOptions {
  bool prune = false;
  bool wait = true;  // false: submit and return (--detach)
  int parallelism = 0;
  std::chrono::milliseconds delay{0};  // between waves
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};  // per wave
  std::chrono::milliseconds poll_interval{500};
  std::chrono::milliseconds lock_wait{std::chrono::minutes(10)};
  // How long a removal waits for what it removed to leave the engine's lists.
  std::chrono::milliseconds removal_wait{std::chrono::seconds(60)};
  std::string revision = "manual";
  Trigger trigger = Trigger::kCli;  // recorded in history and pins
  int secret_retention = 1;  // superseded secret/config versions kept for rollback
  size_t history_keep = 20;
  bool pin = false;  // mark the stack pinned (manual deploy/rollback)
  // Automatic syncs (controller): a pinned stack is only diffed, not changed.
  bool respect_pin = false;
  std::string registry_auth;
  PinOptions images;  // used when the Deployer has an image verifier
  // Whether the result carries image_verdicts. The controller shows them;
  // `stackctl deploy` does not, and with resolve_image never they would cost
  // an unpack of every service's spec on a no-op's critical path.
  bool image_verdicts = true;
};

enum class Outcome { kInSync, kSucceeded, kFailed, kRolledBack, kPinned };
std::string_view OutcomeName(Outcome o);

struct DeployResult {
  Outcome outcome = Outcome::kInSync;
  std::vector<std::string> warnings;  // e.g. images that could not be pinned
  StackDiff diff;
  std::string message;
  std::string failed_service;
  int64_t history_seq = 0;
  int writes = 0;  // engine write calls made
  // Removed by this deploy (rollback, prune, retirement) but still listed by
  // the engine when removal_wait ran out: "network web_default".
  std::vector<std::string> still_removing;
  // What trust verification said about the image of every service of the
  // specs this deploy rendered (pin.h), whatever the outcome (after
  // kRolledBack the services run their earlier images: keep the earlier
  // verdicts then); with no verifier every one is not-checked and unchanged
  // (`checked` false).
  ImageVerdicts image_verdicts;
};

struct RemoveOptions {
  std::chrono::milliseconds lock_wait{std::chrono::minutes(10)};
  std::chrono::milliseconds removal_wait{std::chrono::seconds(60)};
  std::chrono::milliseconds poll_interval{500};
};

struct RemoveResult {
  std::vector<std::string> removed;         // "service web_app", "network web_default", ...
  std::vector<std::string> still_removing;  // of those, still listed when removal_wait ran out
};

// Where a rollout stands: wave `wave` of `waves` (1-based; the plan's
// service waves, plan.h) rolls out `services`, of which `converged` have
// converged (all of them once the wave is done). A rollout that re-plans
// after an object vanished starts again from wave 1 of the new plan.
struct WaveProgress {
  size_t wave = 0, waves = 0;
  std::vector<std::string> services;  // engine names, plan order
  size_t converged = 0;
  bool operator==(const WaveProgress&) const = default;
};

// Told what a deploy does as it goes (the CLI prints it, the controller keeps
// the rollout progress of its operations). Called on the deploying thread.
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual void Info(const std::string& line) = 0;
  virtual void Service(const std::string& name, const ServiceHealth& health) = 0;
  // When a wave starts (converged 0) and whenever its converged count grows.
  virtual void Wave(const WaveProgress& progress) { (void)progress; }
};

struct ServiceStatusLine {
  std::string name, image, mode;
  ServiceHealth health;
};
// The line as `stackctl status -o json` and the controller's API show it:
// name, image, mode, running, desired, health, update_state, message.
Json ServiceStatusJson(const ServiceStatusLine& s);

struct StackStatus {
  std::string stack;
  bool exists = false;
  StackControl control;
  std::optional<HistoryRecord> last;  // newest history record (spec dropped)
  std::vector<ServiceStatusLine> services;
};

class Deployer {
 public:
  // `images` (optional) pins image tags to digests before every diff.
  Deployer(engine::Engine& engine, Clock& clock, ProgressSink* progress = nullptr,
           notary::ImageVerifier* images = nullptr)
      : engine_(engine), clock_(clock), progress_(progress), images_(images) {}

  // `live`: the stack's live state when the caller read it already
  // (ReadLive of desired.name, or its part of ReadLiveStacks), for instance
  // while it rendered the stack; otherwise it is read here. Deploy reads
  // again under the stack's lock before it writes anything, so a read that
  // is a little old costs at most that second read.
  // `refused_services` (optional): when the call fails because an image that
  // must be verified was refused, the services using it (PinImages).
  Result<StackDiff> Diff(model::StackSpec desired, const DiffOptions& options,
                         const PinOptions& pin = {}, std::optional<LiveState> live = std::nullopt,
                         std::vector<std::string>* refused_services = nullptr);
  Result<DeployResult> Deploy(model::StackSpec desired, const DeployOptions& options,
                              std::optional<LiveState> live = std::nullopt,
                              std::vector<std::string>* refused_services = nullptr);
  // Back to history record `to_seq`, or to the previous successful one.
  Result<DeployResult> Rollback(const std::string& stack, std::optional<int64_t> to_seq,
                                DeployOptions options);
  Result<std::vector<HistoryRecord>> History(const std::string& stack);
  Result<StackStatus> GetStatus(const std::string& stack);
  // Removes every object of the stack (like docker stack rm) and its history,
  // under the stack's lock (waiting up to `lock_wait` for a rollout to end;
  // kAborted naming the holder, as Deploy, when it stays taken), then waits up
  // to `removal_wait` for them to leave the engine's lists.
  Result<RemoveResult> Remove(const std::string& stack, const RemoveOptions& options = {});
  Status SetPinned(const std::string& stack, bool pinned, const std::string& by,
                   const std::string& revision);

 private:
  class Run;
  // Reads the live state (unless the caller did) and turns `desired` into
  // what would be applied: images pinned, our labels stamped (not again when
  // the caller has, StackSpec::prepared, and pinning kept the specs).
  Result<LiveState> Render(model::StackSpec* desired, const PinOptions& pin,
                           std::optional<LiveState> live, std::vector<std::string>* warnings,
                           ImageVerdicts* verdicts, std::vector<std::string>* refused_services);
  void Info(const std::string& line) {
    if (progress_) progress_->Info(line);
  }
  engine::Engine& engine_;
  Clock& clock_;
  ProgressSink* progress_;
  notary::ImageVerifier* images_;
};

}  // namespace stackctl::reconciler
