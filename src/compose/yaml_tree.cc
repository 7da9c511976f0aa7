#include "compose/yaml_tree.h"

#include "common/yaml_text.h"

#include <cmath>
#include <cstdlib>
#include <cctype>
#include <cerrno>
#include <limits>
#include <cstring>
#include <memory>
#include <set>
#include <span>
#include <istream>
#include <streambuf>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

namespace stackctl::compose {

// The document as yaml-cpp's parser reports it, before any interpretation.
// Built from parser events rather than with YAML::Load: yaml-cpp's own node
// graph (a shared_ptr and a std::map per node) cost three quarters of the
// load time of a 1,000-service file. Aliases point at the anchored node, so
// the tree is a DAG (a cycle, even); Converter bounds the expansion.
struct RawNode {
  enum class Kind : uint8_t { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  Mark mark;
  const std::string* tag = nullptr;  // interned: "?" plain, "!" quoted, else the resolved tag
  std::string_view value;            // scalars
  std::span<const RawNode* const> items;  // sequence items; map keys and values alternating
};

// The tree lives as long as the Marks of a loaded file. Its nodes, scalar
// text and child lists are packed in 64 KiB blocks: one allocation per block
// rather than per node, string and list (a 1,000-service file is about 50,000
// nodes, which took 5.9 MB as separately allocated strings and vectors).
struct RawTree {
  static constexpr size_t kBlock = 64 * 1024;
  std::vector<std::unique_ptr<std::byte[]>> blocks;
  size_t used = kBlock;  // in the last block
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
  std::string_view Text(const std::string& text) {
    if (text.empty()) return {};
    char* p = static_cast<char*>(Bytes(text.size(), 1));
    std::memcpy(p, text.data(), text.size());
    return {p, text.size()};
  }
  std::span<const RawNode* const> Items(const std::vector<const RawNode*>& items) {
    if (items.empty()) return {};
    auto* p = static_cast<const RawNode**>(Bytes(items.size() * sizeof(RawNode*), alignof(RawNode*)));
    std::copy(items.begin(), items.end(), p);
    return {p, items.size()};
  }
  const std::string* Tag(const std::string& tag) { return &*tags.insert(tag).first; }
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

class RawTreeBuilder : public YAML::EventHandler {
 public:
  explicit RawTreeBuilder(RawTree* tree) : tree_(tree) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Add(New(RawNode::Kind::kNull, mark, "?"), anchor);
  }
  void OnAlias(const YAML::Mark&, YAML::anchor_t anchor) override {
    // yaml-cpp has checked that the anchor was defined before.
    auto it = anchors_.find(anchor);
    Attach(it == anchors_.end() ? New(RawNode::Kind::kNull, YAML::Mark(), "?") : it->second);
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    RawNode* n = New(RawNode::Kind::kScalar, mark, tag);
    n->value = tree_->Text(value);
    Add(n, anchor);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(New(RawNode::Kind::kSequence, mark, tag), anchor);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(New(RawNode::Kind::kMap, mark, tag), anchor);
  }
  void OnMapEnd() override { Close(); }

