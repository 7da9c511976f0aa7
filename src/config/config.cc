#include "config/config.h"

#include "common/duration.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/secret_file.h"
#include "gitsource/source.h"
#include "gitsource/url.h"

namespace stackctl::config {
namespace {

namespace fs = std::filesystem;

std::string Key(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

Status Error(const std::string& path, const std::string& what) {
  return InvalidArgument(path + ": " + what);
}

// Checks that `node` is a map (or null = empty) with keys from `allowed` only.
Status CheckMap(const YAML::Node& node, const std::string& path,
                std::initializer_list<const char*> allowed) {
  if (node.IsNull()) return OkStatus();
  if (!node.IsMap()) return Error(path, "must be a mapping");
  std::set<std::string> seen;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) return Error(path, "keys must be strings");
    const std::string k = kv.first.Scalar();
    if (!seen.insert(k).second) return Error(Key(path, k), "duplicate key");
    bool ok = false;
    for (const char* a : allowed) ok = ok || k == a;
    if (!ok) return Error(Key(path, k), "unknown key");
  }
  return OkStatus();
}

// Each Read* leaves *out untouched when the key is absent.
Status ReadString(const YAML::Node& map, const char* key, const std::string& path,
                  std::string* out) {
  if (map.IsNull() || !map[key]) return OkStatus();
  const YAML::Node n = map[key];
  if (!n.IsScalar()) return Error(Key(path, key), "must be a string");
  *out = n.Scalar();
  return OkStatus();
}

Status ReadNonEmpty(const YAML::Node& map, const char* key, const std::string& path,
                    std::string* out) {
  RETURN_IF_ERROR(ReadString(map, key, path, out));
  if (map[key] && out->empty()) return Error(Key(path, key), "must not be empty");
  return OkStatus();
}

Status ReadBool(const YAML::Node& map, const char* key, const std::string& path, bool* out) {
  if (map.IsNull() || !map[key]) return OkStatus();
  const YAML::Node n = map[key];
  if (n.IsScalar() && n.Scalar() == "true") {
    *out = true;
  } else if (n.IsScalar() && n.Scalar() == "false") {
    *out = false;
  } else {
    return Error(Key(path, key), "must be true or false");
  }
  return OkStatus();
}

Status ReadInt(const YAML::Node& map, const char* key, const std::string& path, int64_t min,
               int64_t max, int64_t* out) {
  if (map.IsNull() || !map[key]) return OkStatus();
  const YAML::Node n = map[key];
  const std::string s = n.IsScalar() ? n.Scalar() : "";
  size_t used = 0;
  int64_t v = 0;
  bool ok = !s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-');
  if (ok) {
    try {
      v = std::stoll(s, &used);
    } catch (const std::exception&) {
      ok = false;
    }
  }
  if (!ok || used != s.size()) return Error(Key(path, key), "must be an integer");
  if (v < min || v > max) {
    return Error(Key(path, key), "must be between " + std::to_string(min) + " and " +
                                     std::to_string(max));
  }
  *out = v;
  return OkStatus();
}

Status ReadDuration(const YAML::Node& map, const char* key, const std::string& path,
                    Duration* out) {
  std::string s;
  if (map.IsNull() || !map[key]) return OkStatus();
  RETURN_IF_ERROR(ReadString(map, key, path, &s));
  Result<Duration> d = ParseDurationMs(s);
  if (!d.ok()) return Error(Key(path, key), d.status().message());
  *out = *d;
  return OkStatus();
}

Status ReadStringList(const YAML::Node& map, const char* key, const std::string& path,
                      std::vector<std::string>* out) {
  if (map.IsNull() || !map[key]) return OkStatus();
  const YAML::Node n = map[key];
  if (!n.IsSequence()) return Error(Key(path, key), "must be a list of strings");
  out->clear();
  for (size_t i = 0; i < n.size(); ++i) {
    if (!n[i].IsScalar() || n[i].Scalar().empty()) {
      return Error(Index(Key(path, key), i), "must be a non-empty string");
    }
    out->push_back(n[i].Scalar());
  }
  return OkStatus();
}

// Resolves a configured file path against the configuration's directory.
std::string FilePath(const std::string& base_dir, const std::string& p) {
  if (p.empty() || base_dir.empty() || p[0] == '/') return p;
  return (fs::path(base_dir) / p).lexically_normal().string();
}

Status ReadFileKey(const YAML::Node& map, const char* key, const std::string& path,
                   const std::string& base_dir, std::string* out) {
  RETURN_IF_ERROR(ReadNonEmpty(map, key, path, out));
  *out = FilePath(base_dir, *out);
  return OkStatus();
}

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 63 || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

Status CheckListen(const std::string& listen, const std::string& path) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size()) {
    return Error(path, "must be host:port, got \"" + listen + "\"");
  }
  const std::string port = listen.substr(colon + 1);
  for (char c : port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      return Error(path, "must be host:port, got \"" + listen + "\"");
    }
  }
  if (port.size() > 5 || std::stoi(port) > 65535) {
    return Error(path, "port must be between 0 and 65535");
  }
  return OkStatus();
}

