// libFuzzer target over the stackctld configuration parser (config/config.h):
// YAML parsing, strict key checking, durations, references between stacks and
// repositories. Byte 0 selects the mode: the raw input as a whole file, the
// input spliced into a valid configuration as the value of one key, or
// ParseDurationMs alone. Errors are expected; any crash, leak, UB or escaped
// yaml-cpp exception is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/duration.h"
#include "config/config.h"

namespace {

using namespace stackctl::config;

// A complete, valid configuration; "@@" is replaced by the fuzz input.
constexpr const char* kTemplates[] = {
    "repositories:\n  - {name: r, url: \"@@\", branch: main}\nstacks:\n  - {name: s, repository: r}\n",
    "repositories:\n  - {name: r, url: \"file:///srv/r\", poll_interval: @@}\n"
    "stacks:\n  - {name: s, repository: r}\n",
    "repositories:\n  - {name: r, url: \"file:///srv/r\"}\n"
    "stacks:\n  - name: s\n    repository: r\n    path: @@\n",
    "repositories:\n  - {name: r, url: \"file:///srv/r\"}\n"
    "stacks:\n  - {name: s, repository: r}\ndefaults: @@\n",
    "engine: {host: @@}\nrepositories: []\nstacks: []\n",
    "http: {listen: \"@@\", max_body_bytes: 1024}\nrepositories: []\nstacks: []\n",
    "repositories:\n  - {name: r, url: \"file:///srv/r\"}\n"
    "stacks:\n  - {name: s, repository: r, rollout: @@}\n",
};

std::string Fill(const std::string& tmpl, const std::string& value) {
  std::string out = tmpl;
  auto at = out.find("@@");
  out.replace(at, 2, value);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string in(reinterpret_cast<const char*>(data + 1), size - 1);
  constexpr size_t kN = sizeof kTemplates / sizeof kTemplates[0];
  const size_t mode = data[0] % (kN + 2);
  if (mode == kN) {
    (void)ParseConfig(in, "/nonexistent/fuzz");
  } else if (mode == kN + 1) {
    (void)stackctl::ParseDurationMs(in);
  } else {
    auto cfg = ParseConfig(Fill(kTemplates[mode], in), "/nonexistent/fuzz");
    // A parsed configuration always resolves its own references.
    if (cfg.ok()) {
      for (const auto& s : cfg->stacks) {
        if (!cfg->FindRepository(s.repository)) __builtin_trap();
      }
    }
  }
  return 0;
}
