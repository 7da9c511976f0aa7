// RenderStack: the whole front half of the pipeline, shared by `stackctl
// render/validate/diff/deploy` and the controller (Envoy's config validation
// idea: validation *is* the real pipeline with writes disabled).
//
//   compose files -> compose::LoadProject -> model::FromCompose
//   or a DAB      -> dab::LoadBundle      -> model::FromBundle
//   then every secret/config content is decoded (age / SOPS, x-sops
//   selectors; plain files unchanged) and secrets::Materialize gives each a
//   content-hashed name.
//
// Files are read through a FileSource: a directory on disk for the CLI, a Git
// commit for the controller. Nothing is partially returned: any error fails
// the whole render with a path-qualified message.
//
// Thread safety: pure apart from reading `files`.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/file_source.h"
#include "common/status.h"
#include "model/stack.h"
#include "secrets/keyring.h"

namespace stackctl::render {

struct RenderInput {
  std::string stack;
  std::vector<std::string> compose_files;  // -c, in order (FileSource paths)
  std::string bundle;                      // a .dab instead of compose files
  std::vector<std::string> env_files;      // --env-file
  bool read_dotenv = true;                 // `.env` beside the first compose file
  std::map<std::string, std::string> env;  // the environment interpolation sees
  std::string working_dir;                 // absolute dir for relative bind mounts ("" = as given)
};

// The environment of this process, for RenderInput::env.
std::map<std::string, std::string> ProcessEnvironment();

Result<model::StackSpec> RenderStack(const RenderInput& input, FileSource& files,
                                     const secrets::Keyring& keys);

}  // namespace stackctl::render
