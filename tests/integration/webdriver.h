// A small W3C WebDriver client for the dashboard's browser test: it starts
// Debian's chromedriver on a free loopback port, opens one headless Chromium
// session through it and speaks the WebDriver HTTP/JSON protocol with
// libcurl. Only what the test needs: navigate, find, click, type, read text,
// run a script, take a screenshot.
//
// Ownership: the WebDriver owns the chromedriver process and the session;
// the destructor ends the session (Chromium exits) and stops chromedriver.
// Thread safety: one thread at a time.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace stackctl::testing {

class WebDriver {
 public:
  // The chromium and chromedriver binaries, or "" when either is missing.
  static std::string MissingBrowser();
  // Starts chromedriver and a session; null with *error set when either
  // fails. `work_dir` holds Chromium's profile and chromedriver's log.
  static std::unique_ptr<WebDriver> Start(const std::string& work_dir, std::string* error);
  ~WebDriver();
  WebDriver(const WebDriver&) = delete;
  WebDriver& operator=(const WebDriver&) = delete;

  // Each call returns false (and records LastError()) when the driver
  // answers with an error.
  bool Navigate(const std::string& url);
  // The element id of the first match of a CSS selector, "" when none.
  std::string Find(const std::string& css);
  bool Click(const std::string& element);
  bool Type(const std::string& element, const std::string& text);
  // The element's rendered text, as a user sees it.
  std::string Text(const std::string& element);
  // Runs `script` (a function body; `arguments` holds `args`) in the page
  // and returns its value; null on error.
  nlohmann::json Script(const std::string& script, const nlohmann::json& args = nlohmann::json::array());
  // Saves a PNG of the window.
  bool Screenshot(const std::string& path);
  const std::string& LastError() const { return error_; }
  std::string DriverLog() const;

 private:
  WebDriver() = default;
  // One request to chromedriver; the "value" of its answer, or null with
  // error_ set.
  nlohmann::json Call(const std::string& method, const std::string& path,
                      const nlohmann::json& body = nullptr);

  int port_ = 0;
  pid_t pid_ = 0;
  std::string session_, log_, error_;
};

}  // namespace stackctl::testing
