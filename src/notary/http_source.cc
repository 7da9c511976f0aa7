#include "notary/http_source.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>

#include "common/http.h"
#include "common/json.h"

namespace stackctl::notary {
namespace {

size_t OnHeader(char* ptr, size_t size, size_t n, void* user) {
  std::string line(ptr, size * n);
  static const std::string kName = "www-authenticate:";
  if (line.size() > kName.size()) {
    std::string head = line.substr(0, kName.size());
    for (char& c : head) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    if (head == kName) {
      std::string v = line.substr(kName.size());
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) v.pop_back();
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      *static_cast<std::string*>(user) = v;
    }
  }
  return size * n;
}

}  // namespace

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
  auto give_back = [this](CURL* c) { ReturnHandle(c); };
  std::unique_ptr<CURL, decltype(give_back)> curl(static_cast<CURL*>(TakeHandle()), give_back);
  if (!curl) return Internal("curl_easy_init failed");
  Response resp;
  BodySink sink{&resp.body, max_bytes};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  if (!bearer.empty())
    headers = curl_slist_append(headers, ("Authorization: Bearer " + bearer).c_str());
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> hdr_guard(headers, curl_slist_free_all);
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, options_.timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendToBodySink);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp.www_authenticate);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "stackctl/" STACKCTL_VERSION);
  CURLcode rc = curl_easy_perform(c);
  if (sink.overflow) {
    return FailedPrecondition("response from " + (peer.empty() ? options_.server : peer) +
                              " exceeds " + std::to_string(max_bytes) + " bytes");
  }
  if (rc != CURLE_OK) {
    std::string why = curl_easy_strerror(rc);
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
        rc == CURLE_SSL_CACERT_BADFILE) {
      why += std::string(" (") + errbuf + ")";
    }
    return Unavailable(who + " unreachable: " + why);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
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