Status ParseEngine(const YAML::Node& n, const std::string& base, EngineConfig* e) {
  const std::string path = "engine";
  RETURN_IF_ERROR(CheckMap(n, path, {"host", "tls"}));
  RETURN_IF_ERROR(ReadNonEmpty(n, "host", path, &e->host));
  if (e->host.rfind("unix://", 0) != 0 && e->host.rfind("tcp://", 0) != 0) {
    return Error("engine.host", "must start with unix:// or tcp://, got \"" + e->host + "\"");
  }
  if (n.IsNull() || !n["tls"]) return OkStatus();
  const YAML::Node t = n["tls"];
  const std::string tp = "engine.tls";
  RETURN_IF_ERROR(CheckMap(t, tp, {"ca_file", "cert_file", "key_file", "verify"}));
  RETURN_IF_ERROR(ReadFileKey(t, "ca_file", tp, base, &e->ca_file));
  RETURN_IF_ERROR(ReadFileKey(t, "cert_file", tp, base, &e->cert_file));
  RETURN_IF_ERROR(ReadFileKey(t, "key_file", tp, base, &e->key_file));
  RETURN_IF_ERROR(ReadBool(t, "verify", tp, &e->tls_verify));
  if (e->host.rfind("tcp://", 0) != 0) return Error(tp, "TLS needs a tcp:// engine.host");
  if (e->cert_file.empty() != e->key_file.empty()) {
    return Error(tp, "cert_file and key_file must be set together");
  }
  if (e->tls_verify && e->ca_file.empty()) return Error(Key(tp, "ca_file"), "required when verify is true");
  e->tls = true;
  return OkStatus();
}

Status ParseCommitStatus(const YAML::Node& n, const std::string& path, const std::string& base,
                         const std::string& repo_url, RepositoryConfig* r) {
  RETURN_IF_ERROR(CheckMap(n, path, {"provider", "api_url", "project", "token_file", "ca_file"}));
  if (!n.IsMap()) return Error(path, "must be a mapping");
  std::string provider, api_url, project, token_file, ca_file;
  RETURN_IF_ERROR(ReadNonEmpty(n, "provider", path, &provider));
  RETURN_IF_ERROR(ReadNonEmpty(n, "api_url", path, &api_url));
  RETURN_IF_ERROR(ReadNonEmpty(n, "project", path, &project));
  RETURN_IF_ERROR(ReadFileKey(n, "token_file", path, base, &token_file));
  if (token_file.empty()) return Error(Key(path, "token_file"), "required");
  RETURN_IF_ERROR(ReadFileKey(n, "ca_file", path, base, &ca_file));
  Result<notify::StatusHost> host = notify::ResolveStatusHost(repo_url, provider, api_url, project);
  if (!host.ok()) return InvalidArgument(Key(path, host.status().message()));
  host->token_file = token_file;
  host->ca_file = ca_file;
  r->commit_status = *host;
  return OkStatus();
}

bool IsHttpUrl(const std::string& url) { return url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0; }

