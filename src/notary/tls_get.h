// TlsGet: one HTTP GET over libcurl with the TLS rules both of notary's
// network clients follow (HttpRegistry for registries and their token servers,
// HttpSource for Notary servers), so the curl setup and the header parsing
// have one home:
//   * the peer certificate and host name are always verified, against
//     `ca_file` when given, else the system roots;
//   * plain http only when the caller allows it (`allow_http`);
//   * redirects only when asked, never from https to plain http;
//   * the body is capped (BodySink, transfer aborted past the cap);
//   * Content-Type and WWW-Authenticate of the last response are kept.
// What a failure means (the message, the status code) stays with the caller:
// TlsGetError carries curl's code and texts.
//
// Thread safety: one call per CURL handle at a time; the caller owns the
// handle (reset here, so its live connections are reused).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace stackctl::notary {

struct TlsGetRequest {
  std::string url;
  std::string ca_file;               // PEM bundle; "" = system roots
  bool allow_http = false;           // may the URL (and redirects from http) be plain http
  bool follow_redirects = false;     // at most 5; from https only to https
  std::vector<std::string> headers;  // "Name: value"
  size_t max_bytes = 0;
  long connect_timeout_ms = 5000;
  long timeout_ms = 30000;
};

struct TlsGetReply {
  long status = 0;
  std::string body;
  std::string content_type;
  std::string www_authenticate;
};

struct TlsGetError {
  int curl_code = 0;        // CURLcode; 0 when the body overflowed
  bool overflow = false;    // more than max_bytes arrived
  bool tls_verify = false;  // the peer certificate failed verification
  std::string reason;       // curl_easy_strerror
  std::string detail;       // curl's error buffer, may be ""
  bool tls() const;         // a TLS error of any kind (handshake, CA file, verification)
};

// Performs `req` on `curl` (a CURL*). True with *reply filled, or false with
// *error filled.
bool TlsGet(void* curl, const TlsGetRequest& req, TlsGetReply* reply, TlsGetError* error);

}  // namespace stackctl::notary
