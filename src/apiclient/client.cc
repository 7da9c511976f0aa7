#include "apiclient/client.h"

#include <curl/curl.h>

#include <memory>

#include "common/http.h"

namespace stackctl::apiclient {
namespace {

Code CodeForHttp(long status) {
  switch (status) {
    case 400: return Code::kInvalidArgument;
    case 401: return Code::kUnauthenticated;
    case 403: return Code::kPermissionDenied;
    case 404: return Code::kNotFound;
    case 409: return Code::kAborted;
    case 412:
    case 422: return Code::kFailedPrecondition;
    case 502:
    case 503: return Code::kUnavailable;
    case 504: return Code::kDeadlineExceeded;
    default: return status >= 500 ? Code::kInternal : Code::kUnknown;
  }
}

bool CodeFromName(const std::string& name, Code* out) {
  for (int c = 0; c <= static_cast<int>(Code::kUnknown); ++c) {
    if (CodeName(static_cast<Code>(c)) == name) {
      *out = static_cast<Code>(c);
      return true;
    }
  }
  return false;
}

}  // namespace

Client::Client(ClientOptions options) : options_(std::move(options)) {}

Result<Json> Client::Call(const std::string& method, const std::string& path,
                          const std::string& body, std::chrono::milliseconds timeout) {
  std::string base = options_.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string url = base + path;
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return Internal(url + ": cannot initialize libcurl");
  struct curl_slist* headers = nullptr;
  const std::string auth = "Authorization: Bearer " + options_.token;
  if (!options_.token.empty()) headers = curl_slist_append(headers, auth.c_str());
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Accept: application/json");
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_guard(headers, curl_slist_free_all);
  std::string response;
  BodySink sink{&response, std::string::npos};  // the API's answers are not capped here
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendToBodySink);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return DeadlineExceeded(method + " " + url + ": " + curl_easy_strerror(rc));
  }
  if (rc != CURLE_OK) return Unavailable(method + " " + url + ": " + curl_easy_strerror(rc));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  Result<Json> json = ParseJson(response, method + " " + url + " response");
  if (status >= 200 && status < 300) return json;
  Code code = CodeForHttp(status);
  std::string message = "HTTP " + std::to_string(status);
  if (json.ok() && json->is_object()) {
    if (json->contains("code") && (*json)["code"].is_string()) {
      CodeFromName((*json)["code"].get<std::string>(), &code);
    }
    if (json->contains("error") && (*json)["error"].is_string()) {
      message = (*json)["error"].get<std::string>();
    } else if (json->contains("error") && (*json)["error"].is_object()) {
      // A waited sync's failed operation: {"state": "failed", "error": {code, message}}.
      const Json& e = (*json)["error"];
      CodeFromName(e.value("code", ""), &code);
      message = e.value("message", message);
    } else if (json->contains("state")) {
      message = "operation " + json->value("id", "") + " is still " +
                json->value("state", "") + " after the wait timeout";
    }
  }
  if (code == Code::kOk) code = Code::kUnknown;
  return Status(code, method + " " + url + ": " + message);
}

Result<Json> Client::ListStacks() { return Call("GET", "/api/v1/stacks", "", options_.timeout); }

Result<Json> Client::GetStack(const std::string& name) {
  return Call("GET", "/api/v1/stacks/" + PercentEncode(name), "", options_.timeout);
}

Result<Json> Client::GetHistory(const std::string& name) {
  return Call("GET", "/api/v1/stacks/" + PercentEncode(name) + "/history", "", options_.timeout);
}

Result<Json> Client::GetOperation(const std::string& id) {
  return Call("GET", "/api/v1/operations/" + PercentEncode(id), "", options_.timeout);
}

Result<Json> Client::Sync(const std::string& stack, const std::optional<std::string>& revision,
                          bool wait, std::chrono::milliseconds wait_timeout) {
  Json body = Json::object();
  if (revision) body["revision"] = *revision;
  std::string path = "/api/v1/stacks/" + PercentEncode(stack) + "/sync";
  std::chrono::milliseconds timeout = options_.timeout;
  if (wait) {
    path += "?wait=true&timeout=" + std::to_string(wait_timeout.count()) + "ms";
    timeout = wait_timeout + options_.timeout;
  }
  return Call("POST", path, body.dump(), timeout);
}

}  // namespace stackctl::apiclient
