#include "compose/loader.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "common/yaml_tree.h"
#include "compose/interpolation.h"
#include "compose/validate.h"

namespace stackctl::compose {
namespace {

struct FileMarks {
  std::string filename;
  Marks marks;
};

// Error sink shared by the stages: every message is located.
class Diag {
 public:
  explicit Diag(std::vector<std::string>* errors) : errors_(errors) {}
  void SetFile(const FileMarks* f) { file_ = f; }
  void Error(const std::string& path, const std::string& msg) {
    errors_->push_back(Located(file_->filename, file_->marks, path, msg));
  }
  std::vector<std::string>* errors() { return errors_; }
  const FileMarks& file() const { return *file_; }

 private:
  std::vector<std::string>* errors_;
  const FileMarks* file_ = nullptr;
};

std::string ScalarText(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::floor(d) == d && std::fabs(d) < 1e21) {
      char buf[64];
      snprintf(buf, sizeof buf, "%.0f", d);
      return buf;
    }
    std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
    return s;
  }
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// list ["K=V", "K"] or map {K: V} -> {K: string-or-null}; `null_as_empty`
// turns valueless entries into "" (labels) instead of null (environment).
Json ListOrDict(const Json& v, const std::string& sep, bool null_as_empty) {
  Json out = Json::object();
  if (v.is_object()) {
    for (const auto& [k, val] : v.items()) {
      if (val.is_null()) {
        out[k] = null_as_empty ? Json("") : Json(nullptr);
      } else {
        out[k] = ScalarText(val);
      }
    }
  } else if (v.is_array()) {
    for (const auto& item : v) {
      std::string s = ScalarText(item);
      size_t eq = s.find(sep);
      if (eq == std::string::npos) {
        out[s] = null_as_empty ? Json("") : Json(nullptr);
      } else {
        out[s.substr(0, eq)] = s.substr(eq + sep.size());
      }
    }
  }
  return out;
}

Json StringOrList(const Json& v) {
  if (v.is_string()) return Json::array({v});
  return v;
}

bool ParseUint(const std::string& s, int64_t* out) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  *out = std::stoll(s);
  return true;
}

bool ParseRange(const std::string& s, int64_t* lo, int64_t* hi) {
  size_t dash = s.find('-');
  if (dash == std::string::npos) {
    if (!ParseUint(s, lo)) return false;
    *hi = *lo;
    return true;
  }
  if (!ParseUint(s.substr(0, dash), lo) || !ParseUint(s.substr(dash + 1), hi)) return false;
  return *lo <= *hi;
}

