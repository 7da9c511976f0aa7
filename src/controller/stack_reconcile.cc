#include "controller/stack_reconcile.h"

#include <atomic>

#include "common/file_source.h"
#include "reconciler/history.h"
#include "reconciler/live.h"

namespace stackctl::controller {
namespace {

// Passes every resolution through and remembers whether one failed for good
// (not an outage): a deploy that then fails was refused an image.
class RefusalRecorder : public notary::ImageVerifier {
 public:
  explicit RefusalRecorder(notary::ImageVerifier& inner) : inner_(inner) {}
  Result<notary::ResolvedImage> Resolve(const std::string& image_ref) override {
    auto r = inner_.Resolve(image_ref);
    if (!r.ok() && !r.status().IsRetryable()) refused_ = true;
    return r;
  }
  bool refused() const { return refused_; }

 private:
  notary::ImageVerifier& inner_;
  std::atomic<bool> refused_{false};
};

}  // namespace

StackTarget TargetFromConfig(const config::StackConfig& cfg) {
  StackTarget t;
  t.stack = cfg.name;
  t.path = cfg.path;
  t.render.stack = cfg.name;
  t.render.compose_files = cfg.compose_files;
  t.render.bundle = cfg.bundle;
  if (!cfg.env_file.empty()) t.render.env_files = {cfg.env_file};
  t.render.read_dotenv = true;
  t.render.working_dir = "/";
  t.sync = {cfg.options.auto_sync, cfg.options.self_heal};
  t.deploy.prune = cfg.options.prune;
  t.deploy.parallelism = cfg.options.rollout.parallelism;
  t.deploy.delay = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.options.rollout.delay);
  t.deploy.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.options.timeout);
  t.deploy.images.mode = cfg.options.resolve_image;
  t.trust = cfg.options.image_trust.Policy();
  t.deploy.images.required = t.trust.AnyRequired();
  t.notary.default_server = cfg.options.image_trust.server;
  t.notary.ca_file = cfg.options.image_trust.ca_file;
  t.registries.registries = cfg.options.image_trust.registries;
  return t;
}

reconciler::ReconcileResult ResultOf(reconciler::Outcome o) {
  using reconciler::Outcome;
  using reconciler::ReconcileResult;
  switch (o) {
    case Outcome::kInSync: return ReconcileResult::kInSync;
    case Outcome::kSucceeded: return ReconcileResult::kSucceeded;
    case Outcome::kFailed: return ReconcileResult::kFailed;
    case Outcome::kRolledBack: return ReconcileResult::kRolledBack;
    case Outcome::kPinned: return ReconcileResult::kPinned;
  }
  return ReconcileResult::kNone;
}

