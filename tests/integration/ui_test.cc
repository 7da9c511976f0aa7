// The dashboard in a real browser: headless Chromium, driven over WebDriver
// (webdriver.h), against a real stackctld deploying a file:// Git repository
// to the test-bed swarm. Screenshots of every step go to
// <build>/ui-screenshots/ (CI keeps them as artefacts).
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "integration/testbed.h"
#include "integration/webdriver.h"

namespace stackctl::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr char kToken[] = "ui-t0ken";
// Shown as text, never run: the page would set window.__xss.
constexpr char kHostileMessage[] = "web: level 2 <script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\"> & \"q\"";

class DashboardE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTBED(tb_);
    if (std::string missing = WebDriver::MissingBrowser(); !missing.empty()) {
      if (::stackctl::testing::Env("CI") == "true") FAIL() << "the dashboard test needs " << missing << " (scripts/install-deps.sh)";
      GTEST_SKIP() << "not installed: " << missing << " (scripts/install-deps.sh)";
    }
    dir_ = fs::temp_directory_path() / ("stackctld-ui-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "repo" / "app");
    port_ = FreeLoopbackPort();
    stack_ = "ui" + std::to_string(getpid() % 100000);
    Write("api-token", kToken);
    // A cosign key nothing was signed with: under a warn rule the bed's
    // image deploys with the registry digest and the verdict "warned".
    std::string out;
    ASSERT_EQ(RunCommand("cd " + dir_.string() + " && openssl ecparam -name prime256v1 -genkey -noout -out release.key"
                         " && openssl ec -in release.key -pubout -out release.pub", &out), 0) << out;
    WriteApp("1");
    first_ = Git("init -q -b main && git add -A && git commit -qm 'web: first'");
    Write("stackctld.yml",
          "engine: {host: \"" + tb_.docker_host + "\"}\n"
          "state_dir: " + (dir_ / "state").string() + "\n"
          "http: {listen: \"127.0.0.1:" + std::to_string(port_) + "\", api_token_file: api-token}\n"
          "repositories:\n"
          "  - {name: repo, url: \"file://" + (dir_ / "repo").string() + "\", branch: main, poll_interval: 1h}\n"
          "defaults:\n"
          "  timeout: 2m\n"
          "  image_trust:\n"
          "    rules:\n"
          "      - {images: \"" + tb_.registry + "/*\", policy: warn, signatures: [cosign], cosign_keys: [\"" +
              (dir_ / "release.pub").string() + "\"]}\n"
          "stacks:\n"
          "  - {name: " + stack_ + ", repository: repo, path: app}\n");
    ctl_ = std::make_unique<Stackctld>(tb_, dir_.string(), port_, kToken);
    ASSERT_TRUE(ctl_->Start()) << ctl_->Log();
    std::string error;
    browser_ = WebDriver::Start((dir_ / "browser").string(), &error);
    ASSERT_TRUE(browser_) << error;
  }
  void TearDown() override {
    if (tb_.docker_host.empty()) return;
    browser_.reset();
    ctl_.reset();
    std::string out;
    RunCommand("DOCKER_HOST=" + tb_.docker_host + " " + tb_.bin_dir + "/stackctl rm " + stack_, &out);
    fs::remove_all(dir_);
  }
  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories((dir_ / rel).parent_path());
    std::ofstream(dir_ / rel) << text;
  }
  void WriteApp(const std::string& level) {
    Write("repo/app/docker-compose.yml", "version: \"3.8\"\nservices:\n  web:\n    image: " + tb_.image +
                                             "\n    command: [\"sleep\", \"3600\"]\n    environment:\n      LEVEL: \"" +
                                             level + "\"\n");
  }
  // Records every text #operation and #rollout show from now on (they are
  // re-created on each refresh of the stack page, so the whole view is
  // watched); a #rollout text is recorded as "rollout: TEXT".
  void RecordOperationTexts() {
    browser_->Script(
        "window.__opTexts = [];"
        "new MutationObserver(() => { const e = document.getElementById('operation');"
        "  if (e) window.__opTexts.push(e.textContent);"
        "  const r = document.getElementById('rollout');"
        "  if (r) window.__opTexts.push('rollout: ' + r.textContent); })"
        ".observe(document.getElementById('view'), {subtree: true, childList: true, characterData: true});");
  }
  std::string OperationTexts() {
    Json v = browser_->Script("return (window.__opTexts || []).join('\\n');");
    return v.is_string() ? v.get<std::string>() : "";
  }
  std::string Git(const std::string& cmd) { return GitInRepo((dir_ / "repo").string(), cmd, "Ann Op", "ann@example.com"); }
  std::string Url(const std::string& fragment = "") {
    return "http://127.0.0.1:" + std::to_string(port_) + "/" + fragment;
  }
  // The text of the first element matching `css`, "" when there is none.
  std::string TextOf(const std::string& css) {
    Json v = browser_->Script("const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", {css});
    return v.is_string() ? v.get<std::string>() : "";
  }
  int Count(const std::string& css) {
    Json v = browser_->Script("return document.querySelectorAll(arguments[0]).length;", {css});
    return v.is_number() ? v.get<int>() : -1;
  }
  // The operation the page follows, once it is another than `before` and has ended.
  bool WaitOperationEnd(const std::string& before, const std::string& end) {
    return WaitFor([&] {
      const std::string now = TextOf("#operation");
      return now != before && now.find(": " + end) != std::string::npos;
    }, 90);
  }
  bool WaitText(const std::string& css, const std::string& part, int seconds = 30) {
    return WaitFor([&] { return TextOf(css).find(part) != std::string::npos; }, seconds);
  }
  bool ClickOn(const std::string& css) {
    const std::string e = browser_->Find(css);
    return !e.empty() && browser_->Click(e);
  }
  void Shot(const std::string& name) {
    const std::string path = std::string(STACKCTL_UI_SCREENSHOT_DIR) + "/" + name + ".png";
    EXPECT_TRUE(browser_->Screenshot(path)) << browser_->LastError();
  }
  std::string Env() {
    return tb_.Docker("service inspect " + stack_ + "_web --format '{{json .Spec.TaskTemplate.ContainerSpec.Env}}'");
  }
  std::string Page() {
    Json v = browser_->Script("return document.documentElement.outerHTML;");
    return v.is_string() ? v.get<std::string>() : "";
  }

  Testbed tb_;
  fs::path dir_;
  int port_ = 0;
  std::string stack_, first_;
  std::unique_ptr<Stackctld> ctl_;
  std::unique_ptr<WebDriver> browser_;
};