 private:
  RawNode* New(RawNode::Kind kind, const YAML::Mark& mark, const std::string& tag) {
    RawNode* n = tree_->NewNode();
    n->kind = kind;
    n->mark = Mark{mark.line + 1, mark.column + 1};
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
  void Add(RawNode* n, YAML::anchor_t anchor) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = n;
    Attach(n);
  }
  void Open(RawNode* n, YAML::anchor_t anchor) {
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
  std::unordered_map<YAML::anchor_t, const RawNode*> anchors_;
};

Json TypedScalar(const RawNode& node) {
  std::string_view s = node.value;
  const std::string& tag = *node.tag;
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

std::string KeyText(const RawNode& key) {
  if (key.kind == RawNode::Kind::kScalar) return std::string(key.value);
  if (key.kind == RawNode::Kind::kNull) return "null";
  return "<complex key>";
}

// A node's key path, built only when an error needs it: one segment per
// level, on the stack of Convert's recursion.
struct PathSeg {
  const PathSeg* parent;
  std::string_view key;  // map key; empty with index >= 0
  long index = -1;       // sequence index
};

std::string PathText(const PathSeg* seg) {
  std::vector<std::string> parts;
  for (; seg != nullptr; seg = seg->parent) {
    parts.push_back(seg->index >= 0 ? std::to_string(seg->index) : std::string(seg->key));
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) out = JoinKey(out, *it);
  return out;
}

class Converter {
 public:
  Converter(const std::string& filename, size_t max_nodes)
      : filename_(filename), max_nodes_(max_nodes) {}

  Status Convert(const RawNode& node, const PathSeg* path, int depth, Json* out) {
    if (++count_ > max_nodes_) {
      return InvalidArgument(filename_ + ": document expands to more than " +
                             std::to_string(max_nodes_) +
                             " nodes (YAML aliases); refusing to load it");
    }
    if (depth > kMaxDepth) {
      return InvalidArgument(Where(node) + ": nesting deeper than " + std::to_string(kMaxDepth) +
                             " levels");
    }
    switch (node.kind) {
      case RawNode::Kind::kNull:
        *out = nullptr;
        return OkStatus();
      case RawNode::Kind::kScalar:
        *out = TypedScalar(node);
        return OkStatus();
      case RawNode::Kind::kSequence: {
        *out = Json::array();
        auto& arr = out->get_ref<Json::array_t&>();
        arr.resize(node.items.size());
        for (size_t i = 0; i < node.items.size(); ++i) {
          PathSeg seg{path, {}, static_cast<long>(i)};
          RETURN_IF_ERROR(Convert(*node.items[i], &seg, depth + 1, &arr[i]));
        }
        return OkStatus();
      }
      case RawNode::Kind::kMap:
        return ConvertMap(node, path, depth, out);
    }
    return OkStatus();
  }

 private:
  std::string Where(const RawNode& node) const {
    return filename_ + ":" + std::to_string(node.mark.line) + ":" + std::to_string(node.mark.column);
  }

  Status ConvertMap(const RawNode& node, const PathSeg* path, int depth, Json* out) {
    *out = Json::object();
    std::vector<const RawNode*> merges;
    auto& obj = out->get_ref<Json::object_t&>();
    for (size_t i = 0; i + 1 < node.items.size(); i += 2) {
      const RawNode& key = *node.items[i];
      const RawNode& value = *node.items[i + 1];
      std::string k = KeyText(key);
      if (key.kind == RawNode::Kind::kScalar && k == "<<" && *key.tag != "!") {
        merges.push_back(&value);
        continue;
      }
      auto [slot, inserted] = obj.try_emplace(k);
      if (!inserted) {
        std::string p = PathText(path);
        return InvalidArgument(Where(key) + ": " + (p.empty() ? "" : p + ": ") +
                               "mapping key \"" + k + "\" already defined");
      }
      PathSeg seg{path, slot->first};
      RETURN_IF_ERROR(Convert(value, &seg, depth + 1, &slot->second));
    }
    // Merge keys: explicit keys win, then earlier merged maps win.
    for (const RawNode* m : merges) {
      std::vector<const RawNode*> sources;
      if (m->kind == RawNode::Kind::kMap) {
        sources.push_back(m);
      } else if (m->kind == RawNode::Kind::kSequence) {
        sources.assign(m->items.begin(), m->items.end());
      } else {
        return InvalidArgument(Where(*m) + ": " + JoinKey(PathText(path), "<<") +
                               ": merge key value must be a mapping or a list of mappings");
      }
      for (const RawNode* src : sources) {
        if (src->kind != RawNode::Kind::kMap) {
          return InvalidArgument(Where(*src) + ": " + JoinKey(PathText(path), "<<") +
                                 ": merge key value must be a mapping or a list of mappings");
        }
        Json merged;
        RETURN_IF_ERROR(ConvertMap(*src, path, depth + 1, &merged));
        for (auto& [k, v] : merged.get_ref<Json::object_t&>()) obj.try_emplace(k, std::move(v));
      }
    }
    return OkStatus();
  }

  const std::string& filename_;
  size_t max_nodes_;
  size_t count_ = 0;
};

// yaml-cpp reads a std::istream; this one reads `content` where it is, where
// an istringstream would copy it (half a megabyte for 1,000 services).
class TextStreamBuf : public std::streambuf {
 public:
  explicit TextStreamBuf(const std::string& text) {
    char* begin = const_cast<char*>(text.data());  // only ever read
    setg(begin, begin, begin + text.size());
  }
};

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
    if (key.kind == RawNode::Kind::kScalar && k == "<<" && *key.tag != "!") {
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

std::optional<Mark> Marks::Find(std::string_view path) const {
  if (tree_ == nullptr || tree_->root == nullptr) return std::nullopt;
  if (path.empty()) return tree_->root->mark;
  return FindUnder(*tree_->root, path, 0);
}

Result<YamlDocument> ParseYaml(const std::string& filename, const std::string& content,
                               size_t max_nodes) {
  YamlDocument doc;
  try {
    // Not YAML::LoadAll: it can loop forever on malformed input (common/yaml_text.h).
    if (HasSecondYamlDocument(content)) {
      return InvalidArgument(filename + ": expected one YAML document, found more");
    }
    TextStreamBuf text(content);
    std::istream in(&text);
    YAML::Parser parser(in);
    auto tree = std::make_shared<RawTree>();
    RawTreeBuilder builder(tree.get());
    if (!parser.HandleNextDocument(builder) || tree->root == nullptr ||
        tree->root->kind == RawNode::Kind::kNull) {
      return doc;
    }
    Converter conv(filename, max_nodes);
    RETURN_IF_ERROR(conv.Convert(*tree->root, nullptr, 0, &doc.root));
    doc.marks = Marks(std::move(tree));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(filename + ":" + std::to_string(e.mark.line + 1) + ":" +
                           std::to_string(e.mark.column + 1) + ": yaml: " + e.msg);
  } catch (const std::exception& e) {
    return InvalidArgument(filename + ": yaml: " + e.what());
  }
  return doc;
}

}  // namespace stackctl::compose