Status ParseNotifications(const YAML::Node& n, const std::string& base, notify::NotifyConfig* out) {
  const std::string path = "notifications";
  RETURN_IF_ERROR(CheckMap(n, path, {"dashboard_url", "timeout", "targets"}));
  RETURN_IF_ERROR(ReadNonEmpty(n, "dashboard_url", path, &out->dashboard_url));
  if (!out->dashboard_url.empty() && !IsHttpUrl(out->dashboard_url)) {
    return Error(Key(path, "dashboard_url"), "must be an http:// or https:// URL");
  }
  RETURN_IF_ERROR(ReadDuration(n, "timeout", path, &out->timeout));
  if (out->timeout < std::chrono::seconds(1) || out->timeout > std::chrono::minutes(5)) {
    return Error(Key(path, "timeout"), "must be between 1s and 5m");
  }
  const YAML::Node targets = n.IsMap() ? n["targets"] : YAML::Node();
  if (targets && !targets.IsNull() && !targets.IsSequence()) return Error(Key(path, "targets"), "must be a list");
  std::set<std::string> names;
  for (size_t i = 0; targets && i < targets.size(); ++i) {
    const YAML::Node t = targets[i];
    const std::string p = Index(Key(path, "targets"), i);
    RETURN_IF_ERROR(CheckMap(t, p, {"name", "type", "url", "url_file", "secret_file", "ca_file", "events", "stacks"}));
    if (!t.IsMap()) return Error(p, "must be a mapping");
    notify::Target target;
    RETURN_IF_ERROR(ReadNonEmpty(t, "name", p, &target.name));
    if (target.name.empty()) return Error(Key(p, "name"), "required");
    if (!names.insert(target.name).second) return Error(Key(p, "name"), "duplicate target \"" + target.name + "\"");
    std::string type;
    RETURN_IF_ERROR(ReadNonEmpty(t, "type", p, &type));
    if (type.empty()) return Error(Key(p, "type"), "required (webhook or slack)");
    if (!notify::ParseTargetType(type, &target.type)) {
      return Error(Key(p, "type"), "must be webhook or slack (got \"" + type + "\")");
    }
    RETURN_IF_ERROR(ReadNonEmpty(t, "url", p, &target.url));
    RETURN_IF_ERROR(ReadFileKey(t, "url_file", p, base, &target.url_file));
    if (target.url.empty() == target.url_file.empty()) return Error(p, "set exactly one of url and url_file");
    if (!target.url.empty() && !IsHttpUrl(target.url)) return Error(Key(p, "url"), "must be an http:// or https:// URL");
    RETURN_IF_ERROR(ReadFileKey(t, "secret_file", p, base, &target.secret_file));
    if (!target.secret_file.empty() && target.type != notify::TargetType::kWebhook) {
      return Error(Key(p, "secret_file"), "only for webhook targets (Slack-style URLs carry their own secret)");
    }
    RETURN_IF_ERROR(ReadFileKey(t, "ca_file", p, base, &target.ca_file));
    std::vector<std::string> events;
    RETURN_IF_ERROR(ReadStringList(t, "events", p, &events));
    for (size_t j = 0; j < events.size(); ++j) {
      notify::EventKind k;
      if (!notify::ParseEventKind(events[j], &k)) {
        return Error(Index(Key(p, "events"), j),
                     "unknown event \"" + events[j] +
                         "\" (rollout_failed, rolled_back, recovered, drift_detected, drift_reverted, "
                         "image_refused, render_failed)");
      }
      target.events.insert(k);
    }
    RETURN_IF_ERROR(ReadStringList(t, "stacks", p, &target.stacks));
    out->targets.push_back(std::move(target));
  }
  return OkStatus();
}

Status ParseRepository(const YAML::Node& n, const std::string& path, const std::string& base,
                       RepositoryConfig* r) {
  RETURN_IF_ERROR(CheckMap(n, path, {"name", "url", "branch", "tag", "commit", "poll_interval",
                                     "auth", "ca_file", "commit_status"}));
  if (!n.IsMap()) return Error(path, "must be a mapping");
  gitsource::RemoteSpec& s = r->remote;
  RETURN_IF_ERROR(ReadString(n, "name", path, &s.name));
  if (!n["name"]) return Error(Key(path, "name"), "required");
  if (!ValidName(s.name)) {
    return Error(Key(path, "name"),
                 "must start with a letter or digit and contain only letters, digits, '_', '-' "
                 "or '.' (at most 63)");
  }
  RETURN_IF_ERROR(ReadNonEmpty(n, "url", path, &s.url));
  if (!n["url"]) return Error(Key(path, "url"), "required");
  const std::string scheme = gitsource::UrlScheme(s.url);
  if (scheme != "file" && scheme != "http" && scheme != "https" && scheme != "ssh" &&
      scheme != "git") {
    return Error(Key(path, "url"), "unsupported scheme \"" + scheme +
                                       "\" (use https, http, ssh, git or file)");
  }
  RETURN_IF_ERROR(ReadFileKey(n, "ca_file", path, base, &s.ca_file));
  if (!s.ca_file.empty() && scheme != "https") {
    return Error(Key(path, "ca_file"), "only for https URLs");
  }
  int refs = 0;
  for (const char* k : {"branch", "tag", "commit"}) refs += n[k] ? 1 : 0;
  if (refs > 1) return Error(path, "set only one of branch, tag and commit");
  s.kind = gitsource::RefKind::kBranch;
  s.ref = "main";
  if (n["branch"]) RETURN_IF_ERROR(ReadNonEmpty(n, "branch", path, &s.ref));
  if (n["tag"]) {
    s.kind = gitsource::RefKind::kTag;
    RETURN_IF_ERROR(ReadNonEmpty(n, "tag", path, &s.ref));
  }
  if (n["commit"]) {
    s.kind = gitsource::RefKind::kCommit;
    RETURN_IF_ERROR(ReadNonEmpty(n, "commit", path, &s.ref));
    bool hex = s.ref.size() == 40;
    for (char c : s.ref) hex = hex && std::isxdigit(static_cast<unsigned char>(c));
    if (!hex) return Error(Key(path, "commit"), "must be a full 40-character hex commit id");
  }
  RETURN_IF_ERROR(ReadDuration(n, "poll_interval", path, &r->poll_interval));
  if (r->poll_interval.count() != 0 && r->poll_interval < std::chrono::seconds(5)) {
    return Error(Key(path, "poll_interval"), "must be 0 (off) or at least 5s");
  }
  if (n["auth"]) {
    const YAML::Node a = n["auth"];
    const std::string ap = Key(path, "auth");
    RETURN_IF_ERROR(CheckMap(a, ap, {"username", "password_file", "token_file",
                                     "ssh_private_key_file", "ssh_passphrase_file",
                                     "known_hosts_file"}));
    gitsource::Auth& au = s.auth;
    RETURN_IF_ERROR(ReadNonEmpty(a, "username", ap, &au.username));
    RETURN_IF_ERROR(ReadFileKey(a, "password_file", ap, base, &au.password_file));
    RETURN_IF_ERROR(ReadFileKey(a, "token_file", ap, base, &au.token_file));
    RETURN_IF_ERROR(ReadFileKey(a, "ssh_private_key_file", ap, base, &au.ssh_private_key_file));
    RETURN_IF_ERROR(ReadFileKey(a, "ssh_passphrase_file", ap, base, &au.ssh_passphrase_file));
    RETURN_IF_ERROR(ReadFileKey(a, "known_hosts_file", ap, base, &au.known_hosts_file));
    if (!au.password_file.empty() && !au.token_file.empty()) {
      return Error(ap, "set only one of password_file and token_file");
    }
    const bool http = scheme == "http" || scheme == "https";
    if (!au.password_file.empty() && au.username.empty()) {
      return Error(Key(ap, "username"), "required with password_file");
    }
    if (!http && (!au.password_file.empty() || !au.token_file.empty())) {
      return Error(ap, "password_file and token_file are only for http(s) URLs");
    }
    if (scheme != "ssh" && (!au.ssh_private_key_file.empty() || !au.known_hosts_file.empty() ||
                            !au.ssh_passphrase_file.empty())) {
      return Error(ap, "ssh_private_key_file, ssh_passphrase_file and known_hosts_file are only "
                       "for ssh URLs");
    }
  }
  if (n["commit_status"]) RETURN_IF_ERROR(ParseCommitStatus(n["commit_status"], Key(path, "commit_status"), base, s.url, r));
  if (scheme == "ssh") {
    const std::string ap = Key(path, "auth");
    if (s.auth.ssh_private_key_file.empty()) {
      return Error(Key(ap, "ssh_private_key_file"), "required for ssh URLs");
    }
    if (s.auth.known_hosts_file.empty()) {
      return Error(Key(ap, "known_hosts_file"), "required for ssh URLs");
    }
  }
  return OkStatus();
}

