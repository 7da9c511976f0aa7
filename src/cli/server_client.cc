#include "cli/server_client.h"

#include "common/secret_file.h"

namespace stackctl::cli {

Result<apiclient::ClientOptions> ServerClientOptions(const GlobalOptions& g) {
  apiclient::ClientOptions o;
  if (g.server.rfind("http://", 0) != 0 && g.server.rfind("https://", 0) != 0) {
    return InvalidArgument("--server: \"" + g.server + "\" is not an http:// or https:// URL");
  }
  o.base_url = g.server;
  if (g.token_file.empty()) {
    return InvalidArgument("--server " + g.server +
                           " needs the API token: --token-file FILE or $STACKCTL_TOKEN_FILE");
  }
  auto token = ReadSecretFile(g.token_file);
  if (!token.ok()) return Status(token.status().code(), "--token-file: " + token.status().message());
  o.token = std::move(*token);
  o.ca_file = g.server_ca;
  return o;
}

std::string ServerErrorMessage(const GlobalOptions& g, const std::string& stack, const Status& st) {
  switch (st.code()) {
    case Code::kUnauthenticated:
      return g.server + " rejected the API token from " + g.token_file + " (" + st.message() + ")";
    case Code::kNotFound:
      if (!stack.empty()) return "stack " + stack + " not found (" + st.message() + ")";
      return st.message();
    default:
      return st.message();
  }
}

}  // namespace stackctl::cli
