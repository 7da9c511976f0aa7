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

Status ParseJsonArray(std::string_view text, std::string_view what,
                      const std::function<void(Json&&)>& each) {
  bool top_is_array = false;
  Status each_status;
  // Depths as nlohmann reports them: the top-level value is 0, so the
  // array's elements end (object_end, array_end or a scalar value) at 1.
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth == 0 && (event == Json::parse_event_t::array_start)) top_is_array = true;
    if (depth != 1 || !top_is_array || !each_status.ok()) return true;
    if (event != Json::parse_event_t::object_end && event != Json::parse_event_t::array_end &&
        event != Json::parse_event_t::value) {
      return true;
    }
    try {
      each(std::move(parsed));
    } catch (const Json::exception& e) {
      each_status = InvalidArgument(std::string(what) + ": " + e.what());
    }
    return false;  // handed over: not kept in the array
  };
  try {
    Json rest = Json::parse(text, callback);
    if (!top_is_array) {
      return InvalidArgument(std::string(what) + ": expected a JSON array, got " +
                             std::string(rest.type_name()));
    }
  } catch (const Json::parse_error& e) {
    return InvalidArgument(std::string(what) + ": invalid JSON at byte " +
                           std::to_string(e.byte) + ": " + e.what());
  } catch (const Json::exception& e) {
    return InvalidArgument(std::string(what) + ": invalid JSON: " + e.what());
  }
  return each_status;
}

}  // namespace stackctl