Status ParseTrustRule(const YAML::Node& r, const std::string& rp, const std::string& base,
                      notary::TrustRule* rule) {
  if (!r.IsMap()) return Error(rp, "must be a mapping");
  RETURN_IF_ERROR(CheckMap(r, rp, {"images", "policy", "signatures", "accept", "cosign_keys",
                                   "annotations"}));
  RETURN_IF_ERROR(ReadNonEmpty(r, "images", rp, &rule->images));
  if (!r["images"]) return Error(Key(rp, "images"), "required (a glob such as registry.example.com/team/*)");
  std::string policy;
  RETURN_IF_ERROR(ReadString(r, "policy", rp, &policy));
  if (!r["policy"]) return Error(Key(rp, "policy"), "required (require, warn or off)");
  Result<notary::TrustPolicy> parsed = notary::ParseTrustPolicy(policy);
  if (!parsed.ok()) return Error(Key(rp, "policy"), "must be require, warn or off, got \"" + policy + "\"");
  rule->policy = *parsed;
  std::vector<std::string> signatures;
  RETURN_IF_ERROR(ReadStringList(r, "signatures", rp, &signatures));
  for (size_t j = 0; j < signatures.size(); ++j) {
    bool& flag = signatures[j] == "notary" ? rule->notary : rule->cosign;
    if (signatures[j] != "notary" && signatures[j] != "cosign") {
      return Error(Index(Key(rp, "signatures"), j), "must be notary or cosign, got \"" + signatures[j] + "\"");
    }
    if (flag) return Error(Index(Key(rp, "signatures"), j), "duplicate " + signatures[j]);
    flag = true;
  }
  if (rule->policy != notary::TrustPolicy::kOff && !rule->notary && !rule->cosign) {
    return Error(Key(rp, "signatures"), "required unless policy is off (notary, cosign or both)");
  }
  std::string accept = "all";
  RETURN_IF_ERROR(ReadString(r, "accept", rp, &accept));
  if (accept != "all" && accept != "any") {
    return Error(Key(rp, "accept"), "must be all or any, got \"" + accept + "\"");
  }
  if (accept == "any" && !(rule->notary && rule->cosign)) {
    return Error(Key(rp, "accept"), "any needs both notary and cosign in signatures");
  }
  rule->any = accept == "any";
  std::vector<std::string> keys;
  RETURN_IF_ERROR(ReadStringList(r, "cosign_keys", rp, &keys));
  if (rule->cosign && keys.empty()) return Error(Key(rp, "cosign_keys"), "required with cosign signatures");
  if (!rule->cosign && !keys.empty()) return Error(Key(rp, "cosign_keys"), "only with cosign in signatures");
  for (size_t j = 0; j < keys.size(); ++j) {
    Result<notary::CosignKey> key = notary::LoadCosignKey(FilePath(base, keys[j]));
    if (!key.ok()) return Error(Index(Key(rp, "cosign_keys"), j), key.status().message());
    rule->cosign_options.keys.push_back(std::move(*key));
  }
  if (r["annotations"]) {
    const std::string ap = Key(rp, "annotations");
    const YAML::Node a = r["annotations"];
    if (!rule->cosign) return Error(ap, "only with cosign in signatures");
    if (!a.IsMap()) return Error(ap, "must be a mapping of strings");
    for (const auto& kv : a) {
      if (!kv.first.IsScalar() || !kv.second.IsScalar()) return Error(ap, "must be a mapping of strings");
      rule->cosign_options.annotations[kv.first.Scalar()] = kv.second.Scalar();
    }
  }
  return OkStatus();
}