ReconcileReport ReconcileStack(const StackTarget& target, const gitsource::Snapshot& snapshot,
                               reconciler::Trigger trigger, bool commit_failed, ReconcileEnv& env) {
  ReconcileReport rep;
  rep.commit = snapshot.commit();
  const reconciler::ReconcilePlan plan = reconciler::DecideReconcile(trigger, target.sync, commit_failed);
  rep.decision = plan.decision;
  if (env.decided) env.decided(plan.decision);
  if (plan.decision == reconciler::Decision::kSkip) return rep;
  auto failed = [&](Status st, bool terminal, FailedStep step) {
    rep.error = std::move(st);
    rep.terminal = terminal;
    rep.failed_step = step;
    rep.sync = reconciler::SyncState::kFailed;
    return rep;
  };

  // Desired state: the stack's files at the commit. What the render reads
  // (or looks for) decides which later commits concern this stack.
  auto stack_files = snapshot.Files(target.path);
  RecordingFileSource files(*stack_files);
  auto desired = render::RenderStack(target.render, files, env.keys);
  for (const std::string& p : files.paths()) {
    Result<std::string> repo_path = gitsource::JoinRepoPath(target.path, p);
    if (repo_path.ok()) rep.inputs.insert(*repo_path);
  }
  rep.inputs_known = true;
  if (!desired.ok()) {
    return failed(desired.status().WithPrefix("stack " + target.stack + " at " + rep.commit.substr(0, 12)), true,
                  FailedStep::kRender);
  }

  notary::ImageTrustChain chain = notary::BuildImageTrustChain(target.trust, target.notary, target.registries, env.trust_roots,
                                                               env.trust_cache, env.clock, env.engine);
  reconciler::DeployOptions o = target.deploy;
  o.revision = rep.commit;
  o.trigger = trigger;
  o.respect_pin = plan.respect_pin;
  // Failures remembered across reconciles (when the controller keeps them)
  // are not asked again; a manual sync asks again.
  notary::ImageVerifier* images = chain.verifier.get();
  std::optional<notary::FailureCachingVerifier> remembering;
  if (env.failed_images) {
    if (trigger == reconciler::Trigger::kApi) env.failed_images->Clear();
    images = &remembering.emplace(*chain.verifier, *env.failed_images);
  }
  RefusalRecorder recorder(*images);
  reconciler::Deployer deployer(env.engine, env.clock, env.progress, &recorder);
  // Read here when the caller did not (the Deployer then reads nothing
  // more): the pin is part of what the reconcile reports.
  if (!env.live) {
    auto live = reconciler::ReadLive(env.engine, target.stack);
    if (!live.ok()) {
      const bool terminal = !live.status().IsRetryable();
      return failed(live.status().WithPrefix("stack " + target.stack), terminal,
                    FailedStep::kDeploy);
    }
    env.live = std::move(*live);
  }
  rep.pinned = reconciler::ControlFromObject(env.live->control).pinned;

  const bool deploy = plan.decision == reconciler::Decision::kDeploy;
  Result<reconciler::DeployResult> result = reconciler::DeployResult{};
  if (deploy) {
    result = deployer.Deploy(std::move(*desired), o, std::move(env.live));
  } else {
    auto diff = deployer.Diff(std::move(*desired), {o.prune}, o.images, std::move(env.live));
    if (!diff.ok()) {
      result = diff.status();
    } else {
      reconciler::DeployResult dr;
      dr.diff = std::move(*diff);
      dr.outcome = reconciler::Outcome::kInSync;
      result = std::move(dr);
    }
  }
  if (!result.ok()) {
    const bool terminal = !result.status().IsRetryable();
    return failed(result.status().WithPrefix("stack " + target.stack), terminal,
                  terminal && o.images.required && recorder.refused() ? FailedStep::kImages : FailedStep::kDeploy);
  }

  rep.result = std::move(*result);
  const auto& res = rep.result;
  for (const auto& c : res.diff.changes) {
    if (c.action != reconciler::Action::kDelete) rep.managed[std::string(reconciler::ResourceKindName(c.kind))]++;
    if (c.drift) ++rep.drifted;
    if (c.action != reconciler::Action::kNone) {
      rep.pending.push_back(std::string(reconciler::ResourceKindName(c.kind)) + " " + c.name + ": " +
                            std::string(reconciler::ActionName(c.action)));
    }
  }
  rep.ok = res.outcome == reconciler::Outcome::kInSync || res.outcome == reconciler::Outcome::kSucceeded ||
           res.outcome == reconciler::Outcome::kPinned;
  // A reconcile that only compared (auto_sync off, or drift without
  // self_heal) and found changes applied nothing: not "in-sync".
  rep.changes_not_applied = !deploy && !rep.pending.empty();
  rep.outcome = rep.changes_not_applied ? reconciler::ReconcileResult::kOutOfSync : ResultOf(res.outcome);
  rep.message = rep.changes_not_applied
                    ? std::to_string(rep.pending.size()) + " change(s) not applied (" +
                          (target.sync.auto_sync ? "self_heal" : "auto_sync") + " is off)"
                    : res.message;
  if (res.outcome == reconciler::Outcome::kPinned) {
    rep.pinned = true;  // perhaps by a manual deploy that held the lock meanwhile
    rep.sync = reconciler::SyncState::kPinned;
  } else if (rep.changes_not_applied) {
    rep.sync = reconciler::SyncState::kOutOfSync;
  } else {
    rep.sync = rep.ok ? reconciler::SyncState::kSynced : reconciler::SyncState::kFailed;
  }
  return rep;
}

}  // namespace stackctl::controller
