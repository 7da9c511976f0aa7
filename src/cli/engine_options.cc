#include "cli/engine_options.h"

namespace stackctl::cli {

engine::ConfigOverrides EngineOverrides(const GlobalOptions& options) {
  engine::ConfigOverrides o;
  o.host = options.host;
  o.tls_verify = options.tls_verify;
  o.tls_cacert = options.tls_cacert;
  o.tls_cert = options.tls_cert;
  o.tls_key = options.tls_key;
  return o;
}

Result<std::unique_ptr<engine::DockerEngine>> MakeDockerEngine(const GlobalOptions& options) {
  ASSIGN_OR_RETURN(engine::ClientConfig config,
                   engine::ClientConfigFromEnvironment(engine::ProcessEnvironment(),
                                                       EngineOverrides(options)));
  return engine::DockerEngine::Create(std::move(config));
}

Result<std::unique_ptr<engine::Engine>> ConnectEngine(const GlobalOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<engine::DockerEngine> docker, MakeDockerEngine(options));
  RETURN_IF_ERROR(docker->Ping());
  return std::unique_ptr<engine::Engine>(std::move(docker));
}

}  // namespace stackctl::cli
