#include "controller/stack_target.h"

namespace stackctl::controller {

stacksync::StackTarget TargetFromConfig(const config::StackConfig& cfg) {
  stacksync::StackTarget t;
  t.stack = cfg.name;
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

stacksync::ReconcileReport ReconcileAtCommit(const stacksync::StackTarget& target, const std::string& stack_dir,
                                             const gitsource::Snapshot& snapshot, reconciler::Trigger trigger,
                                             bool commit_failed, stacksync::ReconcileEnv& env) {
  std::unique_ptr<FileSource> files = snapshot.Files(stack_dir);
  stacksync::StackFiles at_commit{*files, snapshot.commit(), " at " + snapshot.commit().substr(0, 12)};
  stacksync::ReconcileReport rep = stacksync::ReconcileStack(target, at_commit, trigger, commit_failed, env);
  std::set<std::string> repository_paths;
  for (const std::string& p : rep.inputs) {
    // A path that leaves the repository was refused by the render already.
    Result<std::string> repo_path = gitsource::JoinRepoPath(stack_dir, p);
    if (repo_path.ok()) repository_paths.insert(*repo_path);
  }
  rep.inputs = std::move(repository_paths);
  return rep;
}

}  // namespace stackctl::controller