Status ParseImageTrust(const YAML::Node& t, const std::string& tp, const std::string& base,
                       ImageTrustConfig* it) {
  RETURN_IF_ERROR(CheckMap(t, tp, {"policy", "server", "ca_file", "registries", "rules"}));
  std::string policy;
  RETURN_IF_ERROR(ReadString(t, "policy", tp, &policy));
  if (t["policy"]) {
    Result<notary::TrustPolicy> parsed = notary::ParseTrustPolicy(policy);
    if (!parsed.ok()) return Error(Key(tp, "policy"), "must be require, warn or off, got \"" + policy + "\"");
    it->policy = *parsed;
  }
  RETURN_IF_ERROR(ReadNonEmpty(t, "server", tp, &it->server));
  if (t["server"] && it->server.rfind("https://", 0) != 0) {
    return Error(Key(tp, "server"), "must be an https:// URL");
  }
  RETURN_IF_ERROR(ReadFileKey(t, "ca_file", tp, base, &it->ca_file));
  if (t["registries"]) {
    const std::string rp = Key(tp, "registries");
    const YAML::Node regs = t["registries"];
    if (!regs.IsMap()) return Error(rp, "must be a mapping of registry (host[:port]) to settings");
    it->registries.clear();
    for (const auto& kv : regs) {
      const std::string host = kv.first.IsScalar() ? kv.first.Scalar() : "";
      if (host.empty() || host.find('/') != std::string::npos) {
        return Error(rp, "keys must be registry names (host[:port]), got \"" + host + "\"");
      }
      const std::string hp = Key(rp, host);
      RETURN_IF_ERROR(CheckMap(kv.second, hp, {"ca_file", "insecure", "username", "password_file"}));
      notary::RegistryAccess& access = it->registries[host];
      RETURN_IF_ERROR(ReadFileKey(kv.second, "ca_file", hp, base, &access.ca_file));
      RETURN_IF_ERROR(ReadBool(kv.second, "insecure", hp, &access.insecure));
      RETURN_IF_ERROR(ReadNonEmpty(kv.second, "username", hp, &access.username));
      RETURN_IF_ERROR(ReadFileKey(kv.second, "password_file", hp, base, &access.password_file));
      if (access.username.empty() != access.password_file.empty()) {
        return Error(hp, "username and password_file must be set together");
      }
    }
  }
  if (t["rules"]) {
    const std::string rp = Key(tp, "rules");
    if (!t["rules"].IsSequence()) return Error(rp, "must be a list of rules");
    it->rules.clear();
    for (size_t i = 0; i < t["rules"].size(); ++i) {
      notary::TrustRule rule;
      RETURN_IF_ERROR(ParseTrustRule(t["rules"][i], Index(rp, i), base, &rule));
      it->rules.push_back(std::move(rule));
    }
  }
  bool notary_used = it->policy != notary::TrustPolicy::kOff;
  for (const auto& rule : it->rules) notary_used |= rule.notary && rule.policy != notary::TrustPolicy::kOff;
  if (notary_used && it->server.empty()) {
    return Error(Key(tp, "server"),
                 it->policy != notary::TrustPolicy::kOff
                     ? std::string("required when policy is ") + notary::TrustPolicyName(it->policy)
                     : std::string("required when a rule uses notary"));
  }
  return OkStatus();
}

