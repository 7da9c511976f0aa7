// Logging setup: one named spdlog logger per module ("engine", "reconciler",
// "controller", ...), all sharing one sink configured once by main().
//
// Thread safety: Setup() is called once before threads start; Get() is safe
// from any thread (spdlog registry is synchronized).
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace stackctl::log {

enum class Format { kText, kJson };

// level: trace|debug|info|warn|error|off. Logs go to stderr.
void Setup(const std::string& level, Format format);
// Returns the module's logger, creating it on first use with the shared sink.
std::shared_ptr<spdlog::logger> Get(const std::string& module);

}  // namespace stackctl::log
