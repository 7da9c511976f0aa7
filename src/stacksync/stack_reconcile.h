// One stack's reconcile as one function (controller-runtime's Reconciler),
// apart from whatever calls it: stackctld's Controller (controller/controller.h)
// keeps the queue, de-duplication, backoff, threads and operations and maps
// each ReconcileReport to status, metrics and the API; `stackctl deploy` and
// `stackctl diff` run the same function over files on disk and print it.
//
//   ReconcileStack(target, files, trigger, commit_failed, env) -> ReconcileReport
//     = DecideReconcile (reconciler/policy.h): deploy, only compare or skip
//       + RenderTarget:  the stack's files -> desired state, and every path
//                        the render read or looked for (change tracking)
//       + ApplyRendered: verify and pin images per the trust policy, deploy
//                        or only diff, and report what it found
//
// The stages are public so that `stackctl` can render while it connects to
// the engine (the render error is reported first, as docker does); everything
// that decides what a reconcile does lives here and nowhere else. Nothing is
// written but through the Deployer. The configuration file becomes a
// StackTarget in controller/stack_target.h, the CLI's flags in cmd_stack.cc.
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
#include "engineapi/engine.h"
#include "common/file_source.h"
#include "model/stack.h"
#include "notary/failed_resolutions.h"
#include "notary/image_verifier.h"
#include "notary/trust_store.h"
#include "reconciler/deployer.h"
#include "reconciler/policy.h"
#include "render/render.h"
#include "secrets/keyring.h"

namespace stackctl::stacksync {

// What a stack should be and how it is deployed.
struct StackTarget {
  std::string stack;
  render::RenderInput render;  // its files, relative to the stack's directory
  reconciler::SyncOptions sync;
  // prune, rollout, timeout, image resolution, pin and wait; revision,
  // trigger and respect_pin are set by each reconcile.
  reconciler::DeployOptions deploy;
  notary::ImageTrustPolicy trust;  // its rules, then Notary under its policy
  notary::NotaryOptions notary;
  notary::RegistryOptions registries;  // for cosign signatures
};

// The stack's files at one revision.
struct StackFiles {
  FileSource& files;     // rooted at the stack's directory
  std::string revision;  // recorded in labels and history (a commit id, or the CLI's --revision)
  // How a render error names where the files came from: " at 1a2b3c4d5e6f"
  // for a commit; empty for files on disk.
  std::string origin;
};

// What a reconcile uses besides the target; all must outlive the call.
struct ReconcileEnv {
  engine::Engine& engine;
  Clock& clock;
  const secrets::Keyring& keys;
  notary::RootStore& trust_roots;
  notary::MemoryMetadataCache& trust_cache;
  // Called once the decision is made, before anything is rendered (the
  // controller shows a deploying stack as Progressing). May be empty.
  std::function<void(reconciler::Decision)> decided{};
  // Rollout progress of a deploy (the CLI prints it); may be null.
  reconciler::ProgressSink* progress = nullptr;
  // Image references of this stack that failed to resolve, remembered for a
  // backoff across reconciles; null: every reconcile asks again.
  notary::FailedResolutions* failed_images = nullptr;
  // The stack's live state when the caller read it already (the controller's
  // full check reads every stack at once, the CLI while it renders), or the
  // error of that read (reported as the Deployer's own read would be); empty:
  // ReconcileStack reads it while the stack renders (ApplyRendered before it
  // deploys). Consumed.
  std::optional<Result<reconciler::LiveState>> live{};
};

// Where a failed reconcile stopped (notifications tell these apart).
enum class FailedStep {
  kNone,
  kRender,  // the files could not be loaded, validated or decrypted
  kImages,  // an image was refused by its trust policy (verification failed for good)
  kDeploy,  // reading, diffing or deploying
};

struct ReconcileReport {
  std::string revision;
  reconciler::Decision decision = reconciler::Decision::kCompare;
  // Paths the render read or looked for, relative to the stack's directory
  // (they may start with ".."); `inputs_known` false when the decision was to
  // skip (nothing was rendered).
  std::set<std::string> inputs;
  bool inputs_known = false;
  // A failure: `terminal` ones (a bad compose file, an unverifiable image)
  // are not retried until the commit changes; the others are retryable
  // (Status::IsRetryable: engine or registry unreachable, lock held).
  std::optional<Status> error;
  bool terminal = false;
  FailedStep failed_step = FailedStep::kNone;  // set with `error`
  // kImages: the services whose image was refused (engine names, "app_web").
  std::vector<std::string> refused_services;
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

// The desired state from the stack's files, with the paths the render read.
struct RenderedStack {
  Result<model::StackSpec> spec = Internal("not rendered");
  std::set<std::string> inputs;  // as in ReconcileReport
};
// A render error is prefixed "stack NAME<origin>: ".
RenderedStack RenderTarget(const StackTarget& target, const StackFiles& files, const secrets::Keyring& keys);

// After the decision (not kSkip) and the render: verifies and pins images,
// deploys (Decision::kDeploy) or only compares, and reports. `rendered` is
// consumed; its render error becomes a terminal kRender failure.
ReconcileReport ApplyRendered(const StackTarget& target, const std::string& revision,
                              const reconciler::ReconcilePlan& plan, reconciler::Trigger trigger,
                              RenderedStack rendered, ReconcileEnv& env);

ReconcileReport ReconcileStack(const StackTarget& target, const StackFiles& files, reconciler::Trigger trigger,
                               bool commit_failed, ReconcileEnv& env);

}  // namespace stackctl::stacksync