// Short port syntax: [ip:][published[-end]:]target[-end][/proto].
Status ParsePortSpec(const std::string& spec, Json* out, std::vector<std::string>* warnings) {
  std::string rest = spec;
  std::string proto = "tcp";
  size_t slash = rest.rfind('/');
  if (slash != std::string::npos) {
    proto = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (proto != "tcp" && proto != "udp" && proto != "sctp") {
      return InvalidArgument("invalid proto: " + proto);
    }
  }
  std::string ip, pub, target;
  if (!rest.empty() && rest[0] == '[') {  // [ipv6]:pub:target
    size_t close = rest.find(']');
    if (close == std::string::npos) return InvalidArgument("invalid port format: " + spec);
    ip = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (rest.empty() || rest[0] != ':') return InvalidArgument("invalid port format: " + spec);
    rest = rest.substr(1);
    size_t c = rest.find(':');
    if (c == std::string::npos) return InvalidArgument("invalid port format: " + spec);
    pub = rest.substr(0, c);
    target = rest.substr(c + 1);
  } else {
    std::vector<std::string> parts;
    size_t pos = 0;
    while (true) {
      size_t c = rest.find(':', pos);
      parts.push_back(rest.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
      if (c == std::string::npos) break;
      pos = c + 1;
    }
    if (parts.size() == 1) {
      target = parts[0];
    } else if (parts.size() == 2) {
      pub = parts[0];
      target = parts[1];
    } else if (parts.size() == 3) {
      ip = parts[0];
      pub = parts[1];
      target = parts[2];
    } else {
      return InvalidArgument("invalid port format: " + spec);
    }
  }
  int64_t tlo, thi, plo = 0, phi = 0;
  if (!ParseRange(target, &tlo, &thi) || tlo == 0 || thi > 65535) {
    return InvalidArgument("invalid containerPort: " + target);
  }
  if (!pub.empty()) {
    if (!ParseRange(pub, &plo, &phi) || phi > 65535) {
      return InvalidArgument("invalid hostPort: " + pub);
    }
    if (phi - plo != thi - tlo) {
      if (thi != tlo) {
        return InvalidArgument("invalid ranges specified for container and host ports: " + spec);
      }
    }
  }
  if (!ip.empty()) {
    for (int64_t p = tlo; p <= thi; ++p) {
      std::string pstr = pub.empty() ? "" : std::to_string(plo + (p - tlo));
      warnings->push_back("ignoring IP-address (" + ip + ":" + pstr + ":" + std::to_string(p) +
                          "/" + proto + ") service will listen on '0.0.0.0'");
    }
  }
  *out = Json::array();
  if (!pub.empty() && tlo == thi && phi > plo) {  // "8000-8010:80": a range of published ports
    for (int64_t p = plo; p <= phi; ++p) {
      out->push_back({{"target", tlo}, {"protocol", proto}, {"mode", "ingress"}, {"published", p}});
    }
    return OkStatus();
  }
  for (int64_t p = tlo; p <= thi; ++p) {
    Json port = {{"target", p}, {"protocol", proto}, {"mode", "ingress"}};
    if (!pub.empty()) port["published"] = (thi == tlo) ? plo : plo + (p - tlo);
    out->push_back(port);
  }
  return OkStatus();
}

bool IsFilePath(const std::string& s) {
  if (s.empty()) return false;
  if (s[0] == '.' || s[0] == '/' || s[0] == '~') return true;
  return s.size() >= 2 && std::isalpha(static_cast<unsigned char>(s[0])) && s[1] == ':';
}

Status ParseVolumeSpec(const std::string& spec, Json* out) {
  std::vector<std::string> parts;
  std::string buf;
  for (size_t i = 0; i < spec.size(); ++i) {
    char c = spec[i];
    bool win_drive = c == ':' && buf.size() == 1 && std::isalpha(static_cast<unsigned char>(buf[0])) &&
                     parts.empty();
    if (c == ':' && !win_drive) {
      parts.push_back(buf);
      buf.clear();
    } else {
      buf += c;
    }
  }
  parts.push_back(buf);
  for (const auto& p : parts) {
    if (p.empty()) return InvalidArgument("invalid spec: " + spec + ": empty section between colons");
  }
  if (parts.size() > 3) return InvalidArgument("invalid spec: " + spec + ": too many colons");
  Json v = Json::object();
  if (parts.size() == 1) {
    v["target"] = parts[0];
  } else {
    v["source"] = parts[0];
    v["target"] = parts[1];
  }
  if (parts.size() == 3) {
    size_t pos = 0;
    std::string opts = parts[2];
    while (pos <= opts.size()) {
      size_t comma = opts.find(',', pos);
      std::string o = opts.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      if (o == "ro") {
        v["read_only"] = true;
      } else if (o == "rw") {
        v["read_only"] = false;
      } else if (o == "nocopy") {
        v["volume"] = {{"nocopy", true}};
      } else if (o == "shared" || o == "rshared" || o == "slave" || o == "rslave" ||
                 o == "private" || o == "rprivate") {
        v["bind"] = {{"propagation", o}};
      }
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
  }
  std::string src = v.value("source", "");
  v["type"] = src.empty() ? "volume" : (IsFilePath(src) ? "bind" : "volume");
  *out = v;
  return OkStatus();
}

struct Ctx {
  const LoadOptions& opts;
  FileSource& fs;
  const Lookup& lookup;
  std::string base_dir;
  std::string working_dir;
  std::vector<std::string>* warnings;
};

std::string ExpandBind(const std::string& src, const Ctx& c) {
  std::string p = src;
  if (!p.empty() && p[0] == '~') {
    std::string home = c.lookup("HOME").value_or("");
    p = home + p.substr(1);
  }
  bool abs = !p.empty() && (p[0] == '/' || (p.size() >= 2 && p[1] == ':'));
  if (!abs) p = JoinPath(c.working_dir, p);
  return p;
}

void NormalizeService(const std::string& name, Json& s, Ctx& c, Diag& d) {
  const std::string base = "services." + name;
  if (s.is_null()) s = Json::object();
  if (s.contains("command") && s["command"].is_string()) {
    auto words = SplitShellWords(s["command"].get<std::string>());
    if (!words.ok()) d.Error(base + ".command", words.status().message());
    else s["command"] = *words;
  }
  if (s.contains("entrypoint") && s["entrypoint"].is_string()) {
    auto words = SplitShellWords(s["entrypoint"].get<std::string>());
    if (!words.ok()) d.Error(base + ".entrypoint", words.status().message());
    else s["entrypoint"] = *words;
  }
  for (const char* k : {"dns", "dns_search", "tmpfs", "env_file"}) {
    if (s.contains(k)) s[k] = StringOrList(s[k]);
  }
  // environment: env_file entries first, then environment; empty or unset
  // values are taken from the environment when it has them (docker's rule).
  Json env = Json::object();
  auto update = [&](const Json& vars) {
    for (const auto& [k, v] : vars.items()) {
      auto looked = c.lookup(k);
      if ((v.is_null() || v.get<std::string>().empty()) && looked) {
        env[k] = *looked;
      } else {
        env[k] = v;
      }
    }
  };
  if (s.contains("env_file")) {
    std::vector<std::string> lines;
    size_t i = 0;
    for (const auto& f : s["env_file"]) {
      std::string path = JoinPath(c.base_dir, f.get<std::string>());
      auto content = c.fs.Read(path);
      std::string p = base + ".env_file." + std::to_string(i++);
      if (!content.ok()) {
        d.Error(p, content.status().message());
        continue;
      }
      auto parsed = ParseEnvFile(*content, path, c.lookup);
      if (!parsed.ok()) {
        d.Error(p, parsed.status().message());
        continue;
      }
      lines.insert(lines.end(), parsed->begin(), parsed->end());
    }
    update(ListOrDict(Json(lines), "=", false));
    s.erase("env_file");
  }
  if (s.contains("environment")) update(ListOrDict(s["environment"], "=", false));
  if (s.contains("environment") || !env.empty()) s["environment"] = env;
  if (s.contains("labels")) s["labels"] = ListOrDict(s["labels"], "=", true);
  if (s.contains("sysctls")) s["sysctls"] = ListOrDict(s["sysctls"], "=", true);
  if (s.contains("extra_hosts") && s["extra_hosts"].is_object()) {
    Json list = Json::array();
    for (const auto& [k, v] : s["extra_hosts"].items()) list.push_back(k + ":" + ScalarText(v));
    s["extra_hosts"] = list;
  }
  if (s.contains("extra_hosts")) {
    for (auto& h : s["extra_hosts"]) h = ScalarText(h);
  }
  if (s.contains("healthcheck") && s["healthcheck"].contains("test") &&
      s["healthcheck"]["test"].is_string()) {
    s["healthcheck"]["test"] = Json::array({"CMD-SHELL", s["healthcheck"]["test"]});
  }
  if (s.contains("ports")) {
    Json ports = Json::array();
    size_t i = 0;
    for (const auto& p : s["ports"]) {
      std::string pp = base + ".ports." + std::to_string(i++);
      if (p.is_object()) {
        Json q = p;
        if (q.contains("published") && q["published"].is_string()) {
          int64_t n;
          if (!ParseUint(q["published"].get<std::string>(), &n) || n > 65535) {
            d.Error(pp + ".published", "invalid published port " + q["published"].dump(-1, ' ', false, Json::error_handler_t::replace));
            continue;
          }
          q["published"] = n;
        }
        if (!q.contains("target")) {
          d.Error(pp, "target is required");
          continue;
        }
        for (auto it = q.begin(); it != q.end();) {
          if (it.key().rfind("x-", 0) == 0) it = q.erase(it);
          else ++it;
        }
        ports.push_back(q);
        continue;
      }
      Json expanded;
      Status st = ParsePortSpec(ScalarText(p), &expanded, c.warnings);
      if (!st.ok()) {
        d.Error(pp, st.message());
        continue;
      }
      for (auto& e : expanded) ports.push_back(e);
    }
    s["ports"] = ports;
  }
  if (s.contains("volumes")) {
    Json vols = Json::array();
    size_t i = 0;
    for (const auto& v : s["volumes"]) {
      std::string vp = base + ".volumes." + std::to_string(i++);
      Json m;
      if (v.is_string()) {
        Status st = ParseVolumeSpec(v.get<std::string>(), &m);
        if (!st.ok()) {
          d.Error(vp, st.message());
          continue;
        }
      } else {
        m = v;
        for (auto it = m.begin(); it != m.end();) {
          if (it.key().rfind("x-", 0) == 0) it = m.erase(it);
          else ++it;
        }
        if (!m.contains("type")) {
          d.Error(vp, "type is required (bind, volume or tmpfs)");
          continue;
        }
        std::string type = m["type"].get<std::string>();
        if (type != "bind" && type != "volume" && type != "tmpfs" && type != "npipe") {
          d.Error(vp + ".type", "must be one of bind, volume, tmpfs, npipe, not " + m["type"].dump(-1, ' ', false, Json::error_handler_t::replace));
          continue;
        }
        if (!m.contains("target")) {
          d.Error(vp, "target is required");
          continue;
        }
        if (m.contains("tmpfs") && m["tmpfs"].contains("size") && m["tmpfs"]["size"].is_string()) {
          int64_t bytes;
          if (!ParseRamBytes(m["tmpfs"]["size"].get<std::string>(), &bytes)) {
            d.Error(vp + ".tmpfs.size", "invalid size " + m["tmpfs"]["size"].dump(-1, ' ', false, Json::error_handler_t::replace));
            continue;
          }
          m["tmpfs"]["size"] = bytes;
        }
      }
      if (m["type"] == "bind") {
        std::string src = m.value("source", "");
        if (src.empty()) {
          d.Error(vp, "invalid mount config for type \"bind\": field Source must not be empty");
          continue;
        }
        m["source"] = ExpandBind(src, c);
      }
      vols.push_back(m);
    }
    s["volumes"] = vols;
  }
  for (const char* k : {"secrets", "configs"}) {
    if (!s.contains(k)) continue;
    Json refs = Json::array();
    for (const auto& r : s[k]) {
      if (r.is_string()) {
        refs.push_back({{"source", r}});
      } else {
        Json q = r;
        for (auto it = q.begin(); it != q.end();) {
          if (it.key().rfind("x-", 0) == 0) it = q.erase(it);
          else ++it;
        }
        refs.push_back(q);
      }
    }
    s[k] = refs;
  }
  if (s.contains("networks") && s["networks"].is_array()) {
    Json m = Json::object();
    for (const auto& n : s["networks"]) m[n.get<std::string>()] = nullptr;
    s["networks"] = m;
  }
  if (s.contains("ulimits")) {
    for (auto& [k, v] : s["ulimits"].items()) {
      if (v.is_number()) v = Json{{"soft", v}, {"hard", v}};
    }
  }
  if (s.contains("deploy") && s["deploy"].is_null()) s.erase("deploy");
  if (s.contains("deploy") && s["deploy"].contains("labels")) {
    s["deploy"]["labels"] = ListOrDict(s["deploy"]["labels"], "=", true);
  }
  if (s.contains("logging") && s["logging"].contains("options")) {
    Json o = Json::object();
    for (const auto& [k, v] : s["logging"]["options"].items()) {
      if (!v.is_null()) o[k] = ScalarText(v);
    }
    s["logging"]["options"] = o;
  }
}

// Top-level networks/volumes/secrets/configs entries.
void NormalizeObjects(const char* kind, const char* singular, Json& objs, Ctx& c, Diag& d,
                      bool resolve_file) {
  for (auto& [key, v] : objs.items()) {
    std::string p = std::string(kind) + "." + key;
    if (v.is_null()) v = Json::object();
    for (auto it = v.begin(); it != v.end();) {
      if (it.key().rfind("x-", 0) == 0) it = v.erase(it);
      else ++it;
    }
    if (v.contains("external")) {
      Json ext = v["external"];
      bool external = ext.is_boolean() ? ext.get<bool>() : true;
      if (ext.is_object() && ext.contains("name")) {
        if (v.contains("name") && v["name"] != ext["name"]) {
          d.Error(p, std::string(singular) + ".external.name and " + singular +
                         ".name conflict; only use " + singular + ".name");
        }
        c.warnings->push_back(std::string(singular) + " " + key + ": " + singular +
                              ".external.name is deprecated in favor of " + singular + ".name");
        v["name"] = ext["name"];
      }
      v["external"] = external;
      if (external) {
        for (const char* k : {"driver", "driver_opts", "ipam", "internal", "file", "labels"}) {
          if (v.contains(k) && !(std::string(k) == "labels")) {
            d.Error(p, std::string("conflicting parameters \"external\" and \"") + k +
                           "\" specified for " + singular + " \"" + key + "\"");
          }
        }
        if (!v.contains("name")) v["name"] = key;
      } else {
        v.erase("external");
      }
    }
    if (v.contains("labels")) v["labels"] = ListOrDict(v["labels"], "=", true);
    if (v.contains("driver_opts")) {
      for (auto& [k, o] : v["driver_opts"].items()) o = ScalarText(o);
    }
    if (resolve_file && v.contains("file")) {
      v["file"] = JoinPath(c.base_dir, v["file"].get<std::string>());
    }
  }
}

Result<int> ParseVersion(const Json& root, const std::string& filename,
                         const Marks& marks, std::string* version) {
  // As the current docker CLI (28.x): no version, and "3", mean the newest
  // schema it knows (3.13); docker 20.10 read "3" as 3.0 and knew up to 3.9.
  if (!root.contains("version")) {
    *version = "";
    return kNewestMinorVersion;
  }
  const Json& v = root["version"];
  std::string s = v.is_string() ? v.get<std::string>() : ScalarText(v);
  *version = s;
  if (s == "3") return kNewestMinorVersion;
  if (s.size() >= 3 && s.size() <= 4 && s.compare(0, 2, "3.") == 0 &&
      std::all_of(s.begin() + 2, s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) &&
      (s.size() == 3 || s[2] != '0')) {
    int minor = std::stoi(s.substr(2));
    if (minor <= kNewestMinorVersion) return minor;
  }
  return Status(InvalidArgument(
      Located(filename, marks, "version",
              "unsupported Compose file version: " + s + " (supported: 3.0 to 3." +
                  std::to_string(kNewestMinorVersion) + ")")));
}

struct LoadedFile {
  FileMarks marks;
  std::string version;
  Json root;
};

// Merges override service `o` into base `b` (docker CLI 28 semantics).
void MergeValue(Json& b, const Json& o, const std::string& key);

// What the per-file stages found. A stage's findings are reported only when
// the stages before it found nothing in the whole file: an uninterpolated
// value is not validated, an invalid one not normalized.
struct StageErrors {
  std::vector<std::string> interpolation, validation, normalization;
};

// Interpolates, validates and normalizes each service of a file's
// `services` map on its own, each unpacked once (ParseYaml packed it) and
// packed again. A service that interpolated and validated cleanly is
// normalized at once, before the rest of the file is checked; its
// normalization findings are dropped with the rest if the file fails an
// earlier stage.
void LoadServices(Json& services, int minor, const FileMarks& marks, Ctx& ctx,
                  std::set<std::string>* unset, StageErrors* found) {
  for (auto& [name, node] : services.items()) {
    PackedJson::EditNode(node, [&, &name = name](Json& s) {
      const size_t interpolation = found->interpolation.size();
      const size_t validation = found->validation.size();
      InterpolateValue(&s, {"services", name}, marks.filename, marks.marks, ctx.lookup,
                       &found->interpolation, unset);
      if (found->interpolation.size() != interpolation) return;
      ValidateService(s, name, minor, marks.filename, marks.marks, &found->validation);
      if (found->validation.size() != validation) return;
      Diag d(&found->normalization);
      d.SetFile(&marks);
      NormalizeService(name, s, ctx, d);
    });
  }
}

void Append(std::vector<std::string>* to, const std::vector<std::string>& from) {
  to->insert(to->end(), from.begin(), from.end());
}

// The stages of one file: its services one at a time (LoadServices), the
// rest of the file as a tree. The keys before and after "services" are
// checked as trees of their own, so that every stage reports its findings
// in the order of the file's keys, as one walk over the file would.
void CheckFileStages(LoadedFile& f, int minor, Ctx& ctx, std::set<std::string>* unset,
                     StageErrors* found) {
  Json& before = f.root;  // the keys before "services", while it is split
  Json after = Json::object();
  Json services;
  if (before.contains("services") && before["services"].is_object()) {
    auto& head = before.get_ref<Json::object_t&>();
    auto& tail = after.get_ref<Json::object_t&>();
    for (auto it = head.upper_bound("services"); it != head.end();) tail.insert(head.extract(it++));
    services = std::move(head["services"]);
    head.erase("services");
  }
  StageErrors head_found, services_found, tail_found;
  if (!services.is_null()) LoadServices(services, minor, f.marks, ctx, unset, &services_found);
  const std::string& file = f.marks.filename;
  const Marks& marks = f.marks.marks;
  InterpolateTree(&before, file, marks, ctx.lookup, &head_found.interpolation, unset);
  InterpolateTree(&after, file, marks, ctx.lookup, &tail_found.interpolation, unset);
  for (const StageErrors* part : {&head_found, &services_found, &tail_found}) {
    Append(&found->interpolation, part->interpolation);
  }
  if (found->interpolation.empty()) {
    ValidateFile(before, minor, file, marks, &head_found.validation);
    ValidateFile(after, minor, file, marks, &tail_found.validation);
    for (const StageErrors* part : {&head_found, &services_found, &tail_found}) {
      Append(&found->validation, part->validation);
    }
  }
  found->normalization = std::move(services_found.normalization);
  if (!services.is_null()) before["services"] = std::move(services);
  before.get_ref<Json::object_t&>().merge(after.get_ref<Json::object_t&>());
}

Json MergeKeyed(const Json& base, const Json& over, const char* field, bool sort) {
  std::vector<std::pair<std::string, Json>> items;
  auto keyof = [&](const Json& e) { return e.contains(field) ? e[field].dump(-1, ' ', false, Json::error_handler_t::replace) : std::string("null"); };
  for (const auto& e : base) {
    std::string k = keyof(e);
    auto it = std::find_if(items.begin(), items.end(), [&](auto& p) { return p.first == k; });
    if (it == items.end()) items.emplace_back(k, e);
    else it->second = e;
  }
  for (const auto& e : over) {
    std::string k = keyof(e);
    auto it = std::find_if(items.begin(), items.end(), [&](auto& p) { return p.first == k; });
    if (it == items.end()) items.emplace_back(k, e);
    else MergeValue(it->second, e, "");
  }
  if (sort) {
    std::stable_sort(items.begin(), items.end(), [&](const auto& a, const auto& b) {
      const Json& x = a.second.contains(field) ? a.second[field] : Json();
      const Json& y = b.second.contains(field) ? b.second[field] : Json();
      return x < y;
    });
  }
  Json out = Json::array();
  for (auto& [k, e] : items) out.push_back(e);
  return out;
}

void MergeValue(Json& b, const Json& o, const std::string& key) {
  if (o.is_null()) return;
  if (key == "command" || key == "entrypoint") {
    b = o;
    return;
  }
  if (key == "ports" && b.is_array()) {
    b = MergeKeyed(b, o, "published", true);
    return;
  }
  if (key == "volumes" && b.is_array()) {
    b = MergeKeyed(b, o, "target", true);
    return;
  }
  if ((key == "secrets" || key == "configs") && b.is_array()) {
    b = MergeKeyed(b, o, "source", true);
    return;
  }
  if (key == "logging" && b.is_object() && o.is_object()) {
    std::string bd = b.value("driver", ""), od = o.value("driver", "");
    if (!od.empty() && od != bd) {
      b = o;
      return;
    }
  }
  if (key == "ulimits" && b.is_object() && o.is_object()) {
    for (const auto& [k, v] : o.items()) b[k] = v;
    return;
  }
  if (b.is_object() && o.is_object()) {
    for (const auto& [k, v] : o.items()) {
      if (b.contains(k)) MergeValue(b[k], v, k);
      else b[k] = v;
    }
    return;
  }
  if (b.is_array() && o.is_array()) {
    for (const auto& v : o) b.push_back(v);
    return;
  }
  // Scalars: the override wins unless it is a zero value (mergo semantics).
  if ((o.is_boolean() && !o.get<bool>()) || (o.is_string() && o.get<std::string>().empty())) {
    if (!b.is_null()) return;
  }
  b = o;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "\n") + l;
  return out;
}

int64_t PortKey(const Json& p) { return p.value("published", int64_t{0}); }

}  // namespace

