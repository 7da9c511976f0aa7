#include "compose/yaml_tree.h"

#include "common/yaml_text.h"

#include <cmath>
#include <cstdlib>
#include <cctype>
#include <cerrno>
#include <limits>
#include <set>

#include <yaml-cpp/yaml.h>

namespace stackctl::compose {
namespace {

constexpr int kMaxDepth = 200;

bool IsNullScalar(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

bool AllOf(const std::string& s, size_t from, int (*pred)(int)) {
  if (from >= s.size()) return false;
  for (size_t i = from; i < s.size(); ++i) {
    if (!pred(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

int IsOctal(int c) { return c >= '0' && c <= '7'; }

bool ParseIntScalar(const std::string& s, Json* out) {
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
    std::string digits = s.substr(start);
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

bool ParseFloatScalar(const std::string& s, Json* out) {
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
  *out = std::strtod(s.c_str(), nullptr);
  return true;
}

Json TypedScalar(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  const std::string& tag = node.Tag();
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return s;  // quoted or !!str
  if (tag == "tag:yaml.org,2002:int") {
    Json v;
    if (ParseIntScalar(s, &v)) return v;
    return s;
  }
  if (tag == "tag:yaml.org,2002:float") {
    Json v;
    if (ParseFloatScalar(s, &v)) return v;
    return s;
  }
  if (IsNullScalar(s)) return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  Json v;
  if (ParseIntScalar(s, &v)) return v;
  if (ParseFloatScalar(s, &v)) return v;
  return s;
}

std::string KeyText(const YAML::Node& key) {
  if (key.IsScalar()) return key.Scalar();
  if (key.IsNull()) return "null";
  return "<complex key>";
}

class Converter {
 public:
  Converter(const std::string& filename, size_t max_nodes, YamlDocument* doc)
      : filename_(filename), max_nodes_(max_nodes), doc_(doc) {}

  Status Convert(const YAML::Node& node, const std::string& path, int depth, Json* out) {
    if (++count_ > max_nodes_) {
      return InvalidArgument(filename_ + ": document expands to more than " +
                             std::to_string(max_nodes_) +
                             " nodes (YAML aliases); refusing to load it");
    }
    if (depth > kMaxDepth) {
      return InvalidArgument(Where(node) + ": nesting deeper than " + std::to_string(kMaxDepth) +
                             " levels");
    }
    if (!doc_->marks.count(path)) {
      YAML::Mark m = node.Mark();
      doc_->marks[path] = Mark{m.line + 1, m.column + 1};
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        *out = nullptr;
        return OkStatus();
      case YAML::NodeType::Scalar:
        *out = TypedScalar(node);
        return OkStatus();
      case YAML::NodeType::Sequence: {
        *out = Json::array();
        size_t i = 0;
        for (const auto& item : node) {
          Json v;
          RETURN_IF_ERROR(Convert(item, JoinKey(path, std::to_string(i)), depth + 1, &v));
          out->push_back(std::move(v));
          ++i;
        }
        return OkStatus();
      }
      case YAML::NodeType::Map:
        return ConvertMap(node, path, depth, out);
    }
    return OkStatus();
  }

 private:
  std::string Where(const YAML::Node& node) const {
    YAML::Mark m = node.Mark();
    return filename_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
  }

  Status ConvertMap(const YAML::Node& node, const std::string& path, int depth, Json* out) {
    *out = Json::object();
    std::vector<YAML::Node> merges;
    std::set<std::string> seen;
    for (const auto& kv : node) {
      const YAML::Node& key = kv.first;
      std::string k = KeyText(key);
      if (key.IsScalar() && k == "<<" && key.Tag() != "!") {
        merges.push_back(kv.second);
        continue;
      }
      if (!seen.insert(k).second) {
        return InvalidArgument(Where(key) + ": " + (path.empty() ? "" : path + ": ") +
                               "mapping key \"" + k + "\" already defined");
      }
      YAML::Mark m = key.Mark();
      doc_->marks.emplace(JoinKey(path, k), Mark{m.line + 1, m.column + 1});
      Json v;
      RETURN_IF_ERROR(Convert(kv.second, JoinKey(path, k), depth + 1, &v));
      (*out)[k] = std::move(v);
    }
    // Merge keys: explicit keys win, then earlier merged maps win.
    for (const auto& m : merges) {
      std::vector<YAML::Node> sources;
      if (m.IsMap()) {
        sources.push_back(m);
      } else if (m.IsSequence()) {
        for (const auto& s : m) sources.push_back(s);
      } else {
        return InvalidArgument(Where(m) + ": " + JoinKey(path, "<<") +
                               ": merge key value must be a mapping or a list of mappings");
      }
      for (const auto& src : sources) {
        if (!src.IsMap()) {
          return InvalidArgument(Where(src) + ": " + JoinKey(path, "<<") +
                                 ": merge key value must be a mapping or a list of mappings");
        }
        Json merged;
        RETURN_IF_ERROR(ConvertMap(src, path, depth + 1, &merged));
        for (auto& [k, v] : merged.items()) {
          if (!out->contains(k)) (*out)[k] = v;
        }
      }
    }
    return OkStatus();
  }

  const std::string& filename_;
  size_t max_nodes_;
  YamlDocument* doc_;
  size_t count_ = 0;
};

}  // namespace

Result<YamlDocument> ParseYaml(const std::string& filename, const std::string& content,
                               size_t max_nodes) {
  YamlDocument doc;
  YAML::Node root;
  try {
    // Not YAML::LoadAll: it can loop forever on malformed input (common/yaml_text.h).
    if (HasSecondYamlDocument(content)) {
      return InvalidArgument(filename + ": expected one YAML document, found more");
    }
    root = YAML::Load(content);
    if (!root.IsDefined() || root.IsNull()) return doc;
    Converter conv(filename, max_nodes, &doc);
    RETURN_IF_ERROR(conv.Convert(root, "", 0, &doc.root));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(filename + ":" + std::to_string(e.mark.line + 1) + ":" +
                           std::to_string(e.mark.column + 1) + ": yaml: " + e.msg);
  } catch (const std::exception& e) {
    return InvalidArgument(filename + ": yaml: " + e.what());
  }
  return doc;
}

}  // namespace stackctl::compose