TEST_F(DashboardE2E, ListStackPageSyncRollbackAndEscaping) {
  ASSERT_TRUE(WaitFor([&] { return ctl_->Stack(stack_).value("sync", "") == "Synced"; }, 90))
      << ctl_->Stack(stack_).dump() << ctl_->Log();

  // No token, no anonymous_read: the page asks for the token and holds no stack data.
  EXPECT_EQ(ctl_->Http("GET", "/api/v1/stacks", "").first, 401);
  ASSERT_TRUE(browser_->Navigate(Url())) << browser_->LastError();
  ASSERT_TRUE(WaitFor([&] { return Count("#need-token") == 1; }, 20)) << Page();
  EXPECT_EQ(browser_->Script("return document.getElementById('token-form').hidden;"), false);
  EXPECT_EQ(Count("tr.stack"), 0);
  EXPECT_EQ(Page().find(stack_), std::string::npos) << Page();
  EXPECT_THAT(TextOf("#status"), HasSubstr("Token required."));
  Shot("01-token-required");

  // The token, typed once: the list shows the stack, its commit and state.
  ASSERT_TRUE(browser_->Type(browser_->Find("#token-input"), kToken)) << browser_->LastError();
  ASSERT_TRUE(ClickOn("#token-save")) << browser_->LastError();
  const std::string row = "tr.stack[data-stack='" + stack_ + "']";
  ASSERT_TRUE(WaitText(row + " td.sync", "Synced")) << Page();
  EXPECT_EQ(TextOf(row + " td.name"), stack_);
  EXPECT_EQ(TextOf(row + " td.health"), "healthy");
  EXPECT_THAT(TextOf(row + " td.revision"), HasSubstr(first_.substr(0, 12)));
  EXPECT_EQ(TextOf(row + " td.revision .summary"), "web: first");
  EXPECT_EQ(TextOf(row + " td.revision .author"), "Ann Op");
  EXPECT_THAT(TextOf(row + " td.repo"), HasSubstr("repo"));
  EXPECT_THAT(TextOf(row + " td.last"), HasSubstr("succeeded"));
  // Kept in this tab's session storage, never in the URL.
  EXPECT_EQ(browser_->Script("return sessionStorage.getItem('stackctl.token');"), std::string(kToken));
  EXPECT_EQ(browser_->Script("return location.href;"), Url());
  // The filter by state.
  browser_->Script("const f = document.getElementById('filter'); f.value = 'Failed'; f.dispatchEvent(new Event('change'));");
  ASSERT_TRUE(WaitFor([&] { return Count("tr.stack") == 0; }, 10)) << Page();
  browser_->Script("const f = document.getElementById('filter'); f.value = 'Synced'; f.dispatchEvent(new Event('change'));");
  ASSERT_TRUE(WaitFor([&] { return Count(row) == 1; }, 10)) << Page();
  Shot("02-stacks");
  browser_->Script("const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('change'));");

  // A new commit whose message is hostile HTML; polling every hour, so
  // only the dashboard's Sync deploys it.
  WriteApp("2");
  const std::string second = Git("commit -qam '" + std::string(kHostileMessage) + "'");

  // The stack page: services and history.
  ASSERT_TRUE(ClickOn(row + " td.name a")) << browser_->LastError();
  ASSERT_TRUE(WaitText("#stack-name", stack_)) << Page();
  const std::string svc = "#services tr.service[data-service='" + stack_ + "_web']";
  ASSERT_TRUE(WaitText(svc + " td.replicas", "1/1")) << Page();
  EXPECT_THAT(TextOf(svc), HasSubstr("replicated"));
  EXPECT_EQ(TextOf(svc + " td.image"), tb_.image);
  EXPECT_EQ(TextOf(svc + " td.digest").substr(0, 15), tb_.image_digest.substr(0, 15));
  // The image verdict of the last deploy: no signature by the rule's key,
  // deployed under "warn" with the registry digest.
  EXPECT_EQ(Count(svc + " td.signature[data-verdict='warned']"), 1) << Page();
  EXPECT_EQ(TextOf(svc + " td.signature .badge"), "warned");
  EXPECT_THAT(TextOf(svc + " td.signature .detail"), HasSubstr("not trust-verified ("));
  EXPECT_THAT(TextOf(svc + " td.signature .detail"), HasSubstr("using the registry digest"));
  const Json api_services = ctl_->Stack(stack_)["services"];
  ASSERT_EQ(api_services.size(), 1u) << api_services.dump();
  EXPECT_EQ(api_services[0]["signature"]["verdict"], "warned");
  EXPECT_EQ(api_services[0]["signature"]["digest"], tb_.image_digest);
  EXPECT_EQ(api_services[0]["signature"]["image"], tb_.image);
  ASSERT_EQ(Count("#history tr.record"), 1) << Page();
  EXPECT_THAT(TextOf("#history tr.record"), HasSubstr(first_.substr(0, 12)));
  EXPECT_THAT(TextOf("#history tr.record"), HasSubstr("succeeded"));
  EXPECT_EQ(TextOf("#pending"), "None.");
  Shot("03-stack");

  // Sync, confirmed: the operation is followed to its end, the new revision shown.
  std::string before;
  ASSERT_TRUE(ClickOn("#sync")) << browser_->LastError();
  ASSERT_TRUE(WaitFor([&] { return browser_->Script("return document.getElementById('confirm').open;") == true; }, 10));
  EXPECT_THAT(TextOf("#confirm-text"), HasSubstr("Sync stack " + stack_));
  before = TextOf("#operation");
  RecordOperationTexts();
  ASSERT_TRUE(ClickOn("#confirm-yes")) << browser_->LastError();
  ASSERT_TRUE(WaitOperationEnd(before, "succeeded")) << TextOf("#operation") << ctl_->Log();
  EXPECT_THAT(TextOf("#operation"), HasSubstr(second.substr(0, 12)));
  // While it ran, the page showed its rollout: the one wave, its service
  // not converged yet (a swarm update takes its 5 s monitor period at least,
  // the page asks every second).
  EXPECT_THAT(OperationTexts(), HasSubstr(": running — wave 1 of 1 (" + stack_ + "_web): 0/1 converged"));
  // ... and the stack's own rollout section, shown for any trigger.
  EXPECT_THAT(OperationTexts(), HasSubstr("rollout:  wave 1 of 1 (" + stack_ + "_web): 0/1 converged"));
  EXPECT_TRUE(WaitFor([&] { return Count("#rollout") == 0; }, 10)) << Page();  // gone once it ended
  // The finished operation keeps its last wave.
  const std::string op_id = TextOf("#operation").substr(0, TextOf("#operation").find(':'));
  auto [op_status, op_body] = ctl_->Api("GET", "/api/v1/operations/" + op_id, "");
  ASSERT_EQ(op_status, 200) << op_body;
  EXPECT_EQ(Json::parse(op_body)["progress"],
            (Json{{"wave", 1}, {"waves", 1}, {"services", {stack_ + "_web"}}, {"converged", 1}, {"total", 1}}));
  ASSERT_TRUE(WaitText(".facts td.revision", second.substr(0, 12))) << Page();
  EXPECT_THAT(Env(), HasSubstr("LEVEL=2"));
  ASSERT_TRUE(WaitFor([&] { return Count("#history tr.record") == 2; }, 10)) << Page();
  // The message is text: shown verbatim, no element made of it, nothing ran.
  const std::string subject = kHostileMessage;  // git keeps the one-line subject as is
  EXPECT_EQ(TextOf(".facts td.revision .summary"), subject);
  EXPECT_EQ(Count(".summary *"), 0);
  EXPECT_EQ(Count("img"), 0);
  EXPECT_EQ(browser_->Script("return window.__xss === undefined;"), true);
  Shot("04-synced");

  // Roll back to the first record, confirmed: the first commit's specs run
  // again and the stack is pinned there.
  ASSERT_TRUE(ClickOn("#history tr.record[data-seq='1'] button.rollback")) << Page();
  ASSERT_TRUE(WaitFor([&] { return browser_->Script("return document.getElementById('confirm').open;") == true; }, 10));
  EXPECT_THAT(TextOf("#confirm-text"), HasSubstr("back to record 1"));
  before = TextOf("#operation");
  ASSERT_TRUE(ClickOn("#confirm-yes")) << browser_->LastError();
  ASSERT_TRUE(WaitOperationEnd(before, "succeeded")) << TextOf("#operation") << ctl_->Log();
  EXPECT_THAT(Env(), HasSubstr("LEVEL=1"));
  ASSERT_TRUE(WaitText(".toolbar .badge.sync", "Pinned")) << Page();
  // The API's list says the same (one sync state for both views).
  const Json listed = Json::parse(ctl_->Api("GET", "/api/v1/stacks", "").second, nullptr, false);
  ASSERT_EQ(listed["stacks"].size(), 1u) << listed.dump();
  EXPECT_EQ(listed["stacks"][0]["sync"], "Pinned");
  ASSERT_TRUE(WaitFor([&] { return Count("#history tr.record") == 3; }, 10)) << Page();
  EXPECT_EQ(Count("#resume"), 1);
  Shot("05-rolled-back");

  // Back to the list: the revision the stack was rolled back to (record 1's
  // commit) and its message there too, and the pinned state the stack's page
  // shows.
  ASSERT_TRUE(ClickOn("#home")) << browser_->LastError();
  ASSERT_TRUE(WaitText(row + " td.revision", first_.substr(0, 12))) << Page();
  EXPECT_EQ(TextOf(row + " td.sync"), "Pinned");
  EXPECT_EQ(TextOf(row + " td.revision .summary"), "web: first");
  EXPECT_EQ(browser_->Script("return window.__xss === undefined;"), true);
  Shot("06-stacks");

  // Forgetting the token empties the page again.
  ASSERT_TRUE(ClickOn("#token-forget")) << browser_->LastError();
  ASSERT_TRUE(WaitFor([&] { return Count("#need-token") == 1 && Count("tr.stack") == 0; }, 10)) << Page();
  EXPECT_EQ(browser_->Script("return sessionStorage.getItem('stackctl.token');"), nullptr);
}

}  // namespace
}  // namespace stackctl::testing
