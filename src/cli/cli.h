// Shared plumbing of the `stackctl` command line: global options and the
// registration functions of each subcommand (one cmd_*.cc file per command
// family, wiring only: the work is done by the module libraries).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace stackctl::cli {

struct GlobalOptions {
  std::string host;  // --host/-H, else DOCKER_HOST
  bool tls_verify = false;
  std::string tls_cacert, tls_cert, tls_key;
  std::string log_level = "warn";
  // A running stackctld (cli/server_client.h): --server, --token-file,
  // --server-ca, else STACKCTL_SERVER, STACKCTL_TOKEN_FILE, STACKCTL_SERVER_CA.
  std::string server, token_file, server_ca;
};

struct Context {
  GlobalOptions global;
  int exit_code = 0;  // set by the subcommand that ran
};

// Each adds one or more subcommands to `app`; callbacks store their exit code in ctx.
void RegisterVersion(CLI::App& app, Context& ctx);
void RegisterVerify(CLI::App& app, Context& ctx);  // cmd_verify.cc
void RegisterSecrets(CLI::App& app, Context& ctx);
void RegisterRender(CLI::App& app, Context& ctx);  // render, validate
void RegisterStackCommands(CLI::App& app, Context& ctx);  // cmd_stack.cc: deploy, diff, rollback, sync, ...

}  // namespace stackctl::cli
