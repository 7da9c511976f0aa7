#include "compose/interpolation.h"

#include <cctype>
#include <cmath>

namespace stackctl::compose {
namespace {

bool IsNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

Status InvalidFormat(const std::string& in) {
  return InvalidArgument("invalid interpolation format " + Json(in).dump(-1, ' ', false, Json::error_handler_t::replace));
}

// Finds the '}' closing the '${' whose body starts at `start`, honouring nested ${...}.
size_t FindClose(const std::string& s, size_t start) {
  int depth = 1;
  for (size_t i = start; i < s.size(); ++i) {
    if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '$') {
      ++i;
    } else if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '{') {
      ++depth;
      ++i;
    } else if (s[i] == '}') {
      if (--depth == 0) return i;
    }
  }
  return std::string::npos;
}

Result<std::string> Braced(const std::string& whole, const std::string& body, const Lookup& lookup,
                           std::set<std::string>* unset) {
  size_t i = 0;
  if (body.empty() || !IsNameStart(body[0])) return InvalidFormat(whole);
  while (i < body.size() && IsNameChar(body[i])) ++i;
  std::string name = body.substr(0, i);
  std::optional<std::string> value = lookup(name);
  if (i == body.size()) {
    if (!value) {
      if (unset) unset->insert(name);
      return std::string();
    }
    return *value;
  }
  bool colon = false;
  if (body[i] == ':') {
    colon = true;
    ++i;
  }
  if (i >= body.size() || (body[i] != '-' && body[i] != '?')) return InvalidFormat(whole);
  char op = body[i];
  std::string rest = body.substr(i + 1);
  bool missing = !value || (colon && value->empty());
  if (op == '-') {
    if (!missing) return *value;
    // docker takes a default literally; nested ${...} are expanded (compose spec).
    if (rest.find("${") == std::string::npos) return rest;
    return Substitute(rest, lookup, unset);
  }
  if (!missing) return *value;
  ASSIGN_OR_RETURN(std::string msg, Substitute(rest, lookup, unset));
  return InvalidArgument("required variable " + name + " is missing a value: " + msg);
}

}  // namespace

Result<std::string> Substitute(const std::string& in, const Lookup& lookup,
                               std::set<std::string>* unset) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c != '$') {
      out += c;
      continue;
    }
    if (i + 1 >= in.size()) {  // a trailing '$' stays literal
      out += c;
      continue;
    }
    char n = in[i + 1];
    if (n == '$') {
      out += '$';
      ++i;
    } else if (n == '{') {
      size_t close = FindClose(in, i + 2);
      if (close == std::string::npos) return InvalidFormat(in);
      ASSIGN_OR_RETURN(std::string v, Braced(in, in.substr(i + 2, close - i - 2), lookup, unset));
      out += v;
      i = close;
    } else if (IsNameStart(n)) {
      size_t j = i + 1;
      while (j < in.size() && IsNameChar(in[j])) ++j;
      std::string name = in.substr(i + 1, j - i - 1);
      std::optional<std::string> value = lookup(name);
      if (value) {
        out += *value;
      } else if (unset) {
        unset->insert(name);
      }
      i = j - 1;
    } else {
      return InvalidFormat(in);
    }
  }
  return out;
}

std::string Located(const std::string& filename, const Marks& marks,
                    const std::string& path, const std::string& message) {
  std::string p = path;
  while (true) {
    if (auto mark = marks.Find(p)) {
      return filename + ":" + std::to_string(mark->line) + ":" + std::to_string(mark->column) +
             ": " + (path.empty() ? "" : path + ": ") + message;
    }
    size_t dot = p.rfind('.');
    if (dot == std::string::npos) break;
    p = p.substr(0, dot);
  }
  return filename + ": " + (path.empty() ? "" : path + ": ") + message;
}

