// Outgoing HTTP for notifications and commit statuses: one POST with a JSON
// body, and the Sender seam that the Dispatcher (dispatcher.h) sends through
// (CurlSender in production, a fake in tests).
//
// CurlSender always verifies the server's TLS certificate (against the
// request's `ca_file` when set, else the system roots), follows no
// redirects, and stops after `timeout` (connect included). Its errors never
// carry the URL (a Slack-style URL is itself the credential) nor a header
// value: the caller names the target.
//
// Thread safety: Send may be called from any thread.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace stackctl::notify {

struct HttpRequest {
  std::string url;
  std::vector<std::pair<std::string, std::string>>
      headers;  // besides Content-Type: application/json
  std::string body;
  std::string ca_file;  // PEM bundle trusted for this host; "" = system roots
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};

  bool operator==(const HttpRequest&) const = default;
};

class Sender {
 public:
  virtual ~Sender() = default;
  // OK on a 2xx answer. Otherwise kUnavailable for transport errors, 5xx and
  // 429 (worth retrying), kFailedPrecondition for other answers (a 401 or
  // 404 stays so until the configuration changes); the message has the
  // HTTP status and the start of the answer's body.
  virtual Status Send(const HttpRequest& request) = 0;
};

class CurlSender : public Sender {
 public:
  Status Send(const HttpRequest& request) override;
};

}  // namespace stackctl::notify
