#include "common/json.h"

#include "common/crypto.h"

namespace stackctl {

std::string CanonicalJson(const Json& j) {
  // nlohmann::json objects are std::map-backed: keys already sorted bytewise.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string CanonicalHash(const Json& j) { return Sha256Hex(CanonicalJson(j)); }

void WriteCanonicalJson(const Json& j, const std::function<void(std::string_view)>& out) {
  switch (j.type()) {
    case Json::value_t::object: {
      out("{");
      bool first = true;
      for (const auto& [key, value] : j.items()) {
        if (!first) out(",");
        first = false;
        out(CanonicalJson(Json(key)));
        out(":");
        WriteCanonicalJson(value, out);
      }
      out("}");
      return;
    }
    case Json::value_t::array: {
      out("[");
      for (size_t i = 0; i < j.size(); ++i) {
        if (i > 0) out(",");
        WriteCanonicalJson(j[i], out);
      }
      out("]");
      return;
    }
    case Json::value_t::binary:
      out(CanonicalJson(Json::from_cbor(j.get_binary())));
      return;
    default:
      out(CanonicalJson(j));
  }
}

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

JsonArrayStream::JsonArrayStream(std::string_view what, std::function<void(Json&&)> each)
    : what_(what), each_(std::move(each)) {}

void JsonArrayStream::Fail(std::string why) {
  if (status_.ok()) status_ = InvalidArgument(what_ + ": " + why);
}

void JsonArrayStream::EndElement() {
  auto element = ParseJson(element_, "element " + std::to_string(index_));
  element_.clear();
  if (!element.ok()) return Fail(element.status().message());
  try {
    each_(std::move(*element));
  } catch (const Json::exception& e) {
    return Fail("element " + std::to_string(index_) + ": " + e.what());
  }
  ++index_;
  state_ = State::kAfterElement;
}

bool JsonArrayStream::Feed(std::string_view data) {
  for (size_t i = 0; i < data.size() && status_.ok(); ++i, ++offset_) {
    char c = data[i];
    bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    switch (state_) {
      case State::kBeforeArray:
        if (space) continue;
        if (c != '[') {
          Fail("expected a JSON array, got '" + std::string(1, c) + "' at byte " + std::to_string(offset_));
          break;
        }
        state_ = State::kBeforeElement;
        continue;
      case State::kBeforeElement:
      case State::kAfterElement:
        if (space) continue;
        if (c == ']') {
          state_ = State::kAfterArray;
          continue;
        }
        if (state_ == State::kAfterElement) {
          if (c != ',') Fail("expected ',' or ']' at byte " + std::to_string(offset_));
          state_ = State::kBeforeElement;
          continue;
        }
        if (c == ',') {
          Fail("unexpected ',' at byte " + std::to_string(offset_));
          break;
        }
        state_ = State::kInElement;
        depth_ = 0;
        [[fallthrough]];
      case State::kInElement:
        if (in_string_) {
          element_.push_back(c);
          if (escaped_) {
            escaped_ = false;
          } else if (c == '\\') {
            escaped_ = true;
          } else if (c == '"') {
            in_string_ = false;
            if (depth_ == 0) EndElement();  // a string element
          }
          continue;
        }
        if (depth_ == 0 && !element_.empty() && (space || c == ',' || c == ']')) {
          EndElement();  // a number or literal ends where the next token starts
          --i, --offset_;  // and that token is read again, between elements
          continue;
        }
        element_.push_back(c);
        if (c == '"') {
          in_string_ = true;
        } else if (c == '{' || c == '[') {
          ++depth_;
        } else if (c == '}' || c == ']') {
          if (--depth_ == 0) EndElement();
          if (depth_ < 0) Fail("unexpected '" + std::string(1, c) + "' at byte " + std::to_string(offset_));
        }
        continue;
      case State::kAfterArray:
        if (!space) Fail("unexpected text after the array at byte " + std::to_string(offset_));
        continue;
    }
  }
  return status_.ok();
}

Status JsonArrayStream::Finish() {
  if (!status_.ok()) return status_;
  if (state_ == State::kInElement && depth_ == 0 && !in_string_) EndElement();  // "[1" ends early anyway
  if (state_ == State::kBeforeArray) Fail("expected a JSON array, got no text");
  if (status_.ok() && state_ != State::kAfterArray) {
    Fail("the array ends early, at byte " + std::to_string(offset_));
  }
  return status_;
}

PackedJson::PackedJson(const Json& value) {
  if (value.is_null()) return;
  // to_cbor grows its vector by doubling, copying it each time, and up to
  // half of it would be spare capacity, kept for as long as the value is. A
  // buffer that keeps its capacity between calls does the growing; the bytes
  // are copied out once, at their size.
  thread_local std::vector<std::uint8_t> scratch;
  scratch.clear();
  Json::to_cbor(value, scratch);
  bytes_.assign(scratch.begin(), scratch.end());
  if (scratch.capacity() > kMaxScratchBytes) std::vector<std::uint8_t>().swap(scratch);
}

Json PackedJson::TakeAsBinary() {
  if (bytes_.empty()) return Json();
  Json node = Json::binary(std::move(bytes_));
  bytes_.clear();
  return node;
}

PackedJson PackedJson::FromNode(Json&& node) {
  if (!node.is_binary()) return PackedJson(node);
  PackedJson packed;
  packed.bytes_ = std::move(node.get_binary());
  node = Json();
  return packed;
}

Json PackedJson::UnpackNode(const Json& node) {
  return node.is_binary() ? Json::from_cbor(node.get_binary()) : node;
}

Json PackedJson::Unpack() const {
  // The bytes came from to_cbor: they always parse.
  return bytes_.empty() ? Json() : Json::from_cbor(bytes_);
}

}  // namespace stackctl
