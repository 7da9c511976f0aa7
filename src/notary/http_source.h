// HttpSource: a MetadataSource over HTTPS to a Notary v1 server (libcurl).
//
// GET {server}/v2/{GUN}/_trust/tuf/{name}.json with the GUN verbatim. The
// server's TLS certificate is always verified (against `ca_file` when given,
// else the system roots); plain http:// URLs are refused. A 401 with a Bearer
// challenge runs the anonymous registry token flow (scope
// repository:{GUN}:pull) once; the token is kept per GUN for the next fetches
// until the server refuses it (then the flow runs again). Bodies longer than the caller's cap abort
// the transfer. Status mapping: 200 body, 404 kNotFound, anything else and transport errors
// kUnavailable ("notary server <url>: ...", "notary server <url>: token server <realm> unreachable:
// ..." when the token server fails).
//
// Connections are kept alive between fetches: idle curl handles are pooled, so
// a verification of several files pays for one TLS handshake.
//
// Thread safety: Fetch() may be called concurrently (a handle is used by one
// call at a time; the pool is locked).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "notary/tuf_client.h"

namespace stackctl::notary {

struct HttpOptions {
  std::string server;   // "https://notary.example.com:4443"
  std::string ca_file;  // PEM bundle; "" = system roots
  long connect_timeout_ms = 5000;
  long timeout_ms = 30000;
};

class HttpSource : public MetadataSource {
 public:
  // InvalidArgument unless the server URL is https://.
  static Result<std::unique_ptr<HttpSource>> Create(HttpOptions options);

  ~HttpSource() override;
  HttpSource(const HttpSource&) = delete;
  HttpSource& operator=(const HttpSource&) = delete;

  Result<std::string> Fetch(const std::string& gun, const std::string& name,
                            size_t max_bytes) override;
  std::string Describe() const override { return options_.server; }

 private:
  explicit HttpSource(HttpOptions options) : options_(std::move(options)) {}
  struct Response {
    long status = 0;
    std::string body;
    std::string www_authenticate;
  };
  // `peer` names the server in errors when it is not the Notary server (its
  // token server).
  Result<Response> Get(const std::string& url, const std::string& bearer, size_t max_bytes,
                       const std::string& peer = "");

  void* TakeHandle();  // a pooled or new CURL*
  void ReturnHandle(void* curl);

  HttpOptions options_;
  std::mutex mu_;
  std::vector<void*> idle_;                   // CURL* handles keeping their connections
  std::map<std::string, std::string> token_;  // GUN -> the last Bearer token it needed
};

}  // namespace stackctl::notary