Status ParseOptions(const YAML::Node& n, const std::string& path, const std::string& base,
                    StackOptions* o) {
  if (n.IsNull()) return OkStatus();
  RETURN_IF_ERROR(ReadBool(n, "auto_sync", path, &o->auto_sync));
  RETURN_IF_ERROR(ReadBool(n, "prune", path, &o->prune));
  RETURN_IF_ERROR(ReadBool(n, "self_heal", path, &o->self_heal));
  RETURN_IF_ERROR(ReadDuration(n, "timeout", path, &o->timeout));
  if (n["timeout"] && o->timeout.count() <= 0) return Error(Key(path, "timeout"), "must be positive");
  if (n["resolve_image"]) {
    std::string mode;
    RETURN_IF_ERROR(ReadString(n, "resolve_image", path, &mode));
    Result<reconciler::ResolveMode> parsed = reconciler::ParseResolveMode(mode);
    if (!parsed.ok()) {
      return Error(Key(path, "resolve_image"), "must be always, changed or never, got \"" + mode + "\"");
    }
    o->resolve_image = *parsed;
  }
  if (n["rollout"]) {
    const std::string rp = Key(path, "rollout");
    RETURN_IF_ERROR(CheckMap(n["rollout"], rp, {"parallelism", "delay"}));
    int64_t par = o->rollout.parallelism;
    RETURN_IF_ERROR(ReadInt(n["rollout"], "parallelism", rp, 0, 1000, &par));
    o->rollout.parallelism = static_cast<int>(par);
    RETURN_IF_ERROR(ReadDuration(n["rollout"], "delay", rp, &o->rollout.delay));
  }
  if (n["image_trust"]) RETURN_IF_ERROR(ParseImageTrust(n["image_trust"], Key(path, "image_trust"), base, &o->image_trust));
  return OkStatus();
}

const std::initializer_list<const char*> kOptionKeys = {"auto_sync", "prune",   "self_heal",    "rollout",
                                                         "timeout",   "image_trust", "resolve_image"};

Status ParseStack(const YAML::Node& n, const std::string& path, const std::string& base,
                  const Config& cfg, const StackOptions& defaults, StackConfig* s) {
  if (!n.IsMap()) return Error(path, "must be a mapping");
  RETURN_IF_ERROR(CheckMap(n, path, {"name", "repository", "path", "compose_files", "bundle",
                                     "env_file", "auto_sync", "prune", "self_heal", "rollout",
                                     "timeout", "image_trust", "resolve_image"}));
  RETURN_IF_ERROR(ReadString(n, "name", path, &s->name));
  if (!n["name"]) return Error(Key(path, "name"), "required");
  if (!ValidName(s->name)) {
    return Error(Key(path, "name"),
                 "must start with a letter or digit and contain only letters, digits, '_', '-' "
                 "or '.' (at most 63)");
  }
  RETURN_IF_ERROR(ReadNonEmpty(n, "repository", path, &s->repository));
  if (!n["repository"]) return Error(Key(path, "repository"), "required");
  if (!cfg.FindRepository(s->repository)) {
    return Error(Key(path, "repository"), "unknown repository \"" + s->repository + "\"");
  }
  RETURN_IF_ERROR(ReadNonEmpty(n, "path", path, &s->path));
  Result<std::string> norm = gitsource::JoinRepoPath(s->path, "");
  if (!norm.ok()) return Error(Key(path, "path"), norm.status().message());
  s->path = *norm;
  RETURN_IF_ERROR(ReadStringList(n, "compose_files", path, &s->compose_files));
  if (n["compose_files"] && s->compose_files.empty()) {
    return Error(Key(path, "compose_files"), "must not be empty");
  }
  RETURN_IF_ERROR(ReadNonEmpty(n, "bundle", path, &s->bundle));
  if (n["bundle"] && n["compose_files"]) return Error(path, "set only one of compose_files and bundle");
  if (!n["bundle"] && !n["compose_files"]) s->compose_files = {"docker-compose.yml"};
  RETURN_IF_ERROR(ReadNonEmpty(n, "env_file", path, &s->env_file));
  for (size_t i = 0; i < s->compose_files.size(); ++i) {
    Result<std::string> p = gitsource::JoinRepoPath(s->path, s->compose_files[i]);
    if (!p.ok()) return Error(Index(Key(path, "compose_files"), i), p.status().message());
  }
  for (const char* k : {"bundle", "env_file"}) {
    const std::string& v = std::string(k) == "bundle" ? s->bundle : s->env_file;
    if (v.empty()) continue;
    Result<std::string> p = gitsource::JoinRepoPath(s->path, v);
    if (!p.ok()) return Error(Key(path, k), p.status().message());
  }
  s->options = defaults;
  return ParseOptions(n, path, base, &s->options);
}

