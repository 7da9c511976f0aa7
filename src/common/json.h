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
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace stackctl {

using Json = nlohmann::json;

std::string CanonicalJson(const Json& j);
std::string CanonicalHash(const Json& j);  // sha256 hex of CanonicalJson
// JSON text of `j` handed to `out` in pieces, never whole. A binary node holds
// a value packed by PackedJson (PackedJson::TakeAsBinary) and is written as
// that value, read straight from its bytes: a history record of 1,000 packed
// service specs is written without its text or any spec's DOM in memory.
// `indent` < 0 writes compact text; otherwise the layout of
// Json::dump(indent). Invalid UTF-8 in strings is replaced, as CanonicalJson
// does.
void WriteJson(const Json& j, int indent, const std::function<void(std::string_view)>& out);
// CanonicalJson(j) handed to `out` in pieces: WriteJson, compact.
void WriteCanonicalJson(const Json& j, const std::function<void(std::string_view)>& out);
// Parses text; on error the message names `what` and the byte offset.
Result<Json> ParseJson(std::string_view text, std::string_view what);
// Reads a JSON array fed in pieces as they arrive (an engine's list
// response) and hands each element to `each` as soon as its text is complete,
// parsed on its own. Neither the array's text nor its DOM is ever held whole:
// only the element being read (a list of 1,000 services is megabytes of
// text, several times that as a DOM). nlohmann's parsers pull their input and
// curl pushes it, so the split between elements is done here: it follows
// strings, escapes and nesting, and checks the commas between elements.
//
// Errors name `what`: a top level that is not an array, an element that is
// not valid JSON (ParseJson's message, with the element's index), an
// exception thrown by `each`, text after the array, an array that ends early.
class JsonArrayStream {
 public:
  JsonArrayStream(std::string_view what, std::function<void(Json&&)> each);
  // False once an error is known (status() says which): stop feeding.
  bool Feed(std::string_view data);
  // After the last piece: the array must be complete.
  Status Finish();
  const Status& status() const { return status_; }

 private:
  void Fail(std::string why);
  void EndElement();

  std::string what_;
  std::function<void(Json&&)> each_;
  Status status_;
  enum class State { kBeforeArray, kBeforeElement, kInElement, kAfterElement, kAfterArray };
  State state_ = State::kBeforeArray;
  std::string element_;  // text of the element being read
  int depth_ = 0;        // nesting inside the element
  bool in_string_ = false, escaped_ = false;
  size_t offset_ = 0;    // bytes fed so far
  size_t index_ = 0;     // elements handed over
};

// A JSON value kept as CBOR bytes, for values held long and read rarely: a
// service spec costs about a fifth of its DOM (every object key of a DOM is a
// map node, every long string its own allocation). Unpack builds a new DOM.
class PackedJson {
 public:
  PackedJson() = default;  // unpacks to null
  explicit PackedJson(const Json& value);
  Json Unpack() const;
  // Unpacks, lets `edit` change the value, packs the result.
  template <typename F>
  void Edit(F&& edit) {
    Json value = Unpack();
    edit(value);
    *this = PackedJson(value);
  }
  // Edit for a node made by TakeAsBinary (any other node is read as it is):
  // it holds the edited value packed afterwards.
  template <typename F>
  static void EditNode(Json& node, F&& edit) {
    Json value = UnpackNode(node);
    edit(value);
    node = PackedJson(value).TakeAsBinary();
  }
  // Moves the bytes into a JSON binary node (this becomes null), which
  // WriteCanonicalJson writes as the value they pack.
  Json TakeAsBinary();
  // The inverse: takes the bytes of a node made by TakeAsBinary. Any other
  // node is packed as it is.
  static PackedJson FromNode(Json&& node);
  // The value a node made by TakeAsBinary packs; any other node, copied.
  static Json UnpackNode(const Json& node);
  bool empty() const { return bytes_.empty(); }
  bool operator==(const PackedJson&) const = default;
  size_t size() const { return bytes_.size(); }  // bytes held

 private:
  // The packing buffer of a thread is freed after a value larger than this.
  static constexpr size_t kMaxScratchBytes = 64 * 1024;
  std::vector<std::uint8_t> bytes_;
};

}  // namespace stackctl
