#include "common/yaml_tree.h"

#include <yaml.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace stackctl {

// The document as libyaml's parser reports it, before any interpretation:
// what Marks::Find searches. It is built only when a position is asked for
// (an error is being reported), by parsing the text again; ParseYaml builds
// the JSON tree straight from the parser's events (JsonBuilder), so a load
// never holds both trees. Aliases point at the anchored node, so the tree is
// a DAG (a cycle, even); FindUnder bounds its depth.
struct RawNode {
  enum class Kind : uint8_t { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  Mark mark;
  const std::string* tag = nullptr;       // interned: "?" plain, "!" quoted, else the resolved tag
  std::string_view value;                 // scalars
  std::span<const RawNode* const> items;  // sequence items; map keys and values alternating
};

// The tree lives as long as the Marks of a loaded file. Its nodes, scalar
// text and child lists are packed in 64 KiB blocks: one allocation per block
// rather than per node, string and list (a 1,000-service file is about 50,000
// nodes, which took 5.9 MB as separately allocated strings and vectors).
struct RawTree {
  static constexpr size_t kBlock = 64 * 1024;
  std::vector<std::unique_ptr<std::byte[]>> blocks;
  size_t used = kBlock;                             // in the last block
  std::vector<std::unique_ptr<std::byte[]>> large;  // one each: scalars over kBlock / 4
  std::set<std::string> tags;
  const RawNode* root = nullptr;