Result<std::vector<std::string>> SplitShellWords(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) {
        out.push_back(cur);
        cur.clear();
        in_word = false;
      }
    } else if (c == '\\') {
      if (i + 1 >= s.size()) return InvalidArgument("invalid command line string: " + Json(s).dump(-1, ' ', false, Json::error_handler_t::replace));
      cur += s[++i];
      in_word = true;
    } else if (c == '\'') {
      size_t end = s.find('\'', i + 1);
      if (end == std::string::npos) return InvalidArgument("invalid command line string: " + Json(s).dump(-1, ' ', false, Json::error_handler_t::replace));
      cur += s.substr(i + 1, end - i - 1);
      i = end;
      in_word = true;
    } else if (c == '"') {
      size_t j = i + 1;
      for (; j < s.size() && s[j] != '"'; ++j) {
        if (s[j] == '\\' && j + 1 < s.size() &&
            (s[j + 1] == '"' || s[j + 1] == '\\' || s[j + 1] == '$' || s[j + 1] == '`')) {
          ++j;
        }
        cur += s[j];
      }
      if (j >= s.size()) return InvalidArgument("invalid command line string: " + Json(s).dump(-1, ' ', false, Json::error_handler_t::replace));
      i = j;
      in_word = true;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) out.push_back(cur);
  return out;
}

