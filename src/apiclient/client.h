// Client: the CI API of a running stackctld (server/server.h), for `stackctl
// --server URL status|sync|history` and for CI scripts' tests. libcurl, http
// or https (system CAs, or ca_file).
//
// Errors: transport failures are kUnavailable naming the URL; API errors keep
// the server's code (from the "code" field, else from the HTTP status) and
// message. A waited sync whose operation failed returns the operation's error
// code and message.
//
// Thread safety: a Client may be used from several threads (one curl handle
// per call).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "common/json.h"
#include "common/status.h"

namespace stackctl::apiclient {

struct ClientOptions {
  std::string base_url;  // "http://127.0.0.1:9090"
  std::string token;     // bearer token
  std::string ca_file;   // https: CA bundle; empty = system CAs
  std::chrono::milliseconds timeout = std::chrono::seconds(30);  // per request without wait
};

class Client {
 public:
  explicit Client(ClientOptions options);

  Result<Json> ListStacks();
  Result<Json> GetStack(const std::string& name);
  Result<Json> GetHistory(const std::string& name);
  Result<Json> GetOperation(const std::string& id);
  // Without wait: {"operation": id}. With wait: the finished operation; a
  // failed or timed-out operation is an error Status.
  Result<Json> Sync(const std::string& stack, const std::optional<std::string>& revision,
                    bool wait, std::chrono::milliseconds wait_timeout = std::chrono::minutes(10));

 private:
  Result<Json> Call(const std::string& method, const std::string& path, const std::string& body,
                    std::chrono::milliseconds timeout);
  const ClientOptions options_;
};

}  // namespace stackctl::apiclient