Status ParseRoot(const YAML::Node& root, const std::string& base, Config* cfg) {
  if (root.IsNull()) return Error("(root)", "the configuration is empty");
  if (!root.IsMap()) return Error("(root)", "must be a mapping");
  RETURN_IF_ERROR(CheckMap(root, "", {"engine", "repositories", "stacks", "defaults", "http",
                                      "webhooks", "log", "state_dir", "cache_dir",
                                      "age_identity_files", "notifications", "controller"}));
  if (root["notifications"]) RETURN_IF_ERROR(ParseNotifications(root["notifications"], base, &cfg->notifications));
  RETURN_IF_ERROR(ReadStringList(root, "age_identity_files", "", &cfg->age_identity_files));
  for (auto& f : cfg->age_identity_files) f = FilePath(base, f);
  if (root["engine"]) RETURN_IF_ERROR(ParseEngine(root["engine"], base, &cfg->engine));
  RETURN_IF_ERROR(ReadFileKey(root, "state_dir", "", base, &cfg->state_dir));
  RETURN_IF_ERROR(ReadFileKey(root, "cache_dir", "", base, &cfg->cache_dir));
  if (cfg->cache_dir.empty()) cfg->cache_dir = (fs::path(cfg->state_dir) / "cache").string();

  if (root["controller"]) {
    const YAML::Node c = root["controller"];
    RETURN_IF_ERROR(CheckMap(c, "controller", {"full_check_interval"}));
    Duration& every = cfg->controller.full_check_interval;
    RETURN_IF_ERROR(ReadDuration(c, "full_check_interval", "controller", &every));
    // Each check lists every object kind of the swarm and renders and diffs
    // every stack: more often than this would load the manager for little.
    if (every < std::chrono::seconds(10)) {
      return Error("controller.full_check_interval", "must be at least 10s");
    }
  }
  if (root["log"]) {
    const YAML::Node l = root["log"];
    RETURN_IF_ERROR(CheckMap(l, "log", {"level", "format"}));
    RETURN_IF_ERROR(ReadString(l, "level", "log", &cfg->log.level));
    RETURN_IF_ERROR(ReadString(l, "format", "log", &cfg->log.format));
    const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error", "off"};
    if (!levels.count(cfg->log.level)) {
      return Error("log.level", "must be trace, debug, info, warn, error or off, got \"" +
                                    cfg->log.level + "\"");
    }
    if (cfg->log.format != "text" && cfg->log.format != "json") {
      return Error("log.format", "must be text or json, got \"" + cfg->log.format + "\"");
    }
  }
  if (root["http"]) {
    const YAML::Node h = root["http"];
    RETURN_IF_ERROR(CheckMap(h, "http", {"listen", "api_token_file", "max_body_bytes", "ui"}));
    RETURN_IF_ERROR(ReadNonEmpty(h, "listen", "http", &cfg->http.listen));
    RETURN_IF_ERROR(CheckListen(cfg->http.listen, "http.listen"));
    RETURN_IF_ERROR(ReadFileKey(h, "api_token_file", "http", base, &cfg->http.api_token_file));
    int64_t max = static_cast<int64_t>(cfg->http.max_body_bytes);
    RETURN_IF_ERROR(ReadInt(h, "max_body_bytes", "http", 1024, 64 << 20, &max));
    cfg->http.max_body_bytes = static_cast<uint64_t>(max);
    if (h["ui"]) {
      const YAML::Node u = h["ui"];
      RETURN_IF_ERROR(CheckMap(u, "http.ui", {"enabled", "anonymous_read"}));
      RETURN_IF_ERROR(ReadBool(u, "enabled", "http.ui", &cfg->http.ui.enabled));
      RETURN_IF_ERROR(ReadBool(u, "anonymous_read", "http.ui", &cfg->http.ui.anonymous_read));
    }
  }
  if (root["webhooks"]) {
    const YAML::Node w = root["webhooks"];
    RETURN_IF_ERROR(CheckMap(w, "webhooks", {"github", "gitlab", "gitea", "generic"}));
    std::pair<const char*, std::string*> providers[] = {
        {"github", &cfg->webhooks.github_secret_file},
        {"gitlab", &cfg->webhooks.gitlab_secret_file},
        {"gitea", &cfg->webhooks.gitea_secret_file},
        {"generic", &cfg->webhooks.generic_secret_file}};
    for (auto& [name, out] : providers) {
      if (!w[name]) continue;
      const std::string p = Key("webhooks", name);
      RETURN_IF_ERROR(CheckMap(w[name], p, {"secret_file"}));
      RETURN_IF_ERROR(ReadFileKey(w[name], "secret_file", p, base, out));
      if (out->empty()) return Error(Key(p, "secret_file"), "required");
    }
  }

  const YAML::Node repos = root["repositories"];
  if (repos && !repos.IsNull() && !repos.IsSequence()) return Error("repositories", "must be a list");
  for (size_t i = 0; repos && i < repos.size(); ++i) {
    RepositoryConfig r;
    const std::string p = Index("repositories", i);
    RETURN_IF_ERROR(ParseRepository(repos[i], p, base, &r));
    if (cfg->FindRepository(r.remote.name)) {
      return Error(Key(p, "name"), "duplicate repository \"" + r.remote.name + "\"");
    }
    cfg->repositories.push_back(std::move(r));
  }

  StackOptions defaults;
  if (root["defaults"]) {
    RETURN_IF_ERROR(CheckMap(root["defaults"], "defaults", kOptionKeys));
    RETURN_IF_ERROR(ParseOptions(root["defaults"], "defaults", base, &defaults));
  }
  const YAML::Node stacks = root["stacks"];
  if (stacks && !stacks.IsNull() && !stacks.IsSequence()) return Error("stacks", "must be a list");
  for (size_t i = 0; stacks && i < stacks.size(); ++i) {
    StackConfig s;
    const std::string p = Index("stacks", i);
    RETURN_IF_ERROR(ParseStack(stacks[i], p, base, *cfg, defaults, &s));
    if (cfg->FindStack(s.name)) return Error(Key(p, "name"), "duplicate stack \"" + s.name + "\"");
    cfg->stacks.push_back(std::move(s));
  }
  return OkStatus();
}

}  // namespace

