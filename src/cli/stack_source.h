// Shared "where does the desired stack come from" flags of render, validate,
// deploy and diff: -c FILE (repeatable), --env-file FILE, --dotenv,
// --bundle FILE.DAB, and the function that turns them into a StackSpec.
//
// Thread safety: plain values and a pure function (reads files only).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/file_source.h"
#include "common/status.h"
#include "model/stack.h"

namespace stackctl::cli {

struct StackSourceOptions {
  std::vector<std::string> compose_files;
  std::vector<std::string> env_files;
  bool dotenv = false;
  std::string bundle;
};

// Adds -c/--compose-file, --env-file, --dotenv and --bundle to `cmd`.
void AddStackSourceFlags(CLI::App* cmd, StackSourceOptions* opts);

// Loads and converts the stack. `env` is the environment interpolation sees
// (main passes the process environment). Relative paths resolve against the
// current directory through `files`.
Result<model::StackSpec> LoadStack(const StackSourceOptions& opts, const std::string& stack,
                                   const std::map<std::string, std::string>& env, FileSource& files);

// The process environment as a map.
std::map<std::string, std::string> ProcessEnv();

}  // namespace stackctl::cli
