#include "stacksync/stack_reconcile.h"

#include <future>

#include "reconciler/history.h"
#include "reconciler/live.h"

namespace stackctl::stacksync {

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

RenderedStack RenderTarget(const StackTarget& target, const StackFiles& files, const secrets::Keyring& keys) {
  RenderedStack out;
  RecordingFileSource recording(files.files);
  out.spec = render::RenderStack(target.render, recording, keys);
  out.inputs = recording.paths();
  if (!out.spec.ok()) out.spec = out.spec.status().WithPrefix("stack " + target.stack + files.origin);
  return out;
}

ReconcileReport ApplyRendered(const StackTarget& target, const std::string& revision,
                              const reconciler::ReconcilePlan& plan, reconciler::Trigger trigger,
                              RenderedStack rendered, ReconcileEnv& env) {
  ReconcileReport rep;
  rep.revision = revision;
  rep.decision = plan.decision;
  rep.inputs = std::move(rendered.inputs);
  rep.inputs_known = true;
  auto failed = [&](Status st, bool terminal, FailedStep step) {
    rep.error = std::move(st);
    rep.terminal = terminal;
    rep.failed_step = step;
    rep.sync = reconciler::SyncState::kFailed;
    return rep;
  };
  if (!rendered.spec.ok()) return failed(rendered.spec.status(), true, FailedStep::kRender);
  // The live state as the caller read it, else read now (the Deployer then
  // reads nothing more outside its lock): the pin is part of the report.
  Result<reconciler::LiveState> read = env.live ? std::move(*env.live) : reconciler::ReadLive(env.engine, target.stack);
  env.live.reset();
  if (!read.ok()) {
    return failed(read.status().WithPrefix("stack " + target.stack), !read.status().IsRetryable(), FailedStep::kDeploy);
  }
  std::optional<reconciler::LiveState> live = std::move(*read);
  rep.pinned = reconciler::ControlFromObject(live->control).pinned;

  notary::ImageTrustChain chain = notary::BuildImageTrustChain(target.trust, target.notary, target.registries, env.trust_roots,
                                                               env.trust_cache, env.clock, env.engine);
  reconciler::DeployOptions o = target.deploy;
  o.revision = revision;
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
  reconciler::Deployer deployer(env.engine, env.clock, env.progress, images);
  // Set when an image that must be verified is refused: its services.
  std::vector<std::string> refused;

  const bool deploy = plan.decision == reconciler::Decision::kDeploy;
  Result<reconciler::DeployResult> result = reconciler::DeployResult{};
  if (deploy) {
    result = deployer.Deploy(std::move(*rendered.spec), o, std::move(live), &refused);
  } else {
    auto diff = deployer.Diff(std::move(*rendered.spec), {o.prune}, o.images, std::move(live),
                              &refused);
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
    // A refusal for an outage (retryable) is retried like any other.
    const bool image_refused = terminal && !refused.empty();
    if (image_refused) rep.refused_services = std::move(refused);
    return failed(result.status().WithPrefix("stack " + target.stack), terminal,
                  image_refused ? FailedStep::kImages : FailedStep::kDeploy);
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
  // A reconcile that only compared (auto_sync off, drift without self_heal,
  // `stackctl diff`) and found changes applied nothing: not "in-sync".
  rep.changes_not_applied = !deploy && !rep.pending.empty();
  rep.outcome = rep.changes_not_applied ? reconciler::ReconcileResult::kOutOfSync : ResultOf(res.outcome);
  rep.message = rep.changes_not_applied ? std::to_string(rep.pending.size()) + " change(s) not applied (" +
                                              std::string(reconciler::CompareReason(trigger, target.sync)) + ")"
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

ReconcileReport ReconcileStack(const StackTarget& target, const StackFiles& files, reconciler::Trigger trigger,
                               bool commit_failed, ReconcileEnv& env) {
  const reconciler::ReconcilePlan plan = reconciler::DecideReconcile(trigger, target.sync, commit_failed);
  if (env.decided) env.decided(plan.decision);
  if (plan.decision == reconciler::Decision::kSkip) {
    ReconcileReport rep;
    rep.revision = files.revision;
    rep.decision = plan.decision;
    return rep;
  }
  // The live state is read while the stack renders: a no-op costs the slower
  // of the two, not their sum.
  std::future<Result<reconciler::LiveState>> reading;
  if (!env.live) {
    reading = std::async(std::launch::async, [&] { return reconciler::ReadLive(env.engine, target.stack); });
  }
  RenderedStack rendered = RenderTarget(target, files, env.keys);
  if (reading.valid()) env.live = reading.get();
  return ApplyRendered(target, files.revision, plan, trigger, std::move(rendered), env);
}

}  // namespace stackctl::stacksync
