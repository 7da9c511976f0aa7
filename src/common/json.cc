#include "common/json.h"

#include "common/crypto.h"

namespace stackctl {

std::string CanonicalJson(const Json& j) {
  // nlohmann::json objects are std::map-backed: keys already sorted bytewise.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string CanonicalHash(const Json& j) { return Sha256Hex(CanonicalJson(j)); }

Result<Json> ParseJson(std::string_view text, std::string_view what) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    return InvalidArgument(std::string(what) + ": invalid JSON at byte " +
                           std::to_string(e.byte) + ": " + e.what());
  } catch (const Json::exception& e) {
    // Not only syntax: a number too large for any JSON number type is
    // out_of_range.406, thrown by the same parse.
    return InvalidArgument(std::string(what) + ": invalid JSON: " + e.what());
  }
}

}  // namespace stackctl
