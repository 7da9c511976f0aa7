// Building the Engine client from the command line's global options
// (--host, --tlsverify, --tlscacert, --tlscert, --tlskey) and the docker CLI
// environment (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH,
// DOCKER_API_VERSION); flags win, as with `docker`.
//
// Ownership: the returned engine is owned by the caller.
// Thread safety: plain functions; the engine itself is thread safe.
#pragma once

#include <memory>

#include "cli/cli.h"
#include "common/status.h"
#include "engineapi/docker_engine.h"
#include "engineapi/engine.h"

namespace stackctl::cli {

engine::ConfigOverrides EngineOverrides(const GlobalOptions& options);

// The DockerEngine for these options, not yet contacted.
Result<std::unique_ptr<engine::DockerEngine>> MakeDockerEngine(const GlobalOptions& options);

// Builds the client and pings the engine (negotiating the API version), so an
// unreachable or too old engine is reported here, naming the host.
Result<std::unique_ptr<engine::Engine>> ConnectEngine(const GlobalOptions& options);

}  // namespace stackctl::cli
