#include "common/json.h"

#include <algorithm>
#include <charconv>

#include "common/crypto.h"

namespace stackctl {

std::string CanonicalJson(const Json& j) {
  // nlohmann::json objects are std::map-backed: keys already sorted bytewise.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string CanonicalHash(const Json& j) { return Sha256Hex(CanonicalJson(j)); }

namespace {

// Writes JSON text from nlohmann's SAX events, so that a packed value is
// written straight from its CBOR bytes (Json::sax_parse), with no DOM. A DOM
// is written by replaying it as the same events (Emit). Scalars and keys are
// formatted by nlohmann itself, so the text is the text of Json::dump.
class JsonTextWriter {
 public:
  JsonTextWriter(int indent, const std::function<void(std::string_view)>& out)
      : indent_(indent), out_(out) {}

  void Emit(const Json& j) {
    switch (j.type()) {
      case Json::value_t::object:
        start_object(j.size());
        for (const auto& [k, v] : j.items()) {
          Key(k);
          Emit(v);
        }
        end_object();
        return;
      case Json::value_t::array:
        start_array(j.size());
        for (const auto& v : j) Emit(v);
        end_array();
        return;
      case Json::value_t::binary:
        WritePacked(j.get_binary());
        return;
      default:
        Scalar(j);
    }
  }

  // The SAX interface (nlohmann::json_sax).
  bool null() { return Literal("null"); }
  bool boolean(bool v) { return Literal(v ? "true" : "false"); }
  bool number_integer(Json::number_integer_t v) { return Integer(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return Integer(v); }
  bool number_float(Json::number_float_t v, const std::string&) { return Scalar(Json(v)); }
  bool string(std::string& v) {
    BeforeValue();
    Quoted(v);
    return true;
  }
  bool binary(Json::binary_t& v) {
    WritePacked(v);
    return true;
  }
  bool start_object(std::size_t) { return Open("{"); }
  bool key(std::string& k) {
    Key(k);
    return true;
  }
  bool end_object() { return Close("}"); }
  bool start_array(std::size_t) { return Open("["); }
  bool end_array() { return Close("]"); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    throw e;  // bytes PackedJson made always parse; anything else is a bug
  }

 private:
  struct Level {
    bool array;
    size_t written = 0;  // members (of an object) or elements so far
  };

  // Before a member's key or an element: its separator and line.
  void NextItem() {
    Level& l = levels_.back();
    if (l.written++ > 0) out_(",");
    if (indent_ >= 0) {
      out_("\n");
      out_(std::string(static_cast<size_t>(indent_) * levels_.size(), ' '));
    }
  }
  void BeforeValue() {
    if (!levels_.empty() && levels_.back().array) NextItem();
  }
  void Key(const std::string& k) {
    NextItem();
    Quoted(k);
    out_(indent_ >= 0 ? ": " : ":");
  }
  // Most strings need no escaping: those are quoted here, the rest (and
  // every other scalar but integers and literals) formatted by nlohmann.
  void Quoted(const std::string& v) {
    const bool plain = std::all_of(v.begin(), v.end(), [](char c) {
      return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
    });
    if (!plain) {
      out_(Json(v).dump(-1, ' ', false, Json::error_handler_t::replace));
      return;
    }
    out_("\"");
    out_(v);
    out_("\"");
  }
  template <typename Int>
  bool Integer(Int v) {
    BeforeValue();
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, v).ptr;
    out_(std::string_view(digits, static_cast<size_t>(end - digits)));
    return true;
  }
  bool Literal(std::string_view text) {
    BeforeValue();
    out_(text);
    return true;
  }
  bool Scalar(const Json& v) {
    switch (v.type()) {
      case Json::value_t::null:
        return null();
      case Json::value_t::boolean:
        return boolean(v.get<bool>());
      case Json::value_t::number_integer:
        return Integer(v.get<Json::number_integer_t>());
      case Json::value_t::number_unsigned:
        return Integer(v.get<Json::number_unsigned_t>());
      case Json::value_t::string:
        BeforeValue();
        Quoted(v.get_ref<const std::string&>());
        return true;
      default:
        BeforeValue();
        out_(v.dump(-1, ' ', false, Json::error_handler_t::replace));
        return true;
    }
  }
  bool Open(const char* bracket) {
    BeforeValue();
    out_(bracket);
    levels_.push_back(Level{*bracket == '['});
    return true;
  }
  bool Close(const char* bracket) {
    const bool empty = levels_.back().written == 0;
    levels_.pop_back();
    if (!empty && indent_ >= 0) {  // dump writes "{}" and "[]" on one line
      out_("\n");
      out_(std::string(static_cast<size_t>(indent_) * levels_.size(), ' '));
    }
    out_(bracket);
    return true;
  }
  void WritePacked(const Json::binary_t& bytes) {
    Json::sax_parse(bytes.begin(), bytes.end(), this, Json::input_format_t::cbor);
  }

  const int indent_;
  const std::function<void(std::string_view)>& out_;
  std::vector<Level> levels_;
};

}  // namespace

void WriteJson(const Json& j, int indent, const std::function<void(std::string_view)>& out) {
  JsonTextWriter(indent, out).Emit(j);
}

void WriteCanonicalJson(const Json& j, const std::function<void(std::string_view)>& out) {
  WriteJson(j, -1, out);
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
    if (state_ == State::kInElement && in_string_ && !escaped_) {
      // Most of a list is string content: copied a run at a time, up to the
      // next quote or backslash, which the state machine below then reads.
      size_t end = i;
      while (end < data.size() && data[end] != '"' && data[end] != '\\') ++end;
      element_.append(data.data() + i, end - i);
      offset_ += end - i;
      i = end;
      if (i == data.size()) break;
    }
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
