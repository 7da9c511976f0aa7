#include "cli/stack_source.h"

#include <unistd.h>

#include <climits>

#include "compose/loader.h"
#include "dab/bundle.h"
#include "model/from_compose.h"

extern char** environ;

namespace stackctl::cli {

void AddStackSourceFlags(CLI::App* cmd, StackSourceOptions* opts) {
  cmd->add_option("-c,--compose-file", opts->compose_files, "Compose file (repeat for overrides)");
  cmd->add_option("--env-file", opts->env_files, "Read variables for interpolation from a file");
  cmd->add_flag("--dotenv", opts->dotenv,
                "Also read .env beside the first compose file (docker stack deploy does not)");
  cmd->add_option("--bundle", opts->bundle, "DAB bundle file (instead of compose files)");
}

std::map<std::string, std::string> ProcessEnv() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

Result<model::StackSpec> LoadStack(const StackSourceOptions& opts, const std::string& stack,
                                   const std::map<std::string, std::string>& env, FileSource& files) {
  if (stack.empty()) return InvalidArgument("stack name must not be empty");
  if (!opts.bundle.empty()) {
    if (!opts.compose_files.empty()) {
      return InvalidArgument("--bundle and --compose-file cannot be used together");
    }
    ASSIGN_OR_RETURN(std::string content, files.Read(opts.bundle));
    ASSIGN_OR_RETURN(dab::Bundle bundle, dab::LoadBundle(content, opts.bundle));
    return model::FromBundle(bundle, stack);
  }
  if (opts.compose_files.empty()) {
    return InvalidArgument("give at least one compose file (-c FILE) or a bundle (--bundle FILE)");
  }
  compose::LoadOptions lo;
  lo.files = opts.compose_files;
  lo.env = env;
  lo.env_files = opts.env_files;
  lo.read_dotenv = opts.dotenv;
  // docker resolves relative bind mounts against the absolute directory of the first file.
  std::string dir = DirName(opts.compose_files[0]);
  if (dir.empty() || dir[0] != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd)) dir = JoinPath(cwd, dir);
  }
  lo.working_dir = dir;
  ASSIGN_OR_RETURN(compose::Project project, compose::LoadProject(lo, files));
  return model::FromCompose(project, stack, files);
}

}  // namespace stackctl::cli
