#include "integration/webdriver.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <openssl/evp.h>

#include "integration/testbed.h"

namespace stackctl::testing {
namespace {

using Json = nlohmann::json;
constexpr char kChromium[] = "/usr/bin/chromium";
constexpr char kChromedriver[] = "/usr/bin/chromedriver";
// The W3C name of an element reference in a JSON answer.
constexpr char kElementKey[] = "element-6066-11e4-a52e-4f735466cecf";

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// Standard base64 (the screenshot), "" when malformed.
std::string DecodeBase64(const std::string& in) {
  if (in.size() % 4 != 0) return "";
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return "";
  size_t pad = 0;
  for (size_t i = in.size(); i > 0 && in[i - 1] == '='; --i) ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

}  // namespace

std::string WebDriver::MissingBrowser() {
  std::string missing;
  for (const char* bin : {kChromium, kChromedriver}) {
    if (access(bin, X_OK) != 0) missing += std::string(missing.empty() ? "" : ", ") + bin;
  }
  return missing;
}

std::unique_ptr<WebDriver> WebDriver::Start(const std::string& work_dir, std::string* error) {
  std::unique_ptr<WebDriver> d(new WebDriver());
  std::filesystem::create_directories(work_dir + "/profile");
  d->port_ = FreeLoopbackPort();
  d->log_ = work_dir + "/chromedriver.log";
  const std::string port = "--port=" + std::to_string(d->port_);
  const std::string log = "--log-path=" + d->log_;
  pid_t pid = fork();
  if (pid < 0) {
    *error = "fork failed";
    return nullptr;
  }
  if (pid == 0) {
    setpgid(0, 0);  // its own group: chromedriver and the browser it starts are stopped together
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
    }
    execl(kChromedriver, kChromedriver, port.c_str(), log.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  d->pid_ = pid;
  if (!WaitFor([&] {
        Json status = d->Call("GET", "/status");
        return status.is_object() && status.value("ready", false);
      }, 20)) {
    *error = "chromedriver did not become ready: " + d->error_;
    return nullptr;
  }
  Json caps = {{"capabilities",
                {{"alwaysMatch",
                  {{"browserName", "chrome"},
                   {"goog:chromeOptions",
                    {{"binary", kChromium},
                     // Root in a container: no sandbox; no GPU; /dev/shm may be small.
                     {"args",
                      {"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                       "--window-size=1400,900", "--no-first-run", "--user-data-dir=" + work_dir + "/profile"}}}}}}}}};
  Json session = d->Call("POST", "/session", caps);
  if (!session.is_object() || !session.contains("sessionId")) {
    *error = "cannot start a Chromium session: " + d->error_ + "\n" + d->DriverLog();
    return nullptr;
  }
  d->session_ = session["sessionId"].get<std::string>();
  return d;
}

WebDriver::~WebDriver() {
  if (!session_.empty()) Call("DELETE", "/session/" + session_);  // Chromium exits
  if (pid_ > 0) {
    kill(-pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && waitpid(pid_, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (i == 99) {
        kill(-pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      }
    }
  }
}

Json WebDriver::Call(const std::string& method, const std::string& path, const Json& body) {
  error_.clear();
  CURL* c = curl_easy_init();
  if (!c) {
    error_ = "curl_easy_init failed";
    return nullptr;
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(port_) + path;
  const std::string payload = body.is_null() ? "" : body.dump();
  std::string answer;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json; charset=utf-8");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  if (method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
  }
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK) {
    error_ = method + " " + path + ": " + curl_easy_strerror(rc);
    return nullptr;
  }
  Json doc = Json::parse(answer, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    error_ = method + " " + path + ": HTTP " + std::to_string(status) + ": not JSON: " + answer.substr(0, 300);
    return nullptr;
  }
  Json value = doc.contains("value") ? doc["value"] : Json();
  if (status != 200) {
    error_ = method + " " + path + ": HTTP " + std::to_string(status) + ": " +
             (value.is_object() ? value.value("error", "") + ": " + value.value("message", "") : answer);
    return nullptr;
  }
  // Commands without a result answer {"value": null}; tell that from an error.
  return value.is_null() ? Json::object() : value;
}

bool WebDriver::Navigate(const std::string& url) {
  return !Call("POST", "/session/" + session_ + "/url", {{"url", url}}).is_null();
}

std::string WebDriver::Find(const std::string& css) {
  Json v = Call("POST", "/session/" + session_ + "/elements", {{"using", "css selector"}, {"value", css}});
  if (!v.is_array() || v.empty()) return "";
  return v[0].value(kElementKey, "");
}

bool WebDriver::Click(const std::string& element) {
  return !Call("POST", "/session/" + session_ + "/element/" + element + "/click", Json::object()).is_null();
}

bool WebDriver::Type(const std::string& element, const std::string& text) {
  return !Call("POST", "/session/" + session_ + "/element/" + element + "/value", {{"text", text}}).is_null();
}

std::string WebDriver::Text(const std::string& element) {
  Json v = Call("GET", "/session/" + session_ + "/element/" + element + "/text");
  return v.is_string() ? v.get<std::string>() : "";
}

Json WebDriver::Script(const std::string& script, const Json& args) {
  Json v = Call("POST", "/session/" + session_ + "/execute/sync", {{"script", script}, {"args", args}});
  // Call() maps a null result to {}; a script returning nothing reads as null.
  return v.is_object() && v.empty() ? Json() : v;
}

bool WebDriver::Screenshot(const std::string& path) {
  Json v = Call("GET", "/session/" + session_ + "/screenshot");
  if (!v.is_string()) return false;
  const std::string png = DecodeBase64(v.get<std::string>());
  if (png.size() < 8 || png.compare(1, 3, "PNG") != 0) {
    error_ = "screenshot: not a PNG";
    return false;
  }
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  WriteFile(path, png);
  return true;
}

std::string WebDriver::DriverLog() const { return ReadFile(log_); }

}  // namespace stackctl::testing