bool ParseRamBytes(const std::string& in, int64_t* bytes) {
  std::string s = in;
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return false;
  std::string num = s.substr(0, i);
  if (std::count(num.begin(), num.end(), '.') > 1) return false;
  std::string unit = s.substr(i);
  if (!unit.empty() && unit[0] == ' ') unit = unit.substr(1);
  std::string u;
  for (char c : unit) u += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  double mult = 1;
  if (!u.empty()) {
    char p = u[0];
    std::string suffix = u.substr(1);
    if (p == 'b' && suffix.empty()) {
      mult = 1;
    } else {
      if (suffix != "" && suffix != "b" && suffix != "i" && suffix != "ib") return false;
      switch (p) {
        case 'k': mult = 1024.0; break;
        case 'm': mult = 1024.0 * 1024; break;
        case 'g': mult = 1024.0 * 1024 * 1024; break;
        case 't': mult = 1024.0 * 1024 * 1024 * 1024; break;
        case 'p': mult = 1024.0 * 1024 * 1024 * 1024 * 1024; break;
        default: return false;
      }
    }
  }
  double v = std::strtod(num.c_str(), nullptr) * mult;
  if (v > 9.2e18) return false;
  *bytes = static_cast<int64_t>(v);
  return true;
}

Result<Project> LoadProject(const LoadOptions& options, FileSource& fs) {
  if (options.files.empty()) return InvalidArgument("no compose file given");
  std::vector<std::string> errors;
  Project project;
  project.base_dir = DirName(options.files[0]);
  project.working_dir = options.working_dir.empty() ? project.base_dir : options.working_dir;

  // Environment: explicit env, then --env-file and .env values for unset keys.
  std::map<std::string, std::string> env = options.env;
  auto env_lookup = [&env](const std::string& k) -> std::optional<std::string> {
    auto it = env.find(k);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  std::vector<std::string> env_paths = options.env_files;
  if (options.read_dotenv) {
    std::string dotenv = JoinPath(project.base_dir, ".env");
    if (fs.Exists(dotenv)) env_paths.insert(env_paths.begin(), dotenv);
  }
  for (const auto& p : env_paths) {
    auto content = fs.Read(p);
    if (!content.ok()) {
      errors.push_back(content.status().message());
      continue;
    }
    auto lines = ParseEnvFile(*content, p, env_lookup);
    if (!lines.ok()) {
      errors.push_back(lines.status().message());
      continue;
    }
    for (const auto& l : *lines) {
      size_t eq = l.find('=');
      if (eq == std::string::npos) continue;
      env.emplace(l.substr(0, eq), l.substr(eq + 1));
    }
  }
  Lookup lookup = env_lookup;
  Ctx ctx{options, fs, lookup, project.base_dir, project.working_dir, &project.warnings};

  std::vector<LoadedFile> loaded;
  loaded.reserve(options.files.size());
  std::set<std::string> unset;
  for (const auto& path : options.files) {
    auto content = fs.Read(path);
    if (!content.ok()) {
      errors.push_back(content.status().message());
      continue;
    }
    // Each service stays packed between the stages below, which unpack one at a time.
    auto doc = ParseYaml(path, *content, options.max_yaml_nodes, "services");
    if (!doc.ok()) {
      errors.push_back(doc.status().message());
      continue;
    }
    LoadedFile f;
    f.marks.filename = path;
    f.marks.marks = std::move(doc->marks);
    f.root = std::move(doc->root);
    if (f.root.is_null()) f.root = Json::object();
    if (!f.root.is_object()) {
      errors.push_back(path + ": top-level object must be a mapping");
      continue;
    }
    auto minor = ParseVersion(f.root, path, f.marks.marks, &f.version);
    if (!minor.ok()) {
      errors.push_back(minor.status().message());
      continue;
    }
    StageErrors found;
    CheckFileStages(f, *minor, ctx, &unset, &found);
    if (!found.interpolation.empty()) {
      Append(&errors, found.interpolation);
      continue;
    }
    if (!found.validation.empty()) {
      Append(&errors, found.validation);
      continue;
    }
    Append(&errors, found.normalization);
    Diag d(&errors);
    d.SetFile(&f.marks);
    for (auto [kind, singular, file] : {std::tuple{"networks", "network", false},
                                        std::tuple{"volumes", "volume", false},
                                        std::tuple{"secrets", "secret", true},
                                        std::tuple{"configs", "config", true}}) {
      if (f.root.contains(kind)) NormalizeObjects(kind, singular, f.root[kind], ctx, d, file);
    }
    loaded.push_back(std::move(f));
  }
  for (const auto& name : unset) {
    project.warnings.push_back("The " + name + " variable is not set. Defaulting to a blank string.");
  }
  if (!errors.empty()) return InvalidArgument(Join(errors));

  // Merge overrides into the first file.
  project.version = loaded[0].version;
  // Moved, not copied: only the files' marks are used from here on.
  Json merged = std::move(loaded[0].root);
  for (size_t i = 1; i < loaded.size(); ++i) {
    const LoadedFile& f = loaded[i];
    if (f.version != project.version) {
      errors.push_back(f.marks.filename + ": version mismatched between two composefiles : " +
                       project.version + " and " + f.version);
      continue;
    }
    const Json& o = f.root;
    if (o.contains("services")) {
      Json& services = merged["services"];
      if (services.is_null()) services = Json::object();
      for (const auto& [name, s] : o["services"].items()) {
        auto it = services.find(name);
        if (it == services.end()) {
          services[name] = s;
          continue;
        }
        PackedJson::EditNode(*it, [&over = s](Json& base) { MergeValue(base, PackedJson::UnpackNode(over), ""); });
      }
    }
    for (const char* kind : {"networks", "volumes", "secrets", "configs"}) {
      if (!o.contains(kind)) continue;
      if (!merged.contains(kind)) merged[kind] = Json::object();
      for (const auto& [k, v] : o[kind].items()) merged[kind][k] = v;
    }
    for (const auto& [k, v] : o.items()) {
      if (k.rfind("x-", 0) == 0) merged[k] = v;
    }
  }
  if (!errors.empty()) return InvalidArgument(Join(errors));
  for (const auto& [k, v] : merged.items()) {
    if (k.rfind("x-", 0) == 0) project.extensions[k] = v;
  }
  if (merged.contains("services")) {
    for (auto& [name, s] : merged["services"].items()) {
      project.services.emplace(name, PackedJson::FromNode(std::move(s)));
    }
  }
  if (merged.contains("networks")) project.networks = std::move(merged["networks"]);
  if (merged.contains("volumes")) project.volumes = std::move(merged["volumes"]);
  if (merged.contains("secrets")) project.secrets = std::move(merged["secrets"]);
  if (merged.contains("configs")) project.configs = std::move(merged["configs"]);

  // Semantic checks over the merged project, located in the last file that
  // names the key.
  auto locate = [&](const std::string& path, const std::string& msg) {
    for (auto it = loaded.rbegin(); it != loaded.rend(); ++it) {
      if (it->marks.marks.Contains(path)) return Located(it->marks.filename, it->marks.marks, path, msg);
    }
    for (auto it = loaded.rbegin(); it != loaded.rend(); ++it) {
      std::string p = path;
      while (p.find('.') != std::string::npos) {
        p = p.substr(0, p.rfind('.'));
        if (it->marks.marks.Contains(p)) return Located(it->marks.filename, it->marks.marks, path, msg);
      }
    }
    return Located(loaded[0].marks.filename, loaded[0].marks.marks, path, msg);
  };
  static const std::set<std::string> kUnsupported = {
      "build",  "cgroupns_mode", "cgroup_parent", "devices",       "domainname", "external_links",
      "ipc",    "links",         "mac_address",   "network_mode", "pid",
      "privileged", "restart",   "security_opt",  "shm_size",   "userns_mode"};
  std::set<std::string> unsupported;
  std::set<std::string> deprecated;
  std::vector<std::string> too_new;  // keys the 1.41 Engine API has no field for
  std::map<std::pair<int64_t, std::string>, std::string> published;  // (port, proto) -> service
  for (const auto& [name, packed] : project.services) {
    Json s = packed.Unpack();
    std::string base = "services." + name;
    for (const auto& [k, v] : s.items()) {
      if (kUnsupported.count(k)) unsupported.insert(k);
      if (k == "container_name" || k == "expose") deprecated.insert(k);
    }
    // docker 28.x sends these; an engine of API 1.41 drops them on store, so
    // sending them would show as a change on every diff.
    if (s.contains("oom_score_adj")) {
      too_new.push_back(base + ".oom_score_adj: ignored (ContainerSpec.OomScoreAdj needs Engine API 1.46; "
                        "stackctl speaks 1.41)");
    }
    if (s.contains("healthcheck") && s["healthcheck"].is_object() && s["healthcheck"].contains("start_interval")) {
      too_new.push_back(base + ".healthcheck.start_interval: ignored (HealthConfig.StartInterval needs "
                        "Engine API 1.44; stackctl speaks 1.41)");
    }
    if (!s.contains("image") || !s["image"].is_string() || s["image"].get<std::string>().empty()) {
      errors.push_back(locate(base, "image is required (swarm services cannot be built)"));
    }
    if (s.contains("networks")) {
      for (const auto& [net, cfg] : s["networks"].items()) {
        if (net != "default" && !project.networks.contains(net)) {
          errors.push_back(locate(base + ".networks." + net, "undefined network \"" + net + "\""));
        }
      }
    }
    for (const char* kind : {"secrets", "configs"}) {
      if (!s.contains(kind)) continue;
      const Json& defs = kind == std::string("secrets") ? project.secrets : project.configs;
      size_t i = 0;
      for (const auto& ref : s[kind]) {
        std::string src = ref.value("source", "");
        if (!defs.contains(src)) {
          errors.push_back(locate(base + "." + kind + "." + std::to_string(i),
                                  std::string("undefined ") + (kind[0] == 's' ? "secret" : "config") +
                                      " \"" + src + "\""));
        }
        ++i;
      }
    }
    if (s.contains("volumes")) {
      size_t i = 0;
      for (const auto& m : s["volumes"]) {
        std::string src = m.value("source", "");
        if (m["type"] == "volume" && !src.empty() && !project.volumes.contains(src)) {
          errors.push_back(locate(base + ".volumes." + std::to_string(i), "undefined volume \"" + src + "\""));
        }
        if (m["type"] == "tmpfs" && !src.empty()) {
          errors.push_back(locate(base + ".volumes." + std::to_string(i),
                                  "invalid mount config for type \"tmpfs\": field Source must be empty"));
        }
        ++i;
      }
    }
    if (s.contains("deploy")) {
      const Json& dep = s["deploy"];
      std::string mode = dep.value("mode", "replicated");
      if (mode != "replicated" && mode != "global") {
        errors.push_back(locate(base + ".deploy.mode", "unknown mode \"" + mode + "\" (replicated or global)"));
      }
      if (mode == "global" && dep.contains("replicas")) {
        errors.push_back(locate(base + ".deploy.replicas", "replicas can only be used with replicated mode"));
      }
      if (dep.contains("replicas") && dep["replicas"].is_number() && dep["replicas"].get<double>() < 0) {
        errors.push_back(locate(base + ".deploy.replicas", "must not be negative"));
      }
      if (dep.contains("resources")) {
        for (const char* part : {"limits", "reservations"}) {
          if (!dep["resources"].contains(part)) continue;
          const Json& r = dep["resources"][part];
          std::string rp = base + ".deploy.resources." + part;
          int64_t bytes;
          if (r.contains("memory") && !ParseRamBytes(r["memory"].get<std::string>(), &bytes)) {
            errors.push_back(locate(rp + ".memory", "invalid size " + r["memory"].dump(-1, ' ', false, Json::error_handler_t::replace) +
                                                        " (use a number with an optional unit b, k, m or g)"));
          }
          if (r.contains("cpus")) {
            std::string cpus = ScalarText(r["cpus"]);
            char* end = nullptr;
            double v = std::strtod(cpus.c_str(), &end);
            if (cpus.empty() || *end != '\0' || v < 0) {
              errors.push_back(locate(rp + ".cpus", "invalid number of CPUs " + Json(cpus).dump(-1, ' ', false, Json::error_handler_t::replace)));
            }
          }
        }
      }
    }
    if (s.contains("healthcheck") && s["healthcheck"].value("disable", false) &&
        s["healthcheck"].contains("test") && !s["healthcheck"]["test"].empty()) {
      errors.push_back(locate(base + ".healthcheck", "test and disable can't be set at the same time"));
    }
    if (s.contains("restart") && !(s.contains("deploy") && s["deploy"].contains("restart_policy"))) {
      std::string r = s["restart"].get<std::string>();
      bool ok = r.empty() || r == "no" || r == "always" || r == "unless-stopped" || r == "on-failure";
      int64_t n;
      if (r.rfind("on-failure:", 0) == 0 && ParseUint(r.substr(11), &n)) ok = true;
      if (!ok) errors.push_back(locate(base + ".restart", "unknown restart policy: " + r));
    }
    if (s.contains("ports")) {
      std::set<std::pair<int64_t, std::string>> own;
      size_t i = 0;
      for (const auto& p : s["ports"]) {
        int64_t pub = PortKey(p);
        std::string mode = p.value("mode", "ingress");
        std::string proto = p.value("protocol", "tcp");
        if (pub != 0 && mode != "host") {
          auto key = std::make_pair(pub, proto);
          auto it = published.find(key);
          if (it != published.end() && it->second != name) {
            errors.push_back(locate(base + ".ports." + std::to_string(i),
                                    "published port " + std::to_string(pub) + "/" + proto +
                                        " is already published by service " + it->second));
          } else if (own.count(key)) {
            errors.push_back(locate(base + ".ports." + std::to_string(i),
                                    "duplicate published port " + std::to_string(pub) + "/" + proto));
          }
          own.insert(key);
          published.emplace(key, name);
        }
        ++i;
      }
    }
  }
  if (!errors.empty()) return InvalidArgument(Join(errors));
  if (!unsupported.empty()) {
    std::string list;
    for (const auto& k : unsupported) list += (list.empty() ? "" : ", ") + k;
    project.warnings.push_back("Ignoring unsupported options: " + list);
  }
  for (auto& w : too_new) project.warnings.push_back(std::move(w));
  for (const auto& k : deprecated) {
    project.warnings.push_back(
        "Ignoring deprecated options: " + k + ": " +
        (k == "container_name" ? "Setting the container name is not supported."
                               : "Exposing ports is unnecessary - services on the same network "
                                 "can access each other's containers on any port."));
  }
  return project;
}

}  // namespace stackctl::compose
