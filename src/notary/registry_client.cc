#include "notary/registry_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>

#include <cctype>
#include <memory>

#include "common/crypto.h"
#include "common/http.h"
#include "common/json.h"
#include "common/secret_file.h"
#include "notary/tls_get.h"

namespace stackctl::notary {
namespace {

constexpr size_t kManifestCap = 4 << 20;  // docker's own manifest limit
constexpr size_t kTokenCap = 1 << 20;

// Every manifest type a tag or digest may name; the digest is over the bytes
// served, whatever the type (as docker pins it).
constexpr const char* kManifestAccept =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

std::string Host(const std::string& registry) {
  if (!registry.empty() && registry[0] == '[') {
    size_t end = registry.find(']');
    return end == std::string::npos ? registry : registry.substr(1, end - 1);
  }
  size_t colon = registry.rfind(':');
  return colon == std::string::npos ? registry : registry.substr(0, colon);
}

}  // namespace

const RegistryAccess& RegistryOptions::For(const std::string& registry) const {
  auto it = registries.find(registry);
  return it == registries.end() ? default_access : it->second;
}

bool IsLoopbackRegistry(const std::string& registry) {
  in_addr a{};
  if (inet_pton(AF_INET, Host(registry).c_str(), &a) != 1) return false;
  return (ntohl(a.s_addr) >> 24) == 127;
}

std::string RegistryApiHost(const std::string& registry) {
  return registry == "docker.io" ? "registry-1.docker.io" : registry;
}

HttpRegistry::HttpRegistry(RegistryOptions options) : options_(std::move(options)) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
}

HttpRegistry::~HttpRegistry() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Result<HttpRegistry::Response> HttpRegistry::Request(const std::string& registry,
                                                     const std::string& url,
                                                     const std::string& accept,
                                                     const std::string& authorization,
                                                     size_t max_bytes, const std::string& peer) {
  const std::string who =
      peer.empty() ? "registry " + registry : "registry " + registry + ": " + peer;
  if (!curl_) return Internal("curl_easy_init failed");
  const RegistryAccess& access = options_.For(registry);
  TlsGetRequest req;
  req.url = url;
  req.ca_file = access.ca_file;
  req.allow_http = access.insecure || IsLoopbackRegistry(registry);
  req.follow_redirects = true;
  if (!accept.empty()) req.headers.push_back("Accept: " + accept);
  if (!authorization.empty()) req.headers.push_back("Authorization: " + authorization);
  req.max_bytes = max_bytes;
  req.connect_timeout_ms = options_.connect_timeout_ms;
  req.timeout_ms = options_.timeout_ms;
  TlsGetReply reply;
  TlsGetError error;
  const bool ok = TlsGet(curl_, req, &reply, &error);
  last_tls_verified_failure_ = error.tls_verify;
  if (!ok && error.overflow) {
    return FailedPrecondition(who + ": response exceeds " + std::to_string(max_bytes) + " bytes");
  }
  if (!ok) {
    std::string why = error.reason;
    if (!error.detail.empty()) why += " (" + error.detail + ")";
    return Unavailable(who + " unreachable: " + why);
  }
  return Response{reply.status, std::move(reply.body), std::move(reply.content_type),
                  std::move(reply.www_authenticate)};
}

Result<std::string> HttpRegistry::BasicAuth(const std::string& registry) {
  const RegistryAccess& access = options_.For(registry);
  if (access.username.empty()) return std::string();
  std::string password;
  if (!access.password_file.empty()) {
    auto p = ReadSecretFile(access.password_file);
    if (!p.ok()) return p.status().WithPrefix("registry " + registry + ": password_file");
    password = *p;
  }
  return "Basic " + Base64Encode(access.username + ":" + password);
}

Result<std::string> HttpRegistry::Token(const std::string& registry, const std::string& repo_path,
                                        const AuthChallenge& challenge) {
  const RegistryAccess& access = options_.For(registry);
  std::string realm = challenge.Param("realm");
  std::string service = challenge.Param("service");
  bool realm_https = realm.rfind("https://", 0) == 0;
  bool realm_http_ok =
      realm.rfind("http://", 0) == 0 && (access.insecure || IsLoopbackRegistry(registry));
  if (!realm_https && !realm_http_ok) {
    return Unavailable("registry " + registry + ": token realm \"" + realm + "\" is not https");
  }
  std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&") +
                    "service=" + PercentEncode(service) +
                    "&scope=" + PercentEncode("repository:" + repo_path + ":pull");
  ASSIGN_OR_RETURN(std::string basic, BasicAuth(registry));
  // Errors name the token server: it, not the registry, is what failed.
  const std::string token_server = "token server " + realm;
  ASSIGN_OR_RETURN(Response tok,
                   Request(registry, url, "application/json", basic, kTokenCap, token_server));
  if (tok.status == 401 || tok.status == 403) {
    return PermissionDenied(
        "registry " + registry + ": " + token_server + " refused " +
        (basic.empty() ? "anonymous access" : "the credentials of " + access.username) + " (HTTP " +
        std::to_string(tok.status) + ")");
  }
  if (tok.status != 200) {
    return Unavailable("registry " + registry + ": " + token_server + " returned HTTP " +
                       std::to_string(tok.status));
  }
  std::string token;
  try {
    Json j = Json::parse(tok.body);
    token = j.value("token", "");
    if (token.empty()) token = j.value("access_token", "");
  } catch (const Json::exception&) {
  }
  if (token.empty()) {
    return Unavailable("registry " + registry + ": " + token_server + " answered without a token");
  }
  return token;
}

