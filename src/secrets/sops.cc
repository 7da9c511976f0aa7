#include "secrets/sops.h"

#include "common/yaml_text.h"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>

#include "common/crypto.h"
#include "secrets/encoding.h"
#include "secrets/primitives.h"

namespace stackctl::secrets {
namespace {

using OJson = nlohmann::ordered_json;

// An ordered document tree, common to every SOPS format.
struct Entry;
struct Node {
  enum class Kind { kNull, kScalar, kMap, kList };
  enum class Type { kStr, kInt, kFloat, kBool, kBytes };
  Kind kind = Kind::kNull;
  Type type = Type::kStr;
  std::string value;  // scalar text; int/float/bool in canonical form
  std::vector<Entry> map;
  std::vector<Node> list;

  const Node* Find(std::string_view key) const;
};

struct Entry {
  Entry(std::string k, Node v) : first(std::move(k)), second(std::move(v)) {}
  std::string first;
  Node second;
};

const Node* Node::Find(std::string_view key) const {
  for (const auto& [k, v] : map) {
    if (k == key) return &v;
  }
  return nullptr;
}

void WipeTree(Node* n) {
  SecureWipe(&n->value);
  for (auto& [k, v] : n->map) WipeTree(&v);
  for (Node& v : n->list) WipeTree(&v);
}

// Owns a decrypted tree and wipes it when the scope ends.
struct TreeWiper {
  Node* n;
  ~TreeWiper() { WipeTree(n); }
};

Node Scalar(Node::Type t, std::string v) {
  Node n;
  n.kind = Node::Kind::kScalar;
  n.type = t;
  n.value = std::move(v);
  return n;
}

// Go's strconv.FormatFloat(f, 'f', -1, 64): shortest round-trip digits, no exponent.
std::string FormatFloat(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  char buf[400];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
  return std::string(buf, end);
}

// Go's strconv.Atoi for int64 (optional sign, decimal digits).
bool ParseInt(std::string_view s, long long* out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool ParseGoFloat(std::string_view s, double* out) {
  if (s.empty()) return false;
  std::string str(s);
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(str.c_str(), &end);
  return end == str.c_str() + str.size() && errno == 0;
}

// Go's strconv.ParseBool.
std::optional<bool> ParseGoBool(std::string_view s) {
  if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False")
    return false;
  return std::nullopt;
}

// The bytes sops feeds to the MAC for a scalar (sops.ToBytes).
std::string MacBytes(const Node& n) {
  if (n.type == Node::Type::kBool) return n.value == "true" ? "True" : "False";
  return n.value;
}

// ---- Loading each format into a Node tree --------------------------------

bool AllDigits(std::string_view s, int base) {
  if (s.empty()) return false;
  for (char c : s) {
    int v = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                     : 99;
    if (v >= base) return false;
  }
  return true;
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?  (YAML 1.2 core float)
bool IsYamlFloat(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  size_t e = s.find_first_of("eE");
  std::string_view mant = s.substr(0, e);
  if (e != std::string_view::npos) {
    std::string_view exp = s.substr(e + 1);
    if (!exp.empty() && (exp[0] == '-' || exp[0] == '+')) exp.remove_prefix(1);
    if (!AllDigits(exp, 10)) return false;
  }
  size_t dot = mant.find('.');
  if (dot == std::string_view::npos) return AllDigits(mant, 10);
  std::string_view ip = mant.substr(0, dot), fp = mant.substr(dot + 1);
  if (ip.empty()) return AllDigits(fp, 10);
  return AllDigits(ip, 10) && (fp.empty() || AllDigits(fp, 10));
}

// Resolves a plain YAML scalar the way go-yaml v3 does into interface{}.
Node ResolveYamlPlain(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return Node();
  if (s == "true" || s == "True" || s == "TRUE") return Scalar(Node::Type::kBool, "true");
  if (s == "false" || s == "False" || s == "FALSE") return Scalar(Node::Type::kBool, "false");
  std::string_view body = s;
  const bool neg = body[0] == '-';
  if (body[0] == '-' || body[0] == '+') body.remove_prefix(1);
  if (AllDigits(body, 10)) {
    long long v = 0;
    if (ParseInt(s, &v)) return Scalar(Node::Type::kInt, std::to_string(v));
    double d = 0;
    if (ParseGoFloat(s, &d)) return Scalar(Node::Type::kFloat, FormatFloat(d));
  }
  if (body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'o' || body[1] == 'b')) {
    const int base = body[1] == 'x' ? 16 : body[1] == 'o' ? 8 : 2;
    long long v = 0;
    auto [p, ec] = std::from_chars(body.data() + 2, body.data() + body.size(), v, base);
    if (AllDigits(body.substr(2), base) && ec == std::errc() && p == body.data() + body.size())
      return Scalar(Node::Type::kInt, std::to_string(neg ? -v : v));
  }
  if (IsYamlFloat(s)) {
    double d = 0;
    if (ParseGoFloat(s, &d)) return Scalar(Node::Type::kFloat, FormatFloat(d));
  }
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf" || s == "+.Inf" || s == "+.INF")
    return Scalar(Node::Type::kFloat, "+Inf");
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") return Scalar(Node::Type::kFloat, "-Inf");
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return Scalar(Node::Type::kFloat, "NaN");
  return Scalar(Node::Type::kStr, s);
}

Result<Node> FromYaml(const YAML::Node& y, int depth) {
  if (depth > 200) return InvalidArgument("yaml: document nested too deeply");
  Node n;
  switch (y.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return n;
    case YAML::NodeType::Scalar: {
      const std::string& tag = y.Tag();
      const std::string& s = y.Scalar();
      if (tag == "?") return ResolveYamlPlain(s);
      if (tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" ||
          tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:null")
        return ResolveYamlPlain(s);
      return Scalar(Node::Type::kStr, s);
    }
    case YAML::NodeType::Sequence:
      n.kind = Node::Kind::kList;
      for (const YAML::Node& item : y) {
        ASSIGN_OR_RETURN(Node c, FromYaml(item, depth + 1));
        n.list.push_back(std::move(c));
      }
      return n;
    case YAML::NodeType::Map:
      n.kind = Node::Kind::kMap;
      for (auto it = y.begin(); it != y.end(); ++it) {
        if (!it->first.IsScalar()) return InvalidArgument("yaml: only scalar keys are supported");
        ASSIGN_OR_RETURN(Node c, FromYaml(it->second, depth + 1));
        n.map.emplace_back(it->first.Scalar(), std::move(c));
      }
      return n;
  }
  return n;
}

Result<Node> LoadYaml(std::string_view content) {
  if (HasSecondYamlDocument(content)) return InvalidArgument("multi-document YAML is not supported");
  try {
    YAML::Node doc = YAML::Load(std::string(content));
    if (!doc.IsDefined() || doc.IsNull()) return InvalidArgument("yaml: empty document");
    return FromYaml(doc, 0);
  } catch (const YAML::Exception& e) {
    // The mark locates the problem; e.msg never quotes document content.
    return InvalidArgument("yaml: line " + std::to_string(e.mark.line + 1) + ", column " +
                           std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

Result<Node> FromJson(const OJson& j, int depth) {
  if (depth > 200) return InvalidArgument("json: document nested too deeply");
  Node n;
  switch (j.type()) {
    case OJson::value_t::null:
    case OJson::value_t::discarded:
      return n;
    case OJson::value_t::boolean:
      return Scalar(Node::Type::kBool, j.get<bool>() ? "true" : "false");
    case OJson::value_t::number_integer:
      return Scalar(Node::Type::kInt, std::to_string(j.get<int64_t>()));
    case OJson::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return Scalar(Node::Type::kFloat, FormatFloat(static_cast<double>(u)));
      return Scalar(Node::Type::kInt, std::to_string(u));
    }
    case OJson::value_t::number_float:
      return Scalar(Node::Type::kFloat, FormatFloat(j.get<double>()));
    case OJson::value_t::string:
      return Scalar(Node::Type::kStr, j.get<std::string>());
    case OJson::value_t::binary:
      return InvalidArgument("json: unexpected binary value");
    case OJson::value_t::array:
      n.kind = Node::Kind::kList;
      for (const OJson& item : j) {
        ASSIGN_OR_RETURN(Node c, FromJson(item, depth + 1));
        n.list.push_back(std::move(c));
      }
      return n;
    case OJson::value_t::object:
      n.kind = Node::Kind::kMap;
      for (auto it = j.begin(); it != j.end(); ++it) {
        ASSIGN_OR_RETURN(Node c, FromJson(it.value(), depth + 1));
        n.map.emplace_back(it.key(), std::move(c));
      }
      return n;
  }
  return n;
}

Result<Node> LoadJson(std::string_view content) {
  try {
    OJson j = OJson::parse(content.begin(), content.end());
    return FromJson(j, 0);
  } catch (const nlohmann::json::exception& e) {
    // Parse errors cite a byte offset; strip nlohmann's "last read" excerpt.
    std::string what = e.what();
    size_t cut = what.find("; last read:");
    if (cut != std::string::npos) what.resize(cut);
    return InvalidArgument("json: " + what);
  }
}

// Splits flattened metadata keys ("age__list_0__map_enc") into a tree.
Status Unflatten(Node* root, std::string_view key, std::string value) {
  Node* cur = root;
  std::string_view rest = key;
  auto next_token = [&](std::string_view* tok, bool* is_list) {
    size_t m = rest.find("__map_"), l = rest.find("__list_");
    size_t cut = std::min(m, l);
    *tok = rest.substr(0, cut);
    if (cut == std::string_view::npos) {
      rest = {};
      return false;
    }
    *is_list = cut == l;
    rest = rest.substr(cut + (*is_list ? 7 : 6));
    return true;
  };
  std::string_view tok;
  bool is_list = false;
  bool more = next_token(&tok, &is_list);
  // First token is a map key of the root.
  for (;;) {
    if (cur->kind == Node::Kind::kNull) cur->kind = Node::Kind::kMap;
    if (cur->kind != Node::Kind::kMap) return InvalidArgument("conflicting metadata key");
    Node* child = nullptr;
    for (auto& [k, v] : cur->map) {
      if (k == tok) child = &v;
    }
    if (!child) {
      cur->map.emplace_back(std::string(tok), Node());
      child = &cur->map.back().second;
    }
    cur = child;
    if (!more) break;
    while (is_list) {
      std::string_view idx;
      bool nested_list = false;
      more = next_token(&idx, &nested_list);
      size_t i = 0;
      auto [p, ec] = std::from_chars(idx.data(), idx.data() + idx.size(), i);
      if (ec != std::errc() || p != idx.data() + idx.size() || i > 1000)
        return InvalidArgument("invalid list index in metadata key");
      if (cur->kind == Node::Kind::kNull) cur->kind = Node::Kind::kList;
      if (cur->kind != Node::Kind::kList) return InvalidArgument("conflicting metadata key");
      if (cur->list.size() <= i) cur->list.resize(i + 1);
      cur = &cur->list[i];
      if (!more) {
        *cur = Scalar(Node::Type::kStr, std::move(value));
        return OkStatus();
      }
      is_list = nested_list;
    }
    more = next_token(&tok, &is_list);
  }
  if (cur->kind != Node::Kind::kNull) return InvalidArgument("duplicate metadata key");
  *cur = Scalar(Node::Type::kStr, std::move(value));
  return OkStatus();
}

std::string ReplaceAll(std::string s, std::string_view from, std::string_view to) {
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

// dotenv as sops reads it: KEY=VALUE lines, '#' comments, "\n" escapes; the
// metadata is flattened under "sops_" keys. Returns {data, metadata}.
Result<std::pair<Node, Node>> LoadDotenv(std::string_view content) {
  Node data, meta;
  data.kind = Node::Kind::kMap;
  meta.kind = Node::Kind::kMap;
  size_t pos = 0;
  int lineno = 0;
  while (pos < content.size()) {
    size_t nl = content.find('\n', pos);
    std::string_view line =
        content.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? content.size() : nl + 1;
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos)
      return InvalidArgument("dotenv: line " + std::to_string(lineno) + ": missing '='");
    std::string key(line.substr(0, eq));
    std::string value = ReplaceAll(std::string(line.substr(eq + 1)), "\\n", "\n");
    if (key.starts_with("sops_")) {
      Status st = Unflatten(&meta, std::string_view(key).substr(5), std::move(value));
      if (!st.ok()) return st.WithPrefix("dotenv: line " + std::to_string(lineno));
    } else {
      data.map.emplace_back(std::move(key), Scalar(Node::Type::kStr, std::move(value)));
    }
  }
  return std::make_pair(std::move(data), std::move(meta));
}

// ---- Metadata --------------------------------------------------------------

struct Metadata {
  std::vector<std::pair<std::string, std::string>> age;  // recipient, enc
  std::string lastmodified;
  std::string mac;
  std::string unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex;
  bool mac_only_encrypted = false;
};

std::string MetaString(const Node& sops, std::string_view key) {
  const Node* n = sops.Find(key);
  return n && n->kind == Node::Kind::kScalar ? n->value : "";
}

Status CollectAge(const Node& group, std::string_view where, Metadata* md) {
  const Node* age = group.Find("age");
  if (!age || age->kind == Node::Kind::kNull) return OkStatus();
  if (age->kind != Node::Kind::kList) return InvalidArgument(std::string(where) + ": not a list");
  for (const Node& e : age->list) {
    if (e.kind != Node::Kind::kMap)
      return InvalidArgument(std::string(where) + ": entry is not a map");
    md->age.emplace_back(MetaString(e, "recipient"), MetaString(e, "enc"));
  }
  return OkStatus();
}

Result<Metadata> ParseMetadata(const Node* sops) {
  if (!sops || sops->kind != Node::Kind::kMap)
    return InvalidArgument("not a sops document: no sops metadata");
  Metadata md;
  RETURN_IF_ERROR(CollectAge(*sops, "sops.age", &md));
  if (const Node* kg = sops->Find("key_groups"); kg && kg->kind == Node::Kind::kList) {
    if (kg->list.size() > 1) return InvalidArgument("sops: Shamir key groups are not supported");
    for (const Node& g : kg->list) RETURN_IF_ERROR(CollectAge(g, "sops.key_groups[0].age", &md));
  }
  if (md.age.empty()) {
    return InvalidArgument(
        "sops: the document has no age recipients (other key services are not supported)");
  }
  md.lastmodified = MetaString(*sops, "lastmodified");
  md.mac = MetaString(*sops, "mac");
  md.unencrypted_suffix = MetaString(*sops, "unencrypted_suffix");
  md.encrypted_suffix = MetaString(*sops, "encrypted_suffix");
  md.unencrypted_regex = MetaString(*sops, "unencrypted_regex");
  md.encrypted_regex = MetaString(*sops, "encrypted_regex");
  md.mac_only_encrypted = MetaString(*sops, "mac_only_encrypted") == "true";
  if (!MetaString(*sops, "unencrypted_comment_regex").empty() ||
      !MetaString(*sops, "encrypted_comment_regex").empty())
    return InvalidArgument("sops: comment regexes are not supported");
  if (md.mac.empty()) return InvalidArgument("sops: metadata has no mac");
  if (md.lastmodified.empty()) return InvalidArgument("sops: metadata has no lastmodified");
  return md;
}

Result<std::string> UnwrapDataKey(const Metadata& md, const std::vector<AgeIdentity>& ids) {
  Status last_other;
  for (size_t i = 0; i < md.age.size(); ++i) {
    Result<std::string> key = AgeDecrypt(md.age[i].second, ids);
    if (key.ok()) {
      if (key->size() != 32) {
        SecureWipe(&key.value());
        return InvalidArgument("sops.age[" + std::to_string(i) + "]: data key has the wrong size");
      }
      return key;
    }
    if (key.status().message() != "no identity matched any of the file's recipients" &&
        last_other.ok())
      last_other = key.status().WithPrefix("sops.age[" + std::to_string(i) + "]");
  }
  if (!last_other.ok()) return last_other;
  std::string recipients;
  for (const auto& [r, e] : md.age) recipients += (recipients.empty() ? "" : ", ") + r;
  return InvalidArgument("sops: no identity matched any of the document's age recipients (" +
                         recipients + ")");
}

// ---- Values ----------------------------------------------------------------

struct EncValue {
  std::string data, iv, tag, type;
};

bool ParseEnc(std::string_view s, EncValue* out) {
  constexpr std::string_view kPrefix = "ENC[AES256_GCM,data:";
  if (!s.starts_with(kPrefix) || !s.ends_with("]")) return false;
  s = s.substr(kPrefix.size(), s.size() - kPrefix.size() - 1);
  size_t iv = s.find(",iv:"), tag = s.find(",tag:"), type = s.find(",type:");
  if (iv == std::string_view::npos || tag == std::string_view::npos ||
      type == std::string_view::npos || !(iv < tag && tag < type))
    return false;
  std::string_view d = s.substr(0, iv), i = s.substr(iv + 4, tag - iv - 4),
                   t = s.substr(tag + 5, type - tag - 5), ty = s.substr(type + 6);
  if (d.empty() || ty.empty()) return false;
  // sops writes padded standard base64 (Go's StdEncoding).
  return internal::Base64DecodeStrict(d, true, &out->data) &&
         internal::Base64DecodeStrict(i, true, &out->iv) &&
         internal::Base64DecodeStrict(t, true, &out->tag) && !out->iv.empty() &&
         out->tag.size() == 16 && (out->type = std::string(ty), true);
}

std::string DisplayPath(const std::vector<std::string>& path) {
  std::string s;
  for (const std::string& p : path) s += (s.empty() ? "" : ".") + p;
  return s.empty() ? "(root)" : s;
}

// Opens one ENC[...] value into a typed scalar.
Result<Node> DecryptValue(std::string_view enc, std::string_view key, std::string_view aad,
                          const std::string& where) {
  EncValue v;
  if (!ParseEnc(enc, &v))
    return InvalidArgument(where + ": value is not in sops' encrypted format");
  std::string plain;
  if (!internal::AesGcmOpen(key, v.iv, v.data, v.tag, aad, &plain)) {
    return InvalidArgument(where +
                           ": value could not be decrypted (tampered, moved, or "
                           "encrypted with another data key)");
  }
  if (v.type == "str" || v.type == "time") return Scalar(Node::Type::kStr, std::move(plain));
  if (v.type == "bytes") return Scalar(Node::Type::kBytes, std::move(plain));
  if (v.type == "int") {
    long long i = 0;
    bool ok = ParseInt(plain, &i);
    SecureWipe(&plain);
    if (!ok) return InvalidArgument(where + ": decrypted value is not a valid int");
    return Scalar(Node::Type::kInt, std::to_string(i));
  }
  if (v.type == "float") {
    double d = 0;
    bool ok = ParseGoFloat(plain, &d);
    SecureWipe(&plain);
    if (!ok) return InvalidArgument(where + ": decrypted value is not a valid float");
    return Scalar(Node::Type::kFloat, FormatFloat(d));
  }
  if (v.type == "bool") {
    std::optional<bool> b = ParseGoBool(plain);
    SecureWipe(&plain);
    if (!b) return InvalidArgument(where + ": decrypted value is not a valid bool");
    return Scalar(Node::Type::kBool, *b ? "true" : "false");
  }
  SecureWipe(&plain);
  return InvalidArgument(where + ": unknown value type '" + v.type + "'");
}

struct Rules {
  const Metadata& md;
  std::optional<std::regex> unencrypted_regex, encrypted_regex;

  bool ShouldEncrypt(const std::vector<std::string>& path) const {
    bool enc = true;
    auto any = [&](auto pred) {
      for (const std::string& p : path) {
        if (pred(p)) return true;
      }
      return false;
    };
    if (!md.unencrypted_suffix.empty() &&
        any([&](const std::string& p) { return p.ends_with(md.unencrypted_suffix); }))
      enc = false;
    if (!md.encrypted_suffix.empty())
      enc = any([&](const std::string& p) { return p.ends_with(md.encrypted_suffix); });
    if (unencrypted_regex &&
        any([&](const std::string& p) { return std::regex_search(p, *unencrypted_regex); }))
      enc = false;
    if (encrypted_regex)
      enc = any([&](const std::string& p) { return std::regex_search(p, *encrypted_regex); });
    return enc;
  }
};

class Sha512 {
 public:
  Sha512() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_.get(), EVP_sha512(), nullptr); }
  void Update(std::string_view s) { EVP_DigestUpdate(ctx_.get(), s.data(), s.size()); }
  std::string HexUpper() {
    unsigned char out[64];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), out, &len);
    std::string hex = HexEncode(out, len);
    for (char& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return hex;
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

constexpr unsigned char kMacOnlyEncryptedInit[] = {
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69};

// Decrypts every encrypted value in place and feeds the MAC, in document order.
Status Walk(Node* n, std::vector<std::string>* path, const Rules& rules, std::string_view key,
            Sha512* mac) {
  switch (n->kind) {
    case Node::Kind::kNull:
      return OkStatus();
    case Node::Kind::kMap:
      for (auto& [k, v] : n->map) {
        path->push_back(k);
        Status st = Walk(&v, path, rules, key, mac);
        path->pop_back();
        RETURN_IF_ERROR(st);
      }
      return OkStatus();
    case Node::Kind::kList:
      for (Node& v : n->list) RETURN_IF_ERROR(Walk(&v, path, rules, key, mac));
      return OkStatus();
    case Node::Kind::kScalar:
      break;
  }
  const bool encrypted = rules.ShouldEncrypt(*path);
  if (encrypted) {
    const std::string where = DisplayPath(*path);
    if (n->type != Node::Type::kStr)
      return InvalidArgument(where + ": value is not in sops' encrypted format");
    if (!n->value.empty()) {  // sops leaves empty strings as they are
      std::string aad;
      for (const std::string& p : *path) aad += p + ":";
      ASSIGN_OR_RETURN(Node plain, DecryptValue(n->value, key, aad, where));
      *n = std::move(plain);
    }
  }
  if (!rules.md.mac_only_encrypted || encrypted) mac->Update(MacBytes(*n));
  return OkStatus();
}

// ---- Output ----------------------------------------------------------------

OJson ToJson(const Node& n) {
  switch (n.kind) {
    case Node::Kind::kNull:
      return nullptr;
    case Node::Kind::kMap: {
      OJson o = OJson::object();
      for (const auto& [k, v] : n.map) o[k] = ToJson(v);
      return o;
    }
    case Node::Kind::kList: {
      OJson a = OJson::array();
      for (const Node& v : n.list) a.push_back(ToJson(v));
      return a;
    }
    case Node::Kind::kScalar:
      break;
  }
  switch (n.type) {
    case Node::Type::kInt:
      return std::stoll(n.value);
    case Node::Type::kFloat:
      if (n.value == "+Inf" || n.value == "-Inf" || n.value == "NaN") return n.value;
      return std::strtod(n.value.c_str(), nullptr);
    case Node::Type::kBool:
      return n.value == "true";
    default:
      return n.value;
  }
}

void ToYaml(const Node& n, YAML::Emitter* out) {
  switch (n.kind) {
    case Node::Kind::kNull:
      *out << YAML::Null;
      return;
    case Node::Kind::kMap:
      *out << YAML::BeginMap;
      for (const auto& [k, v] : n.map) {
        *out << YAML::Key << k << YAML::Value;
        ToYaml(v, out);
      }
      *out << YAML::EndMap;
      return;
    case Node::Kind::kList:
      *out << YAML::BeginSeq;
      for (const Node& v : n.list) ToYaml(v, out);
      *out << YAML::EndSeq;
      return;
    case Node::Kind::kScalar:
      break;
  }
  if (n.type == Node::Type::kStr || n.type == Node::Type::kBytes) {
    *out << YAML::DoubleQuoted << n.value;
  } else if (n.type == Node::Type::kFloat &&
             (n.value == "+Inf" || n.value == "-Inf" || n.value == "NaN")) {
    *out << (n.value == "NaN" ? ".nan" : n.value == "+Inf" ? ".inf" : "-.inf");
  } else {
    *out << n.value;
  }
}

std::string ScalarText(const Node& n) { return n.value; }

// Wipes the strings of a JSON value built from decrypted data.
void WipeJson(OJson* j) {
  if (j->is_string()) {
    SecureWipe(&j->get_ref<std::string&>());
  } else if (j->is_structured()) {
    for (auto& v : *j) WipeJson(&v);
  }
}

std::string DumpAndWipe(OJson j) {
  std::string out = j.dump(2, ' ', false, OJson::error_handler_t::replace) + "\n";
  WipeJson(&j);
  return out;
}

}  // namespace

std::string_view SopsFormatName(SopsFormat f) {
  switch (f) {
    case SopsFormat::kYaml:
      return "yaml";
    case SopsFormat::kJson:
      return "json";
    case SopsFormat::kDotenv:
      return "dotenv";
    case SopsFormat::kBinary:
      return "binary";
  }
  return "?";
}

Result<SopsFormat> ParseSopsFormat(std::string_view name) {
  if (name == "yaml") return SopsFormat::kYaml;
  if (name == "json") return SopsFormat::kJson;
  if (name == "dotenv") return SopsFormat::kDotenv;
  if (name == "binary") return SopsFormat::kBinary;
  return InvalidArgument("unknown sops format '" + std::string(name) +
                         "' (expected yaml, json, dotenv or binary)");
}

Result<std::vector<SopsKeyStep>> ParseSopsKey(std::string_view key) {
  std::vector<SopsKeyStep> steps;
  const std::string err =
      "invalid sops key '" + std::string(key) + "': expected steps like [\"name\"] or [0]";
  size_t i = 0;
  while (i < key.size()) {
    if (key[i] != '[') return InvalidArgument(err);
    ++i;
    if (i < key.size() && key[i] == '"') {
      ++i;
      std::string name;
      while (i < key.size() && key[i] != '"') {
        if (key[i] == '\\' && i + 1 < key.size()) ++i;
        name.push_back(key[i++]);
      }
      if (i + 1 >= key.size() || key[i] != '"' || key[i + 1] != ']') return InvalidArgument(err);
      i += 2;
      steps.emplace_back(std::move(name));
    } else {
      size_t end = key.find(']', i);
      if (end == std::string_view::npos || end == i) return InvalidArgument(err);
      size_t idx = 0;
      auto [p, ec] = std::from_chars(key.data() + i, key.data() + end, idx);
      if (ec != std::errc() || p != key.data() + end) return InvalidArgument(err);
      steps.emplace_back(idx);
      i = end + 1;
    }
  }
  if (steps.empty()) return InvalidArgument(err);
  return steps;
}

bool LooksLikeSops(std::string_view content) {
  if (content.find("ENC[AES256_GCM,") == std::string_view::npos) return false;
  // Some line is "sops:" (YAML metadata map) or starts with "sops_mac=" (dotenv).
  for (size_t pos = 0; pos < content.size();) {
    std::string_view line = content.substr(pos, content.find('\n', pos) - pos);
    if (line.starts_with("sops_mac=")) return true;
    if (line.starts_with("sops:")) {
      std::string_view rest = line.substr(5);
      while (!rest.empty() && (rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\r'))
        rest.remove_prefix(1);
      if (rest.empty()) return true;
    }
    size_t nl = content.find('\n', pos);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  // A JSON "sops": { member.
  for (size_t p = content.find("\"sops\""); p != std::string_view::npos;
       p = content.find("\"sops\"", p + 1)) {
    size_t i = p + 6;
    while (i < content.size() && std::isspace(static_cast<unsigned char>(content[i]))) ++i;
    if (i >= content.size() || content[i] != ':') continue;
    ++i;
    while (i < content.size() && std::isspace(static_cast<unsigned char>(content[i]))) ++i;
    if (i < content.size() && content[i] == '{') return true;
  }
  return false;
}

SopsFormat DetectSopsFormat(std::string_view display_path, std::string_view content) {
  auto ends = [&](std::string_view ext) { return display_path.ends_with(ext); };
  if (ends(".yaml") || ends(".yml")) return SopsFormat::kYaml;
  if (ends(".json")) return SopsFormat::kJson;
  if (ends(".env")) return SopsFormat::kDotenv;
  size_t i = 0;
  while (i < content.size() && std::isspace(static_cast<unsigned char>(content[i]))) ++i;
  if (i < content.size() && content[i] == '{') {
    try {
      OJson j = OJson::parse(content.begin(), content.end());
      if (j.is_object() && j.size() == 2 && j.contains("data") && j.contains("sops") &&
          j["data"].is_string())
        return SopsFormat::kBinary;
    } catch (const nlohmann::json::exception&) {
    }
    return SopsFormat::kJson;
  }
  if (content.starts_with("sops_") || content.find("\nsops_") != std::string_view::npos)
    return SopsFormat::kDotenv;
  return SopsFormat::kYaml;
}

Result<std::string> SopsDecrypt(std::string_view display_path, std::string_view content,
                                const SopsSelector* selector,
                                const std::vector<AgeIdentity>& identities) {
  const SopsFormat format =
      selector && selector->format ? *selector->format : DetectSopsFormat(display_path, content);
  std::vector<SopsKeyStep> steps;
  if (selector && !selector->key.empty()) {
    ASSIGN_OR_RETURN(steps, ParseSopsKey(selector->key));
  }
  Node data, sops;
  TreeWiper wipe_data{&data};
  if (format == SopsFormat::kDotenv) {
    ASSIGN_OR_RETURN(auto both, LoadDotenv(content));
    data = std::move(both.first);
    sops = std::move(both.second);
  } else {
    Node doc;
    if (format == SopsFormat::kYaml) {
      ASSIGN_OR_RETURN(doc, LoadYaml(content));
    } else {
      ASSIGN_OR_RETURN(doc, LoadJson(content));
    }
    if (doc.kind != Node::Kind::kMap)
      return InvalidArgument("not a sops document: top level is not a map");
    data.kind = Node::Kind::kMap;
    for (auto& [k, v] : doc.map) {
      if (k == "sops")
        sops = std::move(v);
      else
        data.map.emplace_back(std::move(k), std::move(v));
    }
    if (format == SopsFormat::kBinary) {
      const Node* d = data.Find("data");
      if (!d || data.map.size() != 1 || d->kind != Node::Kind::kScalar)
        return InvalidArgument("sops binary document: expected a single \"data\" value");
    }
  }
  ASSIGN_OR_RETURN(Metadata md, ParseMetadata(&sops));
  Rules rules{md, std::nullopt, std::nullopt};
  try {
    if (!md.unencrypted_regex.empty()) rules.unencrypted_regex.emplace(md.unencrypted_regex);
    if (!md.encrypted_regex.empty()) rules.encrypted_regex.emplace(md.encrypted_regex);
  } catch (const std::regex_error&) {
    return InvalidArgument("sops: metadata has an invalid regex");
  }

  ASSIGN_OR_RETURN(std::string key, UnwrapDataKey(md, identities));
  Sha512 mac;
  if (md.mac_only_encrypted)
    mac.Update(std::string_view(reinterpret_cast<const char*>(kMacOnlyEncryptedInit),
                                sizeof kMacOnlyEncryptedInit));
  std::vector<std::string> path;
  Status walked = Walk(&data, &path, rules, key, &mac);
  if (!walked.ok()) {
    SecureWipe(&key);
    return walked;
  }
  Result<Node> stored = DecryptValue(md.mac, key, md.lastmodified, "sops.mac");
  SecureWipe(&key);
  if (!stored.ok()) return stored.status();
  if (!ConstantTimeEquals(stored->value, mac.HexUpper())) {
    return InvalidArgument(
        "sops: MAC mismatch: the document's values were modified after it was encrypted");
  }

  // Select what to return.
  const Node* sel = &data;
  std::string walked_path;
  for (const SopsKeyStep& step : steps) {
    if (const std::string* name = std::get_if<std::string>(&step)) {
      walked_path += "[\"" + *name + "\"]";
      sel = sel->kind == Node::Kind::kMap ? sel->Find(*name) : nullptr;
    } else {
      size_t idx = std::get<size_t>(step);
      walked_path += "[" + std::to_string(idx) + "]";
      sel = sel->kind == Node::Kind::kList && idx < sel->list.size() ? &sel->list[idx] : nullptr;
    }
    if (!sel) return NotFound("sops key " + walked_path + ": not found in the document");
  }
  if (!steps.empty()) {
    if (sel->kind == Node::Kind::kScalar) return ScalarText(*sel);
    if (sel->kind == Node::Kind::kNull) return std::string();
    return DumpAndWipe(ToJson(*sel));
  }
  switch (format) {
    case SopsFormat::kBinary:
      return data.Find("data")->value;
    case SopsFormat::kDotenv: {
      std::string out;
      for (const auto& [k, v] : data.map) out += k + "=" + ReplaceAll(v.value, "\n", "\\n") + "\n";
      return out;
    }
    case SopsFormat::kJson:
      return DumpAndWipe(ToJson(data));
    case SopsFormat::kYaml: {
      YAML::Emitter e;
      ToYaml(data, &e);
      return std::string(e.c_str()) + "\n";
    }
  }
  return Internal("unreachable sops format");
}

}  // namespace stackctl::secrets
