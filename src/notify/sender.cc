#include "notify/sender.h"

#include <curl/curl.h>

#include <mutex>

#include "common/http.h"

namespace stackctl::notify {
namespace {

constexpr size_t kMaxAnswer = 64 * 1024;  // what we keep of an answer's body

// The first line of an answer, short: enough to tell a bad token from a typo.
std::string Excerpt(const std::string& body) {
  std::string s = body.substr(0, body.find('\n'));
  if (s.size() > 200) s = s.substr(0, 200) + "...";
  return s;
}

}  // namespace

Status CurlSender::Send(const HttpRequest& request) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* c = curl_easy_init();
  if (!c) return Internal("cannot create a curl handle");
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  for (const auto& [name, value] : request.headers)
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  std::string answer;
  BodySink sink{&answer, kMaxAnswer, BodySink::Overflow::kTruncate};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!request.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, request.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendToBodySink);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "stackctl/" STACKCTL_VERSION);
  CURLcode rc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK) {
    // errbuf may name the host but never the path or query (curl's messages
    // say "Failed to connect to host port N", "SSL certificate problem: ...").
    return Unavailable(std::string(errbuf[0] ? errbuf : curl_easy_strerror(rc)));
  }
  if (code >= 200 && code < 300) return OkStatus();
  std::string why = "HTTP " + std::to_string(code);
  if (!answer.empty()) why += ": " + Excerpt(answer);
  if (code >= 500 || code == 429) return Unavailable(why);
  return FailedPrecondition(why);
}

}  // namespace stackctl::notify
