// Registry: the few reads of the Docker Registry HTTP API v2 that signature
// verification needs (a manifest by tag or digest, a blob by digest), behind a
// small interface so the cosign checks run against an in-memory fake in unit
// tests and against a real registry otherwise.
//
// HttpRegistry (libcurl) talks to each registry as docker does:
//   * https first, its certificate verified against the registry's ca_file
//     (else the system roots); plain http only for registries on 127.0.0.0/8
//     or listed as insecure, and only when https does not answer at all (a
//     certificate that fails verification is reported, never bypassed);
//   * anonymous, then on 401 the Bearer token flow when the WWW-Authenticate
//     header offers a Bearer challenge (realm, service, scope
//     repository:PATH:pull; credentials, when configured, go to the token
//     server as Basic auth), else Basic with the registry's credentials;
//   * size caps on every body, redirects followed (blob storage), never from
//     https to http.
// Status mapping: 200 body, 404 kNotFound, 401/403 kPermissionDenied (from
// the registry: "credentials of USER refused" after Basic, "access to PATH
// denied (HTTP 401, insufficient_scope)" after a token; from the token server:
// "token server REALM refused ..."), anything else and transport errors
// kUnavailable ("registry HOST unreachable: ...", "registry HOST: token
// server REALM unreachable: ..."). A refused Authorization is not cached.
//
// Thread safety: HttpRegistry serializes its calls (one curl handle, one token
// cache); FakeRegistry-style implementations decide for themselves.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/http.h"
#include "common/status.h"

namespace stackctl::notary {

struct Manifest {
  std::string body;
  std::string media_type;  // Content-Type as served
  std::string digest;      // "sha256:" + hex(sha256(body)), computed here, never trusted
};

class Registry {
 public:
  virtual ~Registry() = default;
  // `registry` "127.0.0.1:5000", `path` "library/busybox", `reference` a tag
  // or a digest.
  virtual Result<Manifest> GetManifest(const std::string& registry, const std::string& path,
                                       const std::string& reference) = 0;
  // The blob's bytes, at most max_bytes (larger: kFailedPrecondition). The
  // caller checks the digest.
  virtual Result<std::string> GetBlob(const std::string& registry, const std::string& path,
                                      const std::string& digest, size_t max_bytes) = 0;
};

// How to reach one registry.
struct RegistryAccess {
  std::string ca_file;        // PEM bundle for its TLS certificate; "" = system roots
  bool insecure = false;      // plain http allowed (docker's --insecure-registry)
  std::string username;       // with password_file: Basic auth or token-server credentials
  std::string password_file;  // read when a registry asks for credentials; never logged

  bool operator==(const RegistryAccess&) const = default;
};

struct RegistryOptions {
  std::map<std::string, RegistryAccess> registries;  // "host:port" -> access
  RegistryAccess default_access;                     // registries not listed
  long connect_timeout_ms = 5000;
  long timeout_ms = 30000;

  const RegistryAccess& For(const std::string& registry) const;
};

// True for registries docker lets speak plain http without being told:
// 127.0.0.0/8 (with or without a port). "localhost" is not included: docker
// resolves it, we do not.
bool IsLoopbackRegistry(const std::string& registry);

// The API host of a registry name: docker.io is served by registry-1.docker.io.
std::string RegistryApiHost(const std::string& registry);

class HttpRegistry : public Registry {
 public:
  explicit HttpRegistry(RegistryOptions options);
  ~HttpRegistry() override;
  HttpRegistry(const HttpRegistry&) = delete;
  HttpRegistry& operator=(const HttpRegistry&) = delete;

  Result<Manifest> GetManifest(const std::string& registry, const std::string& path,
                               const std::string& reference) override;
  Result<std::string> GetBlob(const std::string& registry, const std::string& path,
                              const std::string& digest, size_t max_bytes) override;

 private:
  struct Response {
    long status = 0;
    std::string body;
    std::string content_type;
    std::string www_authenticate;
  };
  // GET `url_path` on `registry` with auth as needed.
  Result<Response> Get(const std::string& registry, const std::string& repo_path,
                       const std::string& url_path, const std::string& accept, size_t max_bytes);
  // One request; `authorization` is a full header value or "". `peer` names
  // the server in errors when it is not the registry itself (its token server).
  Result<Response> Request(const std::string& registry, const std::string& url,
                           const std::string& accept, const std::string& authorization,
                           size_t max_bytes, const std::string& peer = "");
  Result<std::string> Token(const std::string& registry, const std::string& repo_path,
                            const AuthChallenge& challenge);
  // "Basic base64(user:password)" of `registry`, "" without credentials.
  Result<std::string> BasicAuth(const std::string& registry);

  RegistryOptions options_;
  std::mutex mu_;
  void* curl_ = nullptr;                     // CURL*, kept for its connections
  bool last_tls_verified_failure_ = false;   // the last request failed certificate verification
  std::map<std::string, std::string> base_;  // registry -> "https://host" or "http://host"
  std::map<std::string, std::string> auth_;  // registry + " " + repo path -> Authorization value
};

}  // namespace stackctl::notary
