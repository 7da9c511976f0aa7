// stackctld: the long-running GitOps controller.
#include <iostream>

#include <CLI/CLI.hpp>

#include "common/log.h"

int main(int argc, char** argv) {
  CLI::App app{"stackctld: the stackctl GitOps controller for Docker Swarm"};
  std::string config_path;
  app.add_option("-c,--config", config_path, "Controller configuration file (YAML)")->required();
  CLI11_PARSE(app, argc, argv);
  std::cerr << "stackctld " << STACKCTL_VERSION << ": " << config_path << "\n";
  return 0;
}