  void* Bytes(size_t size, size_t align) {
    if (size > kBlock / 4) {
      large.push_back(std::make_unique<std::byte[]>(size));
      return large.back().get();
    }
    used = (used + align - 1) / align * align;
    if (used + size > kBlock) {
      blocks.push_back(std::make_unique<std::byte[]>(kBlock));
      used = 0;
    }
    void* p = blocks.back().get() + used;
    used += size;
    return p;
  }
  RawNode* NewNode() { return new (Bytes(sizeof(RawNode), alignof(RawNode))) RawNode(); }
  std::string_view Text(std::string_view text) {
    if (text.empty()) return {};
    char* p = static_cast<char*>(Bytes(text.size(), 1));
    std::memcpy(p, text.data(), text.size());
    return {p, text.size()};
  }
  std::span<const RawNode* const> Items(const std::vector<const RawNode*>& items) {
    if (items.empty()) return {};
    auto* p =
        static_cast<const RawNode**>(Bytes(items.size() * sizeof(RawNode*), alignof(RawNode*)));
    std::copy(items.begin(), items.end(), p);
    return {p, items.size()};
  }
  const std::string* Tag(std::string_view tag) { return &*tags.emplace(tag).first; }
};
static_assert(std::is_trivially_destructible_v<RawNode>, "RawTree never runs node destructors");

namespace {

constexpr int kMaxDepth = 200;

bool IsNullScalar(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

bool AllOf(std::string_view s, size_t from, int (*pred)(int)) {
  if (from >= s.size()) return false;
  for (size_t i = from; i < s.size(); ++i) {
    if (!pred(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

int IsOctal(int c) { return c >= '0' && c <= '7'; }

bool ParseIntScalar(std::string_view s, Json* out) {
  if (s.empty()) return false;
  std::string body;
  int base = 10;
  bool neg = false;
  if (s.size() > 2 && s[0] == '0' && s[1] == 'x' && AllOf(s, 2, isxdigit)) {
    body = s.substr(2);
    base = 16;
  } else if (s.size() > 2 && s[0] == '0' && s[1] == 'o' && AllOf(s, 2, IsOctal)) {
    body = s.substr(2);
    base = 8;
  } else {
    size_t start = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (!AllOf(s, start, isdigit)) return false;
    neg = s[0] == '-';
    std::string digits(s.substr(start));
    // Leading-zero integers are octal (Go's ParseInt base 0, as yaml.v2/v3 do).
    if (digits.size() > 1 && digits[0] == '0') {
      if (digits.find_first_of("89") != std::string::npos) return false;
      base = 8;
      digits = digits.substr(1);
    }
    body = (neg ? "-" : "") + digits;
  }
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(body.c_str(), &end, base);
  if (errno == ERANGE || *end != '\0') return false;  // out of range: a float
  *out = static_cast<int64_t>(v);
  return true;
}

bool ParseFloatScalar(std::string_view s, Json* out) {
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
  size_t i = 0, n = s.size();
  if (i < n && (s[i] == '-' || s[i] == '+')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < n && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++int_digits;
  if (i < n && s[i] == '.') {
    ++i;
    while (i < n && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp_digits = 0;
    while (i < n && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  if (i != n) return false;
  *out = std::strtod(std::string(s).c_str(), nullptr);
  return true;
}

// Builds the RawTree that Marks::Find searches.
class RawTreeBuilder : public YamlEventHandler {
 public:
  explicit RawTreeBuilder(RawTree* tree) : tree_(tree) {}

  bool ok() const override { return true; }
  void OnNull(const Mark& mark, std::string_view anchor) override {
    Add(New(RawNode::Kind::kNull, mark, "?"), anchor);
  }
  void OnAlias(const Mark&, std::string_view anchor) override {
    // An alias of no anchor: ParseYaml has refused it before positions are asked for.
    auto it = anchors_.find(std::string(anchor));
    Attach(it == anchors_.end() ? New(RawNode::Kind::kNull, Mark(), "?") : it->second);
  }
  void OnScalar(const Mark& mark, std::string_view tag, std::string_view anchor,
                std::string_view value) override {
    RawNode* n = New(RawNode::Kind::kScalar, mark, tag);
    n->value = tree_->Text(value);
    Add(n, anchor);
  }
  void OnSequenceStart(const Mark& mark, std::string_view tag, std::string_view anchor) override {
    Open(New(RawNode::Kind::kSequence, mark, tag), anchor);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const Mark& mark, std::string_view tag, std::string_view anchor) override {
    Open(New(RawNode::Kind::kMap, mark, tag), anchor);
  }
  void OnMapEnd() override { Close(); }

 private:
  RawNode* New(RawNode::Kind kind, const Mark& mark, std::string_view tag) {
    RawNode* n = tree_->NewNode();
    n->kind = kind;
    n->mark = mark;
    n->tag = tree_->Tag(tag);
    return n;
  }
  void Attach(const RawNode* n) {
    if (open_.empty()) {
      tree_->root = n;
    } else {
      children_[open_.size() - 1].push_back(n);
    }
  }
  void Add(RawNode* n, std::string_view anchor) {
    if (!anchor.empty()) anchors_[std::string(anchor)] = n;
    Attach(n);
  }
  void Open(RawNode* n, std::string_view anchor) {
    Add(n, anchor);
    open_.push_back(n);
    if (children_.size() < open_.size()) children_.resize(open_.size());
    children_[open_.size() - 1].clear();
  }
  // The node's children are complete: copied into the tree's blocks.
  void Close() {
    open_.back()->items = tree_->Items(children_[open_.size() - 1]);
    open_.pop_back();
  }

  RawTree* tree_;
  std::vector<RawNode*> open_;
  // Children of each open node, by depth; the vectors are reused, so
  // gathering a list allocates nothing once the depth has been seen.
  std::vector<std::vector<const RawNode*>> children_;
  std::unordered_map<std::string, const RawNode*> anchors_;
};

Json TypedScalar(std::string_view s, std::string_view tag) {
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return std::string(s);  // quoted or !!str
  if (tag == "tag:yaml.org,2002:int") {
    Json v;
    if (ParseIntScalar(s, &v)) return v;
    return std::string(s);
  }
  if (tag == "tag:yaml.org,2002:float") {
    Json v;
    if (ParseFloatScalar(s, &v)) return v;
    return std::string(s);
  }
  if (IsNullScalar(s)) return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  Json v;
  if (ParseIntScalar(s, &v)) return v;
  if (ParseFloatScalar(s, &v)) return v;
  return std::string(s);
}

// What a map key that is not a scalar is called in paths and errors.
constexpr const char* kNullKeyText = "null";
constexpr const char* kComplexKeyText = "<complex key>";

// A YAML merge key: a plain (unquoted) "<<".
bool IsMergeKey(std::string_view text, std::string_view tag) { return text == "<<" && tag != "!"; }

std::string KeyText(const RawNode& key) {
  if (key.kind == RawNode::Kind::kScalar) return std::string(key.value);
  if (key.kind == RawNode::Kind::kNull) return kNullKeyText;
  return kComplexKeyText;
}

// Builds the JSON tree from the parser's events. Scalars are typed as they
// arrive; aliases copy the anchored value (its node count and height are
// checked against the limits first); merge keys are applied when their map
// ends, explicit keys first, then earlier merged maps. The first error is
// kept and later events are ignored.
class JsonBuilder : public YamlEventHandler {
 public:
  JsonBuilder(const std::string& filename, size_t max_nodes, std::string_view packed_section)
      : filename_(filename), max_nodes_(max_nodes), packed_section_(packed_section) {}

  bool ok() const override { return status_.ok(); }
  const Status& status() const { return status_; }
  Json TakeRoot() { return std::move(root_); }

  void OnNull(const Mark& mark, std::string_view anchor) override {
    Deliver(Node{Json(nullptr), mark, 1, 0, kNullKeyText, false}, anchor);
  }
  void OnAlias(const Mark& mark, std::string_view anchor) override {
    if (!status_.ok()) return;
    auto it = anchors_.find(std::string(anchor));
    if (it == anchors_.end()) {
      for (const Frame& f : open_) {
        if (f.anchor == anchor) {
          return Fail(Where(mark) + ": an alias inside the node it refers to (recursive alias *" +
                      std::string(anchor) + ")");
        }
      }
      return Fail(Where(mark) + ": alias *" + std::string(anchor) + " refers to no anchor &" +
                  std::string(anchor) + " defined before it");
    }
    const Node& a = it->second;
    // Checked before copying: a billion-laughs document is refused while small.
    if (!Count(a.nodes) || !Deep(a.height, mark)) return;
    Node copy = a;
    copy.mark = mark;
    Deliver(std::move(copy), {}, false);
  }
  void OnScalar(const Mark& mark, std::string_view tag, std::string_view anchor,
                std::string_view value) override {
    if (!status_.ok()) return;
    // A key's text is all that is kept of it; a value is typed and needs no text.
    // An anchored scalar keeps both: its alias may be either.
    const bool is_key = NextIsKey();
    const bool anchored = !anchor.empty();
    Deliver(Node{is_key && !anchored ? Json() : TypedScalar(value, tag), mark, 1, 0,
                 is_key || anchored ? std::string(value) : std::string(), IsMergeKey(value, tag)},
            anchor);
  }
  void OnSequenceStart(const Mark& mark, std::string_view, std::string_view anchor) override {
    Open(Json::array(), mark, anchor);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const Mark& mark, std::string_view, std::string_view anchor) override {
    Open(Json::object(), mark, anchor);
  }
  void OnMapEnd() override { Close(); }

 private:
  // A finished value, on its way into its parent.
  struct Node {
    Json value;
    Mark mark;
    size_t nodes = 1;        // values in it, itself included (map keys are not counted)
    int height = 0;          // levels below it
    std::string key;         // its text when it is a map key
    bool merge_key = false;  // a plain "<<"
  };
  struct Frame {
    Json value;  // the array or object being filled
    Mark mark;
    std::string anchor;
    std::string segment;  // its key or index in its parent: error paths
    size_t nodes = 1;
    int height = 0;
    // Maps: the key waiting for its value, and the values of merge keys.
    bool have_key = false;
    Node key;
    std::vector<Node> merges;
  };

  std::string Where(const Mark& m) const {
    return filename_ + ":" + std::to_string(m.line) + ":" + std::to_string(m.column);
  }
  // Dotted path of the innermost open node.
  std::string Path() const {
    std::string out;
    for (size_t i = 1; i < open_.size(); ++i) out = JoinKey(out, open_[i].segment);
    return out;
  }
  void Fail(std::string why) {
    if (status_.ok()) status_ = InvalidArgument(std::move(why));
  }
  bool Count(size_t nodes) {
    count_ += nodes;
    if (count_ <= max_nodes_) return true;
    Fail(filename_ + ": document expands to more than " + std::to_string(max_nodes_) +
         " nodes (YAML aliases); refusing to load it");
    return false;
  }
  // A value `height` levels deep placed at the current depth.
  bool Deep(int height, const Mark& mark) {
    if (static_cast<int>(open_.size()) + height <= kMaxDepth) return true;
    Fail(Where(mark) + ": nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    return false;
  }
  // The key or index the next value of the innermost open node goes under.
  std::string NextSegment() const {
    if (open_.empty()) return {};
    const Frame& f = open_.back();
    return f.value.is_array() ? std::to_string(f.value.size()) : f.key.key;
  }

  // A map or list used as a key (never valid in compose) is built like any
  // other node and then kept as the key kComplexKeyText.
  void Open(Json value, const Mark& mark, std::string_view anchor) {
    if (!status_.ok()) return;
    if (!Count(1) || !Deep(0, mark)) return;
    std::string segment = NextIsKey() ? kComplexKeyText : NextSegment();
    Frame f;
    f.value = std::move(value);
    f.mark = mark;
    f.anchor = anchor;
    f.segment = std::move(segment);
    open_.push_back(std::move(f));
  }
  void Close() {
    if (!status_.ok()) return;
    Frame f = std::move(open_.back());
    open_.pop_back();
    if (f.value.is_object() && !f.merges.empty() && !ApplyMerges(&f)) return;
    Deliver(Node{std::move(f.value), f.mark, f.nodes, f.height, kComplexKeyText, false}, f.anchor,
            false);
  }
  bool ApplyMerges(Frame* f) {
    auto& obj = f->value.get_ref<Json::object_t&>();
    const std::string where = JoinKey(JoinKey(Path(), f->segment), "<<");
    for (Node& m : f->merges) {
      std::vector<Json*> sources;
      if (m.value.is_object()) {
        sources.push_back(&m.value);
      } else if (m.value.is_array()) {
        for (Json& item : m.value) sources.push_back(&item);
      }
      // A mapping, or a list of mappings (an empty list merges nothing).
      bool all_maps = m.value.is_object() || m.value.is_array();
      for (Json* src : sources) all_maps = all_maps && src->is_object();
      if (!all_maps) {
        Fail(Where(m.mark) + ": " + where +
             ": merge key value must be a mapping or a list of mappings");
        return false;
      }
      for (Json* src : sources) {
        for (auto& [k, v] : src->get_ref<Json::object_t&>()) obj.try_emplace(k, std::move(v));
      }
      f->nodes += m.nodes;
      f->height = std::max(f->height, m.height);
    }
    return true;
  }

  // Whether the innermost open node is the top-level map named by packed_section_.
  bool InPackedSection() const {
    return !packed_section_.empty() && open_.size() == 2 && open_[0].value.is_object() &&
           open_[1].segment == packed_section_;
  }

  bool NextIsKey() const {
    return !open_.empty() && open_.back().value.is_object() && !open_.back().have_key;
  }

  // `count` is false for nodes already counted (containers at Open, aliases).
  // Map keys are neither counted nor converted: only their text is kept.
  void Deliver(Node n, std::string_view anchor, bool count = true) {
    if (!status_.ok()) return;
    const bool is_key = NextIsKey();
    if (count && !is_key && (!Count(1) || !Deep(0, n.mark))) return;
    if (!anchor.empty())
      anchors_[std::string(anchor)] = Node{n.value, n.mark, n.nodes, n.height, n.key, false};
    if (open_.empty()) {
      root_ = std::move(n.value);
      return;
    }
    Frame& f = open_.back();
    if (is_key) {
      f.have_key = true;
      f.key = std::move(n);
      f.key.value = Json();
      return;
    }
    if (f.value.is_array()) {
      f.value.push_back(std::move(n.value));
    } else {
      f.have_key = false;
      if (f.key.merge_key) {
        f.merges.push_back(std::move(n));
        return;
      }
      if (InPackedSection()) n.value = PackedJson(n.value).TakeAsBinary();
      auto [slot, inserted] =
          f.value.get_ref<Json::object_t&>().try_emplace(f.key.key, std::move(n.value));
      if (!inserted) {
        std::string p = Path();
        return Fail(Where(f.key.mark) + ": " + (p.empty() ? "" : p + ": ") + "mapping key \"" +
                    f.key.key + "\" already defined");
      }
    }
    f.nodes += n.nodes;
    f.height = std::max(f.height, n.height + 1);
  }

  const std::string& filename_;
  size_t max_nodes_;
  std::string_view packed_section_;
  size_t count_ = 0;
  Status status_;
  Json root_;
  std::vector<Frame> open_;
  std::unordered_map<std::string, Node> anchors_;
};

// libyaml's parser over a text it reads where it lies (no copy), freed on every path.
class LibYamlParser {
 public:
  explicit LibYamlParser(std::string_view text) {
    ready_ = yaml_parser_initialize(&parser_) != 0;
    if (ready_) {
      yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()),
                                   text.size());
    }
  }
  ~LibYamlParser() { yaml_parser_delete(&parser_); }
  LibYamlParser(const LibYamlParser&) = delete;
  LibYamlParser& operator=(const LibYamlParser&) = delete;

  bool ready() const { return ready_; }
  yaml_parser_t* get() { return &parser_; }

 private:
  yaml_parser_t parser_;
  bool ready_ = false;
};

// One libyaml event, freed when it goes out of scope.
struct LibYamlEvent {
  yaml_event_t event;
  ~LibYamlEvent() { yaml_event_delete(&event); }
};

// libyaml's syntax error as "file:line:col: yaml: problem (context)".
std::string SyntaxError(const std::string& filename, const yaml_parser_t& p) {
  if (p.error == YAML_MEMORY_ERROR) return filename + ": yaml: out of memory";
  std::string problem = p.problem != nullptr ? p.problem : "syntax error";
  if (p.error == YAML_READER_ERROR) {  // bad encoding: the reader has no line yet
    return filename + ": yaml: " + problem + " at byte " + std::to_string(p.problem_offset);
  }
  std::string out = filename + ":" + std::to_string(p.problem_mark.line + 1) + ":" +
                    std::to_string(p.problem_mark.column + 1) + ": yaml: " + problem;
  if (p.context != nullptr) {
    out +=
        std::string(" (") + p.context + " at line " + std::to_string(p.context_mark.line + 1) + ")";
  }
  return out;
}

Mark ToMark(const yaml_mark_t& m) {
  return Mark{static_cast<int>(m.line) + 1, static_cast<int>(m.column) + 1};
}

std::string_view Chars(const yaml_char_t* s) {
  return s == nullptr ? std::string_view() : std::string_view(reinterpret_cast<const char*>(s));
}

}  // namespace

Result<bool> ReadYamlEvents(const std::string& filename, std::string_view text,
                            YamlEventHandler* handler) {
  LibYamlParser parser(text);
  if (!parser.ready()) return InvalidArgument(filename + ": yaml: out of memory");
  bool had_document = false;
  while (true) {
    LibYamlEvent e;
    if (yaml_parser_parse(parser.get(), &e.event) == 0)
      return InvalidArgument(SyntaxError(filename, *parser.get()));
    const yaml_event_t& ev = e.event;
    const Mark mark = ToMark(ev.start_mark);
    switch (ev.type) {
      case YAML_STREAM_END_EVENT:
        return had_document;
      case YAML_DOCUMENT_START_EVENT:
        if (had_document)
          return InvalidArgument(filename + ": expected one YAML document, found more");
        had_document = true;
        break;
      case YAML_ALIAS_EVENT:
        handler->OnAlias(mark, Chars(ev.data.alias.anchor));
        break;
      case YAML_SCALAR_EVENT: {
        const auto& s = ev.data.scalar;
        std::string_view value(reinterpret_cast<const char*>(s.value), s.length);
        std::string_view tag = s.tag != nullptr                     ? Chars(s.tag)
                               : s.style == YAML_PLAIN_SCALAR_STYLE ? "?"
                                                                    : "!";
        if (tag == "?" && IsNullScalar(value)) {
          handler->OnNull(mark, Chars(s.anchor));
        } else {
          handler->OnScalar(mark, tag, Chars(s.anchor), value);
        }
        break;
      }
      case YAML_SEQUENCE_START_EVENT: {
        const auto& s = ev.data.sequence_start;
        handler->OnSequenceStart(mark, s.tag != nullptr ? Chars(s.tag) : "?", Chars(s.anchor));
        break;
      }
      case YAML_SEQUENCE_END_EVENT:
        handler->OnSequenceEnd();
        break;
      case YAML_MAPPING_START_EVENT: {
        const auto& m = ev.data.mapping_start;
        handler->OnMapStart(mark, m.tag != nullptr ? Chars(m.tag) : "?", Chars(m.anchor));
        break;
      }
      case YAML_MAPPING_END_EVENT:
        handler->OnMapEnd();
        break;
      case YAML_STREAM_START_EVENT:
      case YAML_DOCUMENT_END_EVENT:  // the next event tells whether a second document follows
      case YAML_NO_EVENT:
        break;
    }
    if (!handler->ok()) return had_document;
  }
}

namespace {

// Marks::Find below: the position of `rest` under `node`.
std::optional<Mark> FindUnder(const RawNode& node, std::string_view rest, int depth) {
  if (depth > kMaxDepth) return std::nullopt;
  if (node.kind == RawNode::Kind::kSequence) {
    size_t dot = rest.find('.');
    std::string_view head = rest.substr(0, dot);
    size_t index = 0;
    if (head.empty() || head.size() > 9) return std::nullopt;
    for (char c : head) {
      if (c < '0' || c > '9') return std::nullopt;
      index = index * 10 + static_cast<size_t>(c - '0');
    }
    if (index >= node.items.size()) return std::nullopt;
    const RawNode& item = *node.items[index];
    if (dot == std::string_view::npos) return item.mark;
    return FindUnder(item, rest.substr(dot + 1), depth + 1);
  }
  if (node.kind != RawNode::Kind::kMap) return std::nullopt;
  std::vector<const RawNode*> merges;
  for (size_t i = 0; i + 1 < node.items.size(); i += 2) {
    const RawNode& key = *node.items[i];
    std::string k = KeyText(key);
    if (key.kind == RawNode::Kind::kScalar && IsMergeKey(k, *key.tag)) {
      merges.push_back(node.items[i + 1]);
      continue;
    }
    if (!rest.starts_with(k)) continue;
    if (rest.size() == k.size()) return key.mark;
    if (rest[k.size()] != '.') continue;
    if (auto m = FindUnder(*node.items[i + 1], rest.substr(k.size() + 1), depth + 1)) return m;
  }
  for (const RawNode* m : merges) {
    if (m->kind == RawNode::Kind::kMap) {
      if (auto found = FindUnder(*m, rest, depth + 1)) return found;
    } else if (m->kind == RawNode::Kind::kSequence) {
      for (const RawNode* src : m->items) {
        if (auto found = FindUnder(*src, rest, depth + 1)) return found;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

// The text of a loaded document; its RawTree is built by the first Find.
struct MarksSource {
  std::string content;
  std::once_flag parsed;
  RawTree tree;
};

std::optional<Mark> Marks::Find(std::string_view path) const {
  if (source_ == nullptr) return std::nullopt;
  std::call_once(source_->parsed, [this] {
    RawTreeBuilder builder(&source_->tree);
    // ParseYaml parsed this text already; were it to fail now, there are no positions.
    if (!ReadYamlEvents("", source_->content, &builder).ok()) source_->tree.root = nullptr;
  });
  const RawNode* root = source_->tree.root;
  if (root == nullptr) return std::nullopt;
  if (path.empty()) return root->mark;
  return FindUnder(*root, path, 0);
}

Result<YamlDocument> ParseYaml(const std::string& filename, const std::string& content,
                               size_t max_nodes, std::string_view packed_section) {
  YamlDocument doc;
  JsonBuilder builder(filename, max_nodes, packed_section);
  ASSIGN_OR_RETURN(bool had_document, ReadYamlEvents(filename, content, &builder));
  RETURN_IF_ERROR(builder.status());
  if (!had_document) return doc;
  doc.root = builder.TakeRoot();
  if (doc.root.is_null()) return doc;
  auto source = std::make_shared<MarksSource>();
  source->content = content;
  doc.marks = Marks(std::move(source));
  return doc;
}

}  // namespace stackctl
