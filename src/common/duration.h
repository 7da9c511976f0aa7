// The one duration grammar of stackctl: Go's time.ParseDuration, the grammar
// of Compose files (healthcheck intervals, stop_grace_period, update_config
// delays), used as well for the stackctld configuration file, CLI flags and
// the API's ?timeout=. "1h2m3.5s", "300ms", "1.5s", "0"; units ns, us (µs),
// ms, s, m, h; an optional sign.
//
// Thread safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace stackctl {

// Nanoseconds of `text`; false when it is not a Go duration or overflows.
bool ParseGoDuration(const std::string& text, int64_t* nanos);

// A non-negative duration, sub-millisecond parts dropped; InvalidArgument
// `invalid duration "TEXT"` otherwise (for settings: timeouts, intervals).
Result<std::chrono::milliseconds> ParseDurationMs(const std::string& text);

}  // namespace stackctl
