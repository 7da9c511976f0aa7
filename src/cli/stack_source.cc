#include "cli/stack_source.h"

#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "common/file_source.h"

namespace stackctl::cli {

void AddStackSourceFlags(CLI::App* cmd, StackSourceOptions* opts) {
  // One value per occurrence, as with docker (`-c a.yml -c b.yml`): CLI11's
  // vector options are greedy by default and would swallow an optional STACK
  // positional (`stackctl validate -c a.yml web` read "web" as a file).
  cmd->add_option("-c,--compose-file", opts->compose_files, "Compose file (repeat for overrides)")
      ->allow_extra_args(false);
  cmd->add_option("--env-file", opts->env_files, "Read variables for interpolation from a file")
      ->allow_extra_args(false);
  cmd->add_flag("--dotenv", opts->dotenv,
                "Also read .env beside the first compose file (docker stack deploy does not)");
  cmd->add_option("--bundle", opts->bundle, "DAB bundle file (instead of compose files)");
  cmd->add_option("--age-identity", opts->age_identities,
                  "age identity file for encrypted secrets/configs (repeatable)")
      ->allow_extra_args(false);
}

Result<StackOnDisk> StackOnDiskFor(const StackSourceOptions& opts, const std::string& stack) {
  if (stack.empty()) return InvalidArgument("stack name must not be empty");
  StackOnDisk out;
  ASSIGN_OR_RETURN(out.keys,
                   secrets::Keyring::Load(opts.age_identities, secrets::KeyEnvironment::FromEnv(std::getenv)));
  render::RenderInput& in = out.input;
  in.stack = stack;
  in.compose_files = opts.compose_files;
  in.bundle = opts.bundle;
  in.env_files = opts.env_files;
  in.read_dotenv = opts.dotenv;
  in.env = render::ProcessEnvironment();
  if (!opts.compose_files.empty()) {
    // docker resolves relative bind mounts against the absolute directory of the first file.
    std::string dir = DirName(opts.compose_files[0]);
    if (dir.empty() || dir[0] != '/') {
      char cwd[PATH_MAX];
      if (getcwd(cwd, sizeof cwd)) dir = JoinPath(cwd, dir);
    }
    in.working_dir = dir;
  }
  return out;
}

Result<model::StackSpec> LoadStack(const StackSourceOptions& opts, const std::string& stack) {
  ASSIGN_OR_RETURN(StackOnDisk on_disk, StackOnDiskFor(opts, stack));
  DiskFileSource files("");
  return render::RenderStack(on_disk.input, files, on_disk.keys);
}

}  // namespace stackctl::cli