namespace {

enum class Cast { kNone, kInt, kFloat, kBool };

bool IsIndex(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// Matches `segs` against a pattern: "*" any key, "[]" a list index.
bool Match(const std::vector<std::string>& segs, std::initializer_list<const char*> pat) {
  if (segs.size() != pat.size()) return false;
  size_t i = 0;
  for (const char* p : pat) {
    std::string ps(p);
    if (ps == "*") {
    } else if (ps == "[]") {
      if (!IsIndex(segs[i])) return false;
    } else if (ps != segs[i]) {
      return false;
    }
    ++i;
  }
  return true;
}

Cast CastFor(const std::vector<std::string>& s) {
  if (Match(s, {"services", "*", "configs", "[]", "mode"}) ||
      Match(s, {"services", "*", "secrets", "[]", "mode"}) ||
      Match(s, {"services", "*", "healthcheck", "retries"}) ||
      Match(s, {"services", "*", "deploy", "replicas"}) ||
      Match(s, {"services", "*", "deploy", "update_config", "parallelism"}) ||
      Match(s, {"services", "*", "deploy", "rollback_config", "parallelism"}) ||
      Match(s, {"services", "*", "deploy", "restart_policy", "max_attempts"}) ||
      Match(s, {"services", "*", "deploy", "placement", "max_replicas_per_node"}) ||
      Match(s, {"services", "*", "ports", "[]", "target"}) ||
      Match(s, {"services", "*", "ports", "[]", "published"}) ||
      Match(s, {"services", "*", "ulimits", "*"}) ||
      Match(s, {"services", "*", "ulimits", "*", "hard"}) ||
      Match(s, {"services", "*", "ulimits", "*", "soft"})) {
    return Cast::kInt;
  }
  if (Match(s, {"services", "*", "deploy", "update_config", "max_failure_ratio"}) ||
      Match(s, {"services", "*", "deploy", "rollback_config", "max_failure_ratio"})) {
    return Cast::kFloat;
  }
  if (Match(s, {"services", "*", "healthcheck", "disable"}) ||
      Match(s, {"services", "*", "privileged"}) || Match(s, {"services", "*", "read_only"}) ||
      Match(s, {"services", "*", "stdin_open"}) || Match(s, {"services", "*", "tty"}) ||
      Match(s, {"services", "*", "init"}) ||
      Match(s, {"services", "*", "volumes", "[]", "read_only"}) ||
      Match(s, {"services", "*", "volumes", "[]", "volume", "nocopy"}) ||
      Match(s, {"networks", "*", "external"}) || Match(s, {"networks", "*", "internal"}) ||
      Match(s, {"networks", "*", "attachable"}) || Match(s, {"volumes", "*", "external"}) ||
      Match(s, {"secrets", "*", "external"}) || Match(s, {"configs", "*", "external"})) {
    return Cast::kBool;
  }
  return Cast::kNone;
}

Status ApplyCast(Cast cast, const std::string& v, Json* out) {
  switch (cast) {
    case Cast::kNone:
      *out = v;
      return OkStatus();
    case Cast::kInt: {
      char* end = nullptr;
      errno = 0;
      long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || errno == ERANGE) {
        return InvalidArgument("failed to cast to expected type: invalid syntax for an integer: " +
                               Json(v).dump(-1, ' ', false, Json::error_handler_t::replace));
      }
      *out = static_cast<int64_t>(n);
      return OkStatus();
    }
    case Cast::kFloat: {
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !std::isfinite(d)) {
        return InvalidArgument("failed to cast to expected type: invalid syntax for a number: " +
                               Json(v).dump(-1, ' ', false, Json::error_handler_t::replace));
      }
      *out = d;
      return OkStatus();
    }
    case Cast::kBool: {
      std::string l;
      for (char c : v) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (l == "true" || l == "yes" || l == "y" || l == "on") {
        *out = true;
      } else if (l == "false" || l == "no" || l == "n" || l == "off") {
        *out = false;
      } else {
        return InvalidArgument("failed to cast to expected type: invalid boolean: " + v);
      }
      return OkStatus();
    }
  }
  return OkStatus();
}

void Walk(Json* node, std::vector<std::string>* segs, const std::string& filename,
          const Marks& marks, const Lookup& lookup,
          std::vector<std::string>* errors, std::set<std::string>* unset) {
  auto path = [&] {
    std::string p;
    for (const auto& s : *segs) p = JoinKey(p, s);
    return p;
  };
  if (node->is_object()) {
    for (auto& [k, v] : node->items()) {
      segs->push_back(k);
      Walk(&v, segs, filename, marks, lookup, errors, unset);
      segs->pop_back();
    }
  } else if (node->is_array()) {
    for (size_t i = 0; i < node->size(); ++i) {
      segs->push_back(std::to_string(i));
      Walk(&(*node)[i], segs, filename, marks, lookup, errors, unset);
      segs->pop_back();
    }
  } else if (node->is_string()) {
    Result<std::string> r = Substitute(node->get<std::string>(), lookup, unset);
    if (!r.ok()) {
      errors->push_back(Located(filename, marks, path(), r.status().message()));
      return;
    }
    Status st = ApplyCast(CastFor(*segs), *r, node);
    if (!st.ok()) errors->push_back(Located(filename, marks, path(), st.message()));
  }
}

}  // namespace

void InterpolateTree(Json* root, const std::string& filename,
                     const Marks& marks, const Lookup& lookup,
                     std::vector<std::string>* errors, std::set<std::string>* unset) {
  std::vector<std::string> segs;
  if (!root->is_object()) return;
  for (auto& [k, v] : root->items()) {
    if (k == "version" || k.rfind("x-", 0) == 0) continue;
    segs.push_back(k);
    Walk(&v, &segs, filename, marks, lookup, errors, unset);
    segs.pop_back();
  }
}

void InterpolateValue(Json* value, std::vector<std::string> path, const std::string& filename,
                      const Marks& marks, const Lookup& lookup,
                      std::vector<std::string>* errors, std::set<std::string>* unset) {
  Walk(value, &path, filename, marks, lookup, errors, unset);
}

Result<std::vector<std::string>> ParseEnvFile(const std::string& content, const std::string& what,
                                              const Lookup& lookup) {
  std::vector<std::string> out;
  size_t pos = 0;
  int lineno = 0;
  std::string text = content;
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text = text.substr(3);
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') {
      if (nl == text.size()) break;
      continue;
    }
    std::string trimmed = line.substr(first);
    size_t eq = trimmed.find('=');
    std::string key = trimmed.substr(0, eq);
    if (key.empty()) {
      return InvalidArgument(what + ":" + std::to_string(lineno) +
                             ": poorly formatted environment: no variable name on line " +
                             Json(line).dump(-1, ' ', false, Json::error_handler_t::replace));
    }
    if (key.find_first_of(" \t\n\v\f\r") != std::string::npos) {
      return InvalidArgument(what + ":" + std::to_string(lineno) +
                             ": poorly formatted environment: variable '" + key +
                             "' contains whitespaces");
    }
    if (eq != std::string::npos) {
      out.push_back(trimmed);
    } else if (auto v = lookup(key)) {
      out.push_back(key + "=" + *v);
    } else {
      out.push_back(key);
    }
    if (nl == text.size()) break;
  }
  return out;
}

}  // namespace stackctl::compose
