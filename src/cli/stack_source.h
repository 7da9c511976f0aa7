// The flags that say where a stack comes from, shared by render, validate,
// diff and deploy (docker CLI conventions), and LoadStack, which runs the
// real pipeline (render::RenderStack) on the local disk:
//   -c, --compose-file FILE   repeatable; later files override earlier ones
//   --bundle FILE.dab         instead of compose files
//   --env-file FILE           repeatable; values for ${VAR} interpolation
//   --dotenv                  also read .env beside the first compose file
//                             (docker stack deploy does not)
//   --age-identity FILE       repeatable; age identities for encrypted
//                             secrets/configs (also $SOPS_AGE_KEY_FILE, $SOPS_AGE_KEY)
//
// Thread safety: plain values; LoadStack only reads files.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/status.h"
#include "model/stack.h"
#include "render/render.h"
#include "secrets/keyring.h"

namespace stackctl::cli {

struct StackSourceOptions {
  std::vector<std::string> compose_files;
  std::vector<std::string> env_files;
  bool dotenv = false;
  std::string bundle;
  std::vector<std::string> age_identities;
};

void AddStackSourceFlags(CLI::App* cmd, StackSourceOptions* opts);

// What the flags say to render, and the keys to decrypt with: files relative
// to the current directory, the process environment for interpolation.
struct StackOnDisk {
  render::RenderInput input;
  secrets::Keyring keys;
};
Result<StackOnDisk> StackOnDiskFor(const StackSourceOptions& opts, const std::string& stack);

// Loads, converts, decrypts and content-hashes the stack from the current
// directory (StackOnDiskFor, rendered over the disk).
Result<model::StackSpec> LoadStack(const StackSourceOptions& opts, const std::string& stack);

}  // namespace stackctl::cli
