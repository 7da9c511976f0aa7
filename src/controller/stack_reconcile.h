// One stack's reconcile as one function (controller-runtime's Reconciler),
// apart from the loop that calls it: Controller (controller.h) keeps the
// queue, de-duplication, backoff, threads and operations, and maps each
// ReconcileReport to status, metrics and the API.
//
//   TargetFromConfig(stack config)       -> StackTarget      the one place the
//                                           configuration becomes render, deploy
//                                           and trust options
//   ReconcileStack(target, snapshot, trigger, commit_failed, env)
//                                        -> ReconcileReport
//
// ReconcileStack holds the policy: it decides (reconciler::DecideReconcile)
// whether to deploy, only compare or skip; renders the stack's files at the
// snapshot through a RecordingFileSource (the report names every repository
// path read or looked for, for change tracking); verifies and pins images per
// the trust policy; deploys or only diffs; and reports what it found. It
// writes nothing but through the Deployer.
//
// Thread safety: ReconcileStack may run concurrently for distinct stacks; the
// members of ReconcileEnv must be (Engine, Clock, RootStore and
// MemoryMetadataCache are).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "config/config.h"
#include "engineapi/engine.h"
#include "gitsource/source.h"
#include "notary/failed_resolutions.h"
#include "notary/image_verifier.h"
#include "notary/trust_store.h"
#include "reconciler/deployer.h"
#include "reconciler/policy.h"
#include "render/render.h"
#include "secrets/keyring.h"

namespace stackctl::controller {

// What a stack should be and how it is deployed, from its configuration.
struct StackTarget {
  std::string stack;
  std::string path;            // the stack's directory in the repository
  render::RenderInput render;  // its files, relative to `path`
  reconciler::SyncOptions sync;
  // prune, rollout, timeout, image resolution; revision, trigger and
  // respect_pin are set by each reconcile.
  reconciler::DeployOptions deploy;
  notary::ImageTrustPolicy trust;  // image_trust: its rules, then Notary under its policy
  notary::NotaryOptions notary;
  notary::RegistryOptions registries;  // for cosign signatures
};
StackTarget TargetFromConfig(const config::StackConfig& stack);

// What a reconcile uses besides the target; all must outlive the call.
struct ReconcileEnv {
  engine::Engine& engine;
  Clock& clock;
  const secrets::Keyring& keys;
  notary::RootStore& trust_roots;
  notary::MemoryMetadataCache& trust_cache;
  // Called once the decision is made, before anything is rendered (the
  // controller shows a deploying stack as Progressing). May be empty.
  std::function<void(reconciler::Decision)> decided;
  // Image references of this stack that failed to resolve, remembered for a
  // backoff across reconciles; null: every reconcile asks again.
  notary::FailedResolutions* failed_images = nullptr;
  // The stack's live state when the caller read it already (the controller's
  // full check reads every stack at once); empty: the Deployer reads it.
  // Consumed by ReconcileStack.
  std::optional<reconciler::LiveState> live;
  // Told the deploy's progress (waves, services); null: nobody is.
  reconciler::ProgressSink* progress = nullptr;
};

// Where a failed reconcile stopped (notifications tell these apart).
enum class FailedStep {
  kNone,
  kRender,  // the files could not be loaded, validated or decrypted
  kImages,  // an image was refused by its trust policy (verification failed for good)
  kDeploy,  // reading, diffing or deploying
};

struct ReconcileReport {
  std::string commit;
  reconciler::Decision decision = reconciler::Decision::kCompare;
  // Repository paths the render read or looked for; `inputs_known` false
  // when the decision was to skip (nothing was rendered).
  std::set<std::string> inputs;
  bool inputs_known = false;
  // A failure: `terminal` ones (a bad compose file, an unverifiable image)
  // are not retried until the commit changes; the others are retryable
  // (Status::IsRetryable: engine or registry unreachable, lock held).
  std::optional<Status> error;
  bool terminal = false;
  FailedStep failed_step = FailedStep::kNone;  // set with `error`
  // Without `error`: what the Deployer did or found.
  reconciler::DeployResult result;
  std::vector<std::string> pending;     // "service web: update" for every change found
  size_t drifted = 0;                   // changes that are drift of the live state
  std::map<std::string, int> managed;   // objects per kind the stack owns after this
  bool changes_not_applied = false;     // compared only, and found changes
  bool ok = false;                      // in sync, deployed, or pinned
  // kOutOfSync when changes_not_applied, else the Deployer's outcome.
  reconciler::ReconcileResult outcome = reconciler::ReconcileResult::kNone;
  std::string message;
  reconciler::SyncState sync = reconciler::SyncState::kUnknown;  // what the stack is now
  // Whether the stack's control record pins it, as this reconcile read it
  // (false when it failed before reading the live state).
  bool pinned = false;
};

// The Deployer's outcome as a reconcile result (kInSync for kInSync, ...).
reconciler::ReconcileResult ResultOf(reconciler::Outcome o);

ReconcileReport ReconcileStack(const StackTarget& target, const gitsource::Snapshot& snapshot,
                               reconciler::Trigger trigger, bool commit_failed, ReconcileEnv& env);

}  // namespace stackctl::controller
