// `stackctl version`: client version, then the engine's version, the API
// version in use, OS/arch and the swarm role of the node we talk to. Exits 1
// (after the client part) when the engine cannot be reached.
#include <iostream>

#include "cli/cli.h"
#include "cli/engine_options.h"

namespace stackctl::cli {
namespace {

int RunVersion(const GlobalOptions& options) {
  std::cout << "Client: stackctl " << STACKCTL_VERSION << "\n"
            << " Engine API:    " << engine::kMinApiVersion << " to " << engine::kMaxApiVersion
            << "\n";
  auto fail = [](const Status& st) {
    std::cerr << "Error: " << st.message() << "\n";
    return 1;
  };
  auto docker = MakeDockerEngine(options);
  if (!docker.ok()) return fail(docker.status());
  engine::DockerEngine& eng = **docker;
  auto api = eng.ApiVersion();
  if (!api.ok()) return fail(api.status());
  auto version = eng.Version();
  if (!version.ok()) return fail(version.status());
  auto info = eng.Info();
  if (!info.ok()) return fail(info.status());
  std::cout << "Server: Docker Engine " << version->version << "\n"
            << " Host:          " << eng.config().host << (eng.config().tls ? " (TLS)" : "")
            << "\n"
            << " API version:   " << *api << " (engine supports " << version->min_api_version
            << " to " << version->api_version << ")\n"
            << " OS/Arch:       " << version->os << "/" << version->arch << "\n"
            << " Swarm role:    " << info->Role() << "\n";
  if (!info->node_id.empty()) std::cout << " Node ID:       " << info->node_id << "\n";
  return 0;
}

}  // namespace

void RegisterVersion(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("version", "Print client and engine versions and the swarm role");
  cmd->callback([&ctx] { ctx.exit_code = RunVersion(ctx.global); });
}

}  // namespace stackctl::cli
