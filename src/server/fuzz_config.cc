// libFuzzer target: the configuration parser and the webhook payload parser
// must turn any input into a value or an error, never crash or hang.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/config.h"
#include "server/webhook.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)stackctl::server::ParseConfig(text, "/etc/stackctld");
  (void)stackctl::server::ParseDuration(text);
  stackctl::server::HeaderFn headers = [](const std::string& name) -> std::string {
    if (name == "X-GitHub-Event" || name == "X-Gitea-Event" || name == "X-Event") return "push";
    if (name == "X-Gitlab-Event") return "Push Hook";
    return "";
  };
  for (auto p : {stackctl::server::Provider::kGitHub, stackctl::server::Provider::kGitLab,
                 stackctl::server::Provider::kGitea, stackctl::server::Provider::kGeneric}) {
    (void)stackctl::server::ParseWebhook(p, headers, text);
  }
  return 0;
}