Result<HttpRegistry::Response> HttpRegistry::Get(const std::string& registry,
                                                 const std::string& repo_path,
                                                 const std::string& url_path,
                                                 const std::string& accept, size_t max_bytes) {
  const RegistryAccess& access = options_.For(registry);
  const std::string host = RegistryApiHost(registry);
  const std::string auth_key = registry + " " + repo_path;
  auto base = base_.find(registry);
  std::string authorization = auth_.count(auth_key) ? auth_[auth_key] : "";
  auto first = [&]() -> Result<Response> {
    if (base != base_.end()) {
      return Request(registry, base->second + url_path, accept, authorization, max_bytes);
    }
    // Docker's order: https first; plain http only where allowed and only
    // when https does not answer.
    auto r = Request(registry, "https://" + host + url_path, accept, authorization, max_bytes);
    if (r.ok()) {
      base_[registry] = "https://" + host;
      return r;
    }
    // A certificate that does not verify means the registry does speak TLS:
    // that is an error to report, not a reason to try plain http.
    if (r.status().code() != Code::kUnavailable || last_tls_verified_failure_ ||
        !(access.insecure || IsLoopbackRegistry(registry))) {
      return r;
    }
    auto plain = Request(registry, "http://" + host + url_path, accept, authorization, max_bytes);
    if (!plain.ok()) {
      return Unavailable(r.status().message() + "; over http: " + plain.status().message());
    }
    base_[registry] = "http://" + host;
    return plain;
  };
  Result<Response> resp = first();
  if (!resp.ok()) return resp.status();
  bool sent_basic = authorization.rfind("Basic ", 0) == 0;
  if (resp->status == 401) {
    const std::string& challenge = resp->www_authenticate;
    const std::vector<AuthChallenge> challenges = ParseWwwAuthenticate(challenge);
    if (const AuthChallenge* bearer = FindChallenge(challenges, "bearer")) {
      ASSIGN_OR_RETURN(std::string token, Token(registry, repo_path, *bearer));
      authorization = "Bearer " + token;
      sent_basic = false;
    } else if (FindChallenge(challenges, "basic") && !access.username.empty()) {
      ASSIGN_OR_RETURN(authorization, BasicAuth(registry));
      sent_basic = true;
    } else {
      return PermissionDenied("registry " + registry + ": authentication required (" +
                              (challenge.empty() ? "no challenge" : challenge) + ")" +
                              (access.username.empty() ? "; no credentials configured" : ""));
    }
    auth_[auth_key] = authorization;
    resp = Request(registry, base_[registry] + url_path, accept, authorization, max_bytes);
    if (!resp.ok()) return resp.status();
  }
  if (resp->status == 401 || resp->status == 403) {
    // Drop what was refused, so that the next call starts from the challenge.
    auth_.erase(auth_key);
    const std::string http = "HTTP " + std::to_string(resp->status);
    if (resp->status == 401 && sent_basic) {
      return PermissionDenied("registry " + registry + ": credentials of " + access.username +
                              " refused for " + repo_path + " (" + http + ")");
    }
    // A token without the scope: the registry's challenge says why
    // (insufficient_scope, invalid_token).
    std::string why;
    const std::vector<AuthChallenge> again = ParseWwwAuthenticate(resp->www_authenticate);
    if (const AuthChallenge* bearer = FindChallenge(again, "bearer")) why = bearer->Param("error");
    return PermissionDenied("registry " + registry + ": access to " + repo_path + " denied (" +
                            http + (why.empty() ? "" : ", " + why) + ")");
  }
  return resp;
}

Result<Manifest> HttpRegistry::GetManifest(const std::string& registry, const std::string& path,
                                           const std::string& reference) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Response resp, Get(registry, path, "/v2/" + path + "/manifests/" + reference,
                                      kManifestAccept, kManifestCap));
  if (resp.status == 404) {
    return NotFound("registry " + registry + ": manifest " + path + ":" + reference + " not found");
  }
  if (resp.status != 200) {
    return Unavailable("registry " + registry + " returned HTTP " + std::to_string(resp.status) +
                       " for manifest " + path + ":" + reference);
  }
  Manifest m;
  m.media_type = resp.content_type;
  m.digest = "sha256:" + Sha256Hex(resp.body);
  m.body = std::move(resp.body);
  return m;
}

Result<std::string> HttpRegistry::GetBlob(const std::string& registry, const std::string& path,
                                          const std::string& digest, size_t max_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Response resp,
                   Get(registry, path, "/v2/" + path + "/blobs/" + digest, "", max_bytes));
  if (resp.status == 404) {
    return NotFound("registry " + registry + ": blob " + digest + " of " + path + " not found");
  }
  if (resp.status != 200) {
    return Unavailable("registry " + registry + " returned HTTP " + std::to_string(resp.status) +
                       " for blob " + digest);
  }
  return std::move(resp.body);
}

}  // namespace stackctl::notary