notary::ImageTrustPolicy ImageTrustConfig::Policy() const {
  notary::ImageTrustPolicy p = notary::ImageTrustPolicy::Notary(policy);
  p.rules.insert(p.rules.begin(), rules.begin(), rules.end());
  return p;
}

const RepositoryConfig* Config::FindRepository(const std::string& name) const {
  for (const RepositoryConfig& r : repositories) {
    if (r.remote.name == name) return &r;
  }
  return nullptr;
}

const StackConfig* Config::FindStack(const std::string& name) const {
  for (const StackConfig& s : stacks) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

Result<Config> ParseConfig(const std::string& text, const std::string& base_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("line " + std::to_string(e.mark.line + 1) + ", column " +
                           std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  Config cfg;
  try {
    RETURN_IF_ERROR(ParseRoot(root, base_dir, &cfg));
  } catch (const YAML::Exception& e) {
    return InvalidArgument("line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return cfg;
}

Result<Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot read configuration file");
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string base = fs::path(path).parent_path().string();
  if (base.empty()) base = ".";
  Result<Config> cfg = ParseConfig(ss.str(), fs::absolute(base).lexically_normal().string());
  if (!cfg.ok()) return cfg.status().WithPrefix(path);
  return cfg;
}

Result<HttpSettings> ReadHttpSettings(const Config& config) {
  HttpSettings o;
  const std::string& listen = config.http.listen;  // host:port, checked by ParseConfig
  const size_t colon = listen.rfind(':');
  o.host = listen.substr(0, colon);
  if (o.host.size() >= 2 && o.host.front() == '[' && o.host.back() == ']') {
    o.host = o.host.substr(1, o.host.size() - 2);
  }
  if (o.host.empty()) o.host = "0.0.0.0";
  o.port = std::stoi(listen.substr(colon + 1));
  o.max_body_bytes = config.http.max_body_bytes;
  o.ui = config.http.ui;
  if (!config.http.api_token_file.empty()) {
    ASSIGN_OR_RETURN(o.api_token, ReadSecretFile(config.http.api_token_file));
  }
  const std::pair<const char*, const std::string*> hooks[] = {
      {"github", &config.webhooks.github_secret_file},
      {"gitlab", &config.webhooks.gitlab_secret_file},
      {"gitea", &config.webhooks.gitea_secret_file},
      {"generic", &config.webhooks.generic_secret_file}};
  for (const auto& [name, file] : hooks) {
    if (file->empty()) continue;
    ASSIGN_OR_RETURN(o.webhook_secrets[name], ReadSecretFile(*file));
  }
  return o;
}

Status CheckNotificationFiles(const Config& config) {
  auto check = [](const std::string& key, const std::string& file) -> Result<std::string> {
    auto content = ReadSecretFile(file);
    if (!content.ok()) return Error(key, content.status().message());
    return content;
  };
  for (size_t i = 0; i < config.repositories.size(); ++i) {
    const auto& cs = config.repositories[i].commit_status;
    if (cs) RETURN_IF_ERROR(check(Key(Index("repositories", i), "commit_status.token_file"), cs->token_file).status());
  }
  for (size_t i = 0; i < config.notifications.targets.size(); ++i) {
    const notify::Target& t = config.notifications.targets[i];
    const std::string p = Index("notifications.targets", i);
    if (!t.url_file.empty()) {
      ASSIGN_OR_RETURN(std::string url, check(Key(p, "url_file"), t.url_file));
      if (!IsHttpUrl(url)) return Error(Key(p, "url_file"), "must hold an http:// or https:// URL");
    }
    if (!t.secret_file.empty()) RETURN_IF_ERROR(check(Key(p, "secret_file"), t.secret_file).status());
  }
  return OkStatus();
}

}  // namespace stackctl::config
