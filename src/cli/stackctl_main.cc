// stackctl: the command-line client. Parses arguments and dispatches to the
// subcommand registered by each cmd_*.cc; all real work lives in src/ modules.
#include <cstdlib>

#include "cli/cli.h"
#include "common/log.h"

int main(int argc, char** argv) {
  using namespace stackctl;
  CLI::App app{"stackctl: GitOps for Docker Swarm"};
  app.require_subcommand(1);
  cli::Context ctx;
  auto& g = ctx.global;
  app.add_option("-H,--host", g.host, "Docker daemon socket to connect to (default: $DOCKER_HOST)");
  app.add_flag("--tlsverify", g.tls_verify, "Use TLS and verify the remote (default: $DOCKER_TLS_VERIFY)");
  app.add_option("--tlscacert", g.tls_cacert, "Trust certs signed only by this CA");
  app.add_option("--tlscert", g.tls_cert, "Path to TLS certificate file");
  app.add_option("--tlskey", g.tls_key, "Path to TLS key file");
  app.add_option("--log-level", g.log_level, "trace|debug|info|warn|error");
  app.add_option("--server", g.server,
                 "URL of a running stackctld: status, history and sync go through its API")
      ->envname("STACKCTL_SERVER");
  app.add_option("--token-file", g.token_file, "File holding the stackctld API token")
      ->envname("STACKCTL_TOKEN_FILE");
  app.add_option("--server-ca", g.server_ca, "CA bundle for an https --server (default: system CAs)")
      ->envname("STACKCTL_SERVER_CA");
  app.parse_complete_callback([&] { log::Setup(g.log_level, log::Format::kText); });

  cli::RegisterVersion(app, ctx);
  cli::RegisterVerify(app, ctx);
  cli::RegisterSecrets(app, ctx);
  cli::RegisterRender(app, ctx);
  cli::RegisterStackCommands(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return ctx.exit_code;
}
