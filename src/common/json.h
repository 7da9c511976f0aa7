// Canonical JSON and JSON parsing that reports errors as Status.
//
// Canonical form: object keys sorted (nlohmann's default std::map ordering is
// byte order), no insignificant whitespace, numbers as nlohmann dumps them.
// Spec hashes are SHA-256 over this form, so equal specs hash equal no matter
// how they were built. (TUF's canonical JSON has its own rules: src/notary.)
//
// Thread safety: pure functions.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace stackctl {

using Json = nlohmann::json;

std::string CanonicalJson(const Json& j);
std::string CanonicalHash(const Json& j);  // sha256 hex of CanonicalJson
// Parses text; on error the message names `what` and the byte offset.
Result<Json> ParseJson(std::string_view text, std::string_view what);
// Parses a JSON array and hands each element to `each` as soon as it is
// complete, moved out, so the whole array's DOM never exists at once (a
// list of 1,000 services is several MB as a DOM). Errors name `what`: invalid
// JSON as ParseJson, a top level that is not an array, an exception thrown
// by `each`.
Status ParseJsonArray(std::string_view text, std::string_view what,
                      const std::function<void(Json&&)>& each);

}  // namespace stackctl
