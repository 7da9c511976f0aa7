#include <iostream>

#include "cli/cli.h"

namespace stackctl::cli {

void RegisterVersion(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("version", "Print client and engine versions and the swarm role");
  cmd->callback([&ctx] {
    std::cout << "Client: stackctl " << STACKCTL_VERSION << "\n";
    ctx.exit_code = 0;
  });
}

}  // namespace stackctl::cli
