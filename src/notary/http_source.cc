#include "notary/http_source.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>

#include "common/http.h"
#include "common/json.h"
#include "notary/tls_get.h"

namespace stackctl::notary {
Result<std::unique_ptr<HttpSource>> HttpSource::Create(HttpOptions options) {
  if (options.server.rfind("https://", 0) != 0) {
    return InvalidArgument("trust server \"" + options.server + "\" must be an https:// URL");
  }
  while (options.server.ends_with("/")) options.server.pop_back();
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return std::unique_ptr<HttpSource>(new HttpSource(std::move(options)));
}

HttpSource::~HttpSource() {
  for (void* c : idle_) curl_easy_cleanup(static_cast<CURL*>(c));
}

void* HttpSource::TakeHandle() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!idle_.empty()) {
      void* c = idle_.back();
      idle_.pop_back();
      curl_easy_reset(static_cast<CURL*>(c));  // keeps live connections
      return c;
    }
  }
  return curl_easy_init();
}

void HttpSource::ReturnHandle(void* curl) {
  std::lock_guard<std::mutex> l(mu_);
  idle_.push_back(curl);
}

Result<HttpSource::Response> HttpSource::Get(const std::string& url, const std::string& bearer,
                                             size_t max_bytes, const std::string& peer) {
  const std::string who = "notary server " + options_.server + (peer.empty() ? "" : ": " + peer);
  auto give_back = [this](void* c) { ReturnHandle(c); };
  std::unique_ptr<void, decltype(give_back)> curl(TakeHandle(), give_back);
  if (!curl) return Internal("curl_easy_init failed");
  TlsGetRequest req;
  req.url = url;
  req.ca_file = options_.ca_file;
  if (!bearer.empty()) req.headers.push_back("Authorization: Bearer " + bearer);
  req.max_bytes = max_bytes;
  req.connect_timeout_ms = options_.connect_timeout_ms;
  req.timeout_ms = options_.timeout_ms;
  TlsGetReply reply;
  TlsGetError error;
  if (!TlsGet(curl.get(), req, &reply, &error)) {
    if (error.overflow) {
      return FailedPrecondition("response from " + (peer.empty() ? options_.server : peer) +
                                " exceeds " + std::to_string(max_bytes) + " bytes");
    }
    // curl's details only for TLS failures: they say which certificate check failed.
    std::string why = error.reason;
    if (error.tls() && !error.detail.empty()) why += " (" + error.detail + ")";
    return Unavailable(who + " unreachable: " + why);
  }
  return Response{reply.status, std::move(reply.body), std::move(reply.www_authenticate)};
}

Result<std::string> HttpSource::Fetch(const std::string& gun, const std::string& name,
                                      size_t max_bytes) {
  std::string url = options_.server + "/v2/" + gun + "/_trust/tuf/" + name + ".json";
  std::string cached;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = token_.find(gun);
    if (it != token_.end()) cached = it->second;
  }
  ASSIGN_OR_RETURN(Response resp, Get(url, cached, max_bytes));
  const std::vector<AuthChallenge> challenges = ParseWwwAuthenticate(resp.www_authenticate);
  const AuthChallenge* bearer = FindChallenge(challenges, "bearer");
  if (resp.status == 401 && bearer) {
    std::string realm = bearer->Param("realm");
    std::string service = bearer->Param("service");
    if (realm.rfind("https://", 0) != 0) {
      return Unavailable("notary server " + options_.server + ": token realm \"" + realm +
                         "\" is not https");
    }
    std::string token_url = realm + (realm.find('?') == std::string::npos ? "?" : "&") +
                            "service=" + PercentEncode(service) +
                            "&scope=" + PercentEncode("repository:" + gun + ":pull");
    // Errors name the token server: it, not the Notary server, failed.
    const std::string token_server = "token server " + realm;
    ASSIGN_OR_RETURN(Response tok, Get(token_url, "", 1 << 20, token_server));
    if (tok.status != 200) {
      return Unavailable("notary server " + options_.server + ": " + token_server +
                         " returned HTTP " + std::to_string(tok.status));
    }
    std::string token;
    try {
      Json j = Json::parse(tok.body);
      token = j.value("token", j.value("access_token", ""));
    } catch (const Json::exception&) {
    }
    if (token.empty()) {
      return Unavailable("notary server " + options_.server + ": " + token_server +
                         " answered without a token");
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      token_[gun] = token;
    }
    ASSIGN_OR_RETURN(resp, Get(url, token, max_bytes));
  }
  if (resp.status == 200) return std::move(resp.body);
  if (resp.status == 404) return NotFound(name + ".json: HTTP 404");
  return Unavailable("notary server " + options_.server + " returned HTTP " +
                     std::to_string(resp.status) + " for " + name + ".json");
}

}  // namespace stackctl::notary
