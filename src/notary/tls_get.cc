#include "notary/tls_get.h"

#include <curl/curl.h>

#include <cctype>
#include <memory>

#include "common/http.h"

namespace stackctl::notary {
namespace {

size_t OnHeader(char* ptr, size_t size, size_t n, void* user) {
  auto* reply = static_cast<TlsGetReply*>(user);
  std::string line(ptr, size * n);
  // A redirect starts a new response: keep only the last one's headers.
  if (line.rfind("HTTP/", 0) == 0) {
    reply->content_type.clear();
    reply->www_authenticate.clear();
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = line.substr(0, colon);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string value = line.substr(colon + 1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.pop_back();
  while (!value.empty() && value.front() == ' ') value.erase(0, 1);
  if (name == "content-type") reply->content_type = value;
  if (name == "www-authenticate") reply->www_authenticate = value;
  return size * n;
}

}  // namespace

bool TlsGetError::tls() const {
  return curl_code == CURLE_PEER_FAILED_VERIFICATION || curl_code == CURLE_SSL_CONNECT_ERROR ||
         curl_code == CURLE_SSL_CACERT_BADFILE;
}

bool TlsGet(void* handle, const TlsGetRequest& req, TlsGetReply* reply, TlsGetError* error) {
  CURL* c = static_cast<CURL*>(handle);
  *reply = TlsGetReply{};
  *error = TlsGetError{};
  curl_easy_reset(c);  // keeps live connections
  BodySink sink{&reply->body, req.max_bytes};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* list = nullptr;
  for (const std::string& h : req.headers) list = curl_slist_append(list, h.c_str());
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> guard(list, curl_slist_free_all);
  const bool https = req.url.rfind("https://", 0) == 0;
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, req.allow_http ? "http,https" : "https");
  if (req.follow_redirects) {
    // Blob storage may be elsewhere; never follow an https URL to plain http.
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR,
                     https || !req.allow_http ? "https" : "http,https");
  }
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!req.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, req.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, req.connect_timeout_ms);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req.timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendToBodySink);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, reply);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  if (list) curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "stackctl/" STACKCTL_VERSION);
  CURLcode rc = curl_easy_perform(c);
  if (sink.overflow) {
    error->overflow = true;
    return false;
  }
  if (rc != CURLE_OK) {
    error->curl_code = rc;
    error->tls_verify = rc == CURLE_PEER_FAILED_VERIFICATION;
    error->reason = curl_easy_strerror(rc);
    error->detail = errbuf;
    return false;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply->status);
  return true;
}

}  // namespace stackctl::notary
