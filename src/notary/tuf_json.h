// TUF metadata encoding helpers: the canonical JSON that Notary/TUF signatures
// cover, the signed envelope, and RFC 3339 times.
//
// Canonical form (docker/go canonical/json, NOTARY.md §5.1): compact, object
// keys sorted byte-wise, integers only (an integral float prints as an
// integer, anything else is an error), strings escape only `"` and `\` and
// carry every other byte raw. This is NOT common/json.h's CanonicalJson.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"

namespace stackctl::notary {

// Encodes `j` in TUF canonical form; InvalidArgument for non-integral numbers.
Result<std::string> TufCanonical(const Json& j);

// A parsed metadata file: {"signed": {...}, "signatures": [...]} plus the raw
// bytes it came from (hashes in timestamp/snapshot meta cover the raw bytes).
struct Envelope {
  std::string raw;
  Json signed_part;  // object
  Json signatures;   // array
};

// Parses `raw`; `what` names the file in errors ("GUN: timestamp").
Result<Envelope> ParseEnvelope(std::string raw, std::string_view what);

// Parses an RFC 3339 date-time ("2026-12-06T13:04:57.393454644Z", offsets allowed).
Result<Clock::TimePoint> ParseRfc3339(std::string_view s);
// Formats as "2026-12-06T13:04:57Z" (seconds precision, UTC).
std::string FormatRfc3339(Clock::TimePoint t);

}  // namespace stackctl::notary
