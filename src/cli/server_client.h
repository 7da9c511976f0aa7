// `stackctl --server URL`: the CI API of a running stackctld (apiclient::Client)
// configured from the global options and the environment, like the docker
// CLI does for the engine (flags win over the environment):
//   --server URL        $STACKCTL_SERVER       http://host:9090 or https://...
//   --token-file FILE   $STACKCTL_TOKEN_FILE   the API bearer token (http.api_token_file)
//   --server-ca FILE    $STACKCTL_SERVER_CA    CA bundle for an https server (default: system CAs)
// The environment is read by CLI11 (envname), so GlobalOptions already holds
// the effective values.
//
// Thread safety: plain functions.
#pragma once

#include <string>

#include "cli/cli.h"
#include "common/status.h"
#include "apiclient/client.h"

namespace stackctl::cli {

// True when the command should talk to a controller instead of the engine.
inline bool UseServer(const GlobalOptions& g) { return !g.server.empty(); }

// Client options: the URL is checked (http:// or https://), the token is read
// from its file (trailing whitespace dropped; empty or unreadable is an error).
Result<apiclient::ClientOptions> ServerClientOptions(const GlobalOptions& g);

// The message for a failed API call of `stack` ("" for calls that name no
// stack): a rejected token names the server and the token file, an unknown
// stack reads "stack X not found", anything else is the server's message.
std::string ServerErrorMessage(const GlobalOptions& g, const std::string& stack, const Status& st);

}  // namespace stackctl::cli
