#include "notary/tuf_client.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <regex>
#include <set>

#include "common/crypto.h"
#include "notary/tuf_json.h"

namespace stackctl::notary {
namespace {

constexpr size_t kTimestampCap = 1 << 20;  // 1 MiB, as notary
constexpr size_t kRootCap = 10 << 20;      // 10 MiB (notary: 100 MiB)
constexpr int64_t kMaxRootWalk = 1000;     // versions walked on rotation

struct RoleKeys {
  std::vector<std::string> keyids;
  int64_t threshold = 0;
};

struct Root {
  std::string raw;
  Json signed_part;
  int64_t version = 0;
  KeyMap keys;
  std::map<std::string, RoleKeys> roles;  // root, targets, snapshot, timestamp
};

struct FileMeta {
  int64_t length = 0;
  std::string sha256;  // raw digest bytes
  std::string sha512;  // raw, optional
  Json hashes;         // the whole hashes object (for unknown algorithms)
};

Status Fail(const std::string& gun, const std::string& role, const std::string& msg) {
  return FailedPrecondition(gun + ": " + role + ": " + msg);
}

Result<int64_t> IntField(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return InvalidArgument(std::string("missing \"") + key + "\"");
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_float()) {
    double d = it->get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
  }
  return InvalidArgument(std::string("\"") + key + "\" must be an integer");
}

// Parses {"hashes": {...}, "length": n}; requires a 32-byte sha256 (and a
// 64-byte sha512 when present).
Result<FileMeta> ParseFileMeta(const Json& j) {
  if (!j.is_object()) return InvalidArgument("meta entry must be an object");
  FileMeta m;
  ASSIGN_OR_RETURN(m.length, IntField(j, "length"));
  if (m.length < 0) return InvalidArgument("negative length");
  auto h = j.find("hashes");
  if (h == j.end() || !h->is_object()) return InvalidArgument("missing hashes");
  m.hashes = *h;
  auto s256 = h->find("sha256");
  if (s256 == h->end() || !s256->is_string() ||
      !DecodeBase64(s256->get<std::string>(), &m.sha256) || m.sha256.size() != 32) {
    return InvalidArgument("missing or invalid sha256 hash");
  }
  auto s512 = h->find("sha512");
  if (s512 != h->end()) {
    if (!s512->is_string() || !DecodeBase64(s512->get<std::string>(), &m.sha512) ||
        m.sha512.size() != 64) {
      return InvalidArgument("invalid sha512 hash");
    }
  }
  return m;
}

// §5.4: every known algorithm listed must match.
bool HashesMatch(const std::string& raw, const FileMeta& m) {
  Bytes d256 = Sha256(raw);
  if (!ConstantTimeEquals(std::string_view(reinterpret_cast<const char*>(d256.data()), d256.size()),
                          m.sha256)) {
    return false;
  }
  if (!m.sha512.empty()) {
    std::string hex = Sha512Hex(raw);
    Bytes d512;
    HexDecode(hex, &d512);
    if (!ConstantTimeEquals(
            std::string_view(reinterpret_cast<const char*>(d512.data()), d512.size()), m.sha512)) {
      return false;
    }
  }
  return true;
}

enum class SigOutcome { kOk, kThreshold, kBadKeyId };

// §7 step 3. `detail` receives a description of a failure.
SigOutcome VerifySignatures(const Envelope& env, const KeyMap& keys, int64_t threshold,
                            std::string* detail) {
  if (env.signatures.empty()) {
    *detail = "no signatures";
    return SigOutcome::kThreshold;
  }
  if (threshold < 1) {
    *detail = "invalid threshold " + std::to_string(threshold);
    return SigOutcome::kThreshold;
  }
  auto msg = TufCanonical(env.signed_part);
  if (!msg.ok()) {
    *detail = msg.status().message();
    return SigOutcome::kThreshold;
  }
  std::set<std::string> valid;
  for (const auto& sig : env.signatures) {
    if (!sig.is_object()) continue;
    auto kid = sig.find("keyid");
    auto method = sig.find("method");
    auto value = sig.find("sig");
    if (kid == sig.end() || !kid->is_string() || method == sig.end() || !method->is_string() ||
        value == sig.end() || !value->is_string()) {
      continue;
    }
    auto key = keys.find(kid->get<std::string>());
    if (key == keys.end()) continue;
    if (KeyId(key->second) != key->first) {
      *detail = "key ID " + key->first + " does not match its key";
      return SigOutcome::kBadKeyId;
    }
    std::string sig_bytes;
    if (!DecodeBase64(value->get<std::string>(), &sig_bytes)) continue;
    if (VerifySignature(key->second, method->get<std::string>(), *msg, sig_bytes)) {
      valid.insert(key->first);
    }
  }
  if (static_cast<int64_t>(valid.size()) < threshold) {
    *detail = "signature threshold not met (" + std::to_string(valid.size()) + " of " +
              std::to_string(threshold) + " required valid signatures)";
    return SigOutcome::kThreshold;
  }
  return SigOutcome::kOk;
}

class Session {
 public:
  Session(MetadataSource& source, MetadataCache& cache, const Clock& clock,
          const TrustPinning& pinning, std::string gun)
      : source_(source), cache_(cache), clock_(clock), pinning_(pinning), gun_(std::move(gun)) {}

  int fetches() const { return fetches_; }

  Result<std::string> Get(const std::string& role, const std::string& name, size_t cap) {
    ++fetches_;
    auto r = source_.Fetch(gun_, name, cap);
    if (!r.ok()) {
      const Status& st = r.status();
      if (st.code() == Code::kNotFound) {
        return Fail(gun_, role, name + ".json not found on " + source_.Describe());
      }
      return Status(st.code(), gun_ + ": " + role + ": " + st.message());
    }
    return r;
  }

  // A checksum-addressed file: from the cache when its copy still matches
  // `meta`, else fetched, hash-checked and cached.
  Result<std::string> GetChecked(const std::string& role, const std::string& name,
                                 const FileMeta& meta, const std::string& signer) {
    if (auto hit = cache_.Get(gun_, name); hit && HashesMatch(*hit, meta)) return *hit;
    ASSIGN_OR_RETURN(std::string raw, Get(role, name, static_cast<size_t>(meta.length)));
    if (!HashesMatch(raw, meta)) {
      return Fail(gun_, role, "hash does not match the one signed in " + signer);
    }
    cache_.Put(gun_, name, raw);
    return raw;
  }

  // §7 step 4.
  Status CheckCommon(const Json& s, const std::string& role, const std::string& type,
                     int64_t min_version, bool allow_expired) {
    auto t = s.find("_type");
    if (t == s.end() || !t->is_string() || t->get<std::string>() != type) {
      return Fail(gun_, role, "_type is not \"" + type + "\"");
    }
    auto v = IntField(s, "version");
    if (!v.ok()) return Fail(gun_, role, v.status().message());
    if (*v < 1) return Fail(gun_, role, "version must be >= 1");
    if (*v < min_version) {
      return Fail(gun_, role,
                  "version " + std::to_string(*v) + " is lower than the trusted version " +
                      std::to_string(min_version) + " (rollback)");
    }
    auto e = s.find("expires");
    if (e == s.end() || !e->is_string()) return Fail(gun_, role, "missing \"expires\"");
    auto exp = ParseRfc3339(e->get<std::string>());
    if (!exp.ok()) return Fail(gun_, role, exp.status().message());
    if (!allow_expired && *exp <= clock_.Now()) {
      return Fail(gun_, role, "expired at " + e->get<std::string>());
    }
    return OkStatus();
  }

  Result<Root> ParseRoot(std::string raw) {
    ASSIGN_OR_RETURN(Envelope env, Wrap("root", ParseEnvelope(std::move(raw), "root.json")));
    Root r;
    r.raw = std::move(env.raw);
    r.signed_part = env.signed_part;
    const Json& s = r.signed_part;
    auto t = s.find("_type");
    if (t == s.end() || !t->is_string() || t->get<std::string>() != "Root") {
      return Fail(gun_, "root", "_type is not \"Root\"");
    }
    auto v = IntField(s, "version");
    if (!v.ok() || *v < 1) return Fail(gun_, "root", "version must be an integer >= 1");
    r.version = *v;
    auto keys = s.find("keys");
    if (keys == s.end()) return Fail(gun_, "root", "missing \"keys\"");
    auto km = ParseKeys(*keys, "keys");
    if (!km.ok()) return Fail(gun_, "root", km.status().message());
    r.keys = std::move(*km);
    auto roles = s.find("roles");
    if (roles == s.end() || !roles->is_object()) return Fail(gun_, "root", "missing \"roles\"");
    for (const char* name : {"root", "targets", "snapshot", "timestamp"}) {
      auto it = roles->find(name);
      if (it == roles->end() || !it->is_object()) {
        return Fail(gun_, "root", std::string("role ") + name + " is missing");
      }
      RoleKeys rk;
      auto th = IntField(*it, "threshold");
      if (!th.ok() || *th < 1) {
        return Fail(gun_, "root", std::string("role ") + name + ": threshold must be >= 1");
      }
      rk.threshold = *th;
      auto ids = it->find("keyids");
      if (ids == it->end() || !ids->is_array()) {
        return Fail(gun_, "root", std::string("role ") + name + ": missing keyids");
      }
      for (const auto& id : *ids) {
        if (!id.is_string() || !r.keys.count(id.get<std::string>())) {
          return Fail(gun_, "root", std::string("role ") + name + ": key ID not in keys");
        }
        rk.keyids.push_back(id.get<std::string>());
      }
      r.roles[name] = std::move(rk);
    }
    envelopes_[r.raw] = std::move(env);
    return r;
  }

  // §7 step 7. `pin`: apply the trust pinning (first use).
  Result<Root> ValidateRoot(std::string raw, const Root* prev, bool pin, int64_t min_version,
                            bool allow_expired) {
    ASSIGN_OR_RETURN(Root root, ParseRoot(std::move(raw)));
    const Envelope& env = envelopes_.at(root.raw);
    KeyMap k = RootCertKeys(root.signed_part, gun_, clock_.Now());
    if (k.empty()) {
      return Fail(gun_, "root",
                  "no valid root certificate for this GUN (the CN must be the GUN and the "
                  "certificate must be valid now)");
    }
    std::string detail;
    if (prev) {
      KeyMap kp = RootCertKeys(prev->signed_part, gun_, std::nullopt);
      if (VerifySignatures(env, kp, prev->roles.at("root").threshold, &detail) != SigOutcome::kOk) {
        return Fail(gun_, "root",
                    "could not rotate trust to root version " + std::to_string(root.version) +
                        ": not signed by the trusted root keys of version " +
                        std::to_string(prev->version) + " (" + detail + ")");
      }
    }
    if (pin) {
      RETURN_IF_ERROR(ApplyPinning(&k, prev != nullptr));
    }
    if (VerifySignatures(env, k, root.roles.at("root").threshold, &detail) != SigOutcome::kOk) {
      return Fail(gun_, "root", detail);
    }
    RETURN_IF_ERROR(CheckCommon(root.signed_part, "root", "Root", min_version, allow_expired));
    return root;
  }

  // §7 step 7.4.
  Status ApplyPinning(KeyMap* k, bool have_prev) {
    const std::vector<std::string>* ids = nullptr;
    auto exact = pinning_.certs.find(gun_);
    if (exact != pinning_.certs.end()) {
      ids = &exact->second;
    } else {
      size_t best = 0;
      for (const auto& [pattern, list] : pinning_.certs) {
        if (pattern.empty() || pattern.back() != '*') continue;
        std::string prefix = pattern.substr(0, pattern.size() - 1);
        if (gun_.compare(0, prefix.size(), prefix) == 0 && (!ids || prefix.size() >= best)) {
          ids = &list;
          best = prefix.size();
        }
      }
    }
    if (ids) {
      for (auto it = k->begin(); it != k->end();) {
        if (std::find(ids->begin(), ids->end(), it->first) == ids->end()) {
          it = k->erase(it);
        } else {
          ++it;
        }
      }
      if (k->empty()) return Fail(gun_, "root", "no root key matches the pinned certificate IDs");
      return OkStatus();
    }
    const std::string* ca = nullptr;
    size_t best = 0;
    for (const auto& [prefix, pem] : pinning_.ca) {
      if (gun_.compare(0, prefix.size(), prefix) == 0 && (!ca || prefix.size() >= best)) {
        ca = &pem;
        best = prefix.size();
      }
    }
    if (ca) {
      for (auto it = k->begin(); it != k->end();) {
        if (!ChainsToCa(it->second, *ca, clock_.Now())) {
          it = k->erase(it);
        } else {
          ++it;
        }
      }
      if (k->empty()) {
        return Fail(gun_, "root", "the root certificate does not chain to the pinned CA");
      }
      return OkStatus();
    }
    if (pinning_.disable_tofu && !have_prev) {
      return Fail(gun_, "root", "no trust pinning configured for this GUN and TOFU is disabled");
    }
    return OkStatus();
  }

  // A cached root is usable while it and its certificates are valid.
  bool Usable(const Root& c) {
    auto e = c.signed_part.find("expires");
    if (e == c.signed_part.end() || !e->is_string()) return false;
    auto exp = ParseRfc3339(e->get<std::string>());
    if (!exp.ok() || *exp <= clock_.Now()) return false;
    return !RootCertKeys(c.signed_part, gun_, clock_.Now()).empty();
  }

  // §7 step 8: fetch root.json and move trust to it (from `cached`, if any).
  Result<Root> FetchRoot(const Root* cached, bool pin) {
    auto raw = source_.Fetch(gun_, "root", kRootCap);
    ++fetches_;
    if (!raw.ok()) {
      if (raw.status().code() == Code::kNotFound) {
        return NotFound(gun_ + ": no trust data (root.json not found on " + source_.Describe() +
                        ")");
      }
      return Status(raw.status().code(), gun_ + ": root: " + raw.status().message());
    }
    if (!cached) return ValidateRoot(std::move(*raw), nullptr, pin, 1, false);
    ASSIGN_OR_RETURN(Root fresh, ParseRoot(*raw));
    if (fresh.version < cached->version) {
      return Fail(gun_, "root",
                  "version " + std::to_string(fresh.version) +
                      " is lower than the trusted version " + std::to_string(cached->version) +
                      " (rollback)");
    }
    if (fresh.version == cached->version) {
      if (fresh.raw == cached->raw && !pin) return fresh;
      return ValidateRoot(std::move(*raw), cached, pin, cached->version, false);
    }
    if (fresh.version - cached->version > kMaxRootWalk) {
      return Fail(gun_, "root", "root version jumps by more than " + std::to_string(kMaxRootWalk));
    }
    Root prev = *cached;
    for (int64_t v = cached->version + 1; v < fresh.version; ++v) {
      std::string name = std::to_string(v) + ".root";
      ASSIGN_OR_RETURN(std::string step, Get("root", name, kRootCap));
      ASSIGN_OR_RETURN(prev, ValidateRoot(std::move(step), &prev, false, v, true));
    }
    return ValidateRoot(std::move(*raw), &prev, pin, cached->version, false);
  }

  template <typename T>
  Result<T> Wrap(const std::string& role, Result<T> r) {
    if (r.ok()) return r;
    return Fail(gun_, role, r.status().message());
  }

  // Timestamp, snapshot, targets and delegations under `root` (§7 steps 9-12).
  // kAborted when the snapshot names a root other than `root`.
  Result<VerifiedRepo> UpdateWithRoot(const Root& root, const TrustState& floors,
                                      std::map<std::string, int64_t>* versions) {
    auto floor = [&](const std::string& role) -> int64_t {
      auto it = floors.versions.find(role);
      return it == floors.versions.end() ? 1 : it->second;
    };
    auto role_keys = [&](const std::string& role) {
      KeyMap km;
      for (const auto& id : root.roles.at(role).keyids) km.emplace(id, root.keys.at(id));
      return km;
    };
    std::string detail;
    VerifiedRepo repo;
    repo.gun = gun_;
    repo.root_version = root.version;

    // Timestamp.
    ASSIGN_OR_RETURN(std::string ts_raw, Get("timestamp", "timestamp", kTimestampCap));
    ASSIGN_OR_RETURN(Envelope ts,
                     Wrap("timestamp", ParseEnvelope(std::move(ts_raw), "timestamp.json")));
    if (VerifySignatures(ts, role_keys("timestamp"), root.roles.at("timestamp").threshold,
                         &detail) != SigOutcome::kOk) {
      return Fail(gun_, "timestamp", detail);
    }
    const Json* sn_meta_j = nullptr;
    try {
      sn_meta_j = &ts.signed_part.at("meta").at("snapshot");
    } catch (const Json::exception&) {
      return Fail(gun_, "timestamp", "missing meta.snapshot");
    }
    ASSIGN_OR_RETURN(FileMeta sn_meta, Wrap("timestamp", ParseFileMeta(*sn_meta_j)));
    RETURN_IF_ERROR(
        CheckCommon(ts.signed_part, "timestamp", "Timestamp", floor("timestamp"), false));
    (*versions)["timestamp"] = IntField(ts.signed_part, "version").value();

    // Snapshot.
    std::string sn_name =
        "snapshot." + HexEncode(reinterpret_cast<const uint8_t*>(sn_meta.sha256.data()), 32);
    ASSIGN_OR_RETURN(std::string sn_raw, GetChecked("snapshot", sn_name, sn_meta, "timestamp"));
    ASSIGN_OR_RETURN(Envelope sn,
                     Wrap("snapshot", ParseEnvelope(std::move(sn_raw), "snapshot.json")));
    if (VerifySignatures(sn, role_keys("snapshot"), root.roles.at("snapshot").threshold, &detail) !=
        SigOutcome::kOk) {
      return Fail(gun_, "snapshot", detail);
    }
    auto meta = sn.signed_part.find("meta");
    if (meta == sn.signed_part.end() || !meta->is_object())
      return Fail(gun_, "snapshot", "missing meta");
    std::map<std::string, FileMeta> files;
    for (auto it = meta->begin(); it != meta->end(); ++it) {
      auto fm = ParseFileMeta(it.value());
      if (!fm.ok()) {
        if (it.key() == "root" || it.key() == "targets") {
          return Fail(gun_, "snapshot", "meta." + it.key() + ": " + fm.status().message());
        }
        continue;
      }
      files[it.key()] = std::move(*fm);
    }
    if (!files.count("root") || !files.count("targets")) {
      return Fail(gun_, "snapshot", "meta must list root and targets");
    }
    RETURN_IF_ERROR(CheckCommon(sn.signed_part, "snapshot", "Snapshot", floor("snapshot"), false));
    (*versions)["snapshot"] = IntField(sn.signed_part, "version").value();
    if (!HashesMatch(root.raw, files.at("root"))) {
      return Aborted(gun_ + ": snapshot: lists a root other than the trusted root.json");
    }

    // Targets and delegations, pre-order.
    auto load =
        [&](const std::string& name, const FileMeta& fm,
            std::vector<std::string> eff_paths) -> Result<std::pair<Envelope, TargetsRole>> {
      std::string fname =
          name + "." + HexEncode(reinterpret_cast<const uint8_t*>(fm.sha256.data()), 32);
      ASSIGN_OR_RETURN(std::string raw, GetChecked(name, fname, fm, "snapshot"));
      ASSIGN_OR_RETURN(Envelope env, Wrap(name, ParseEnvelope(std::move(raw), name + ".json")));
      ASSIGN_OR_RETURN(TargetsRole role, ParseTargets(name, env.signed_part, std::move(eff_paths)));
      return std::make_pair(std::move(env), std::move(role));
    };
    ASSIGN_OR_RETURN(auto top, load("targets", files.at("targets"), {""}));
    if (VerifySignatures(top.first, role_keys("targets"), root.roles.at("targets").threshold,
                         &detail) != SigOutcome::kOk) {
      return Fail(gun_, "targets", detail);
    }
    RETURN_IF_ERROR(
        CheckCommon(top.first.signed_part, "targets", "Targets", floor("targets"), false));
    (*versions)["targets"] = top.second.version;
    std::deque<std::string> stack;  // pre-order: children pushed to the front in listed order
    auto push_children = [&](const TargetsRole& parent) {
      for (auto it = parent.children.rbegin(); it != parent.children.rend(); ++it) {
        stack.push_front(parent.name + "\n" + it->name);
      }
    };
    repo.roles["targets"] = std::move(top.second);
    push_children(repo.roles["targets"]);
    while (!stack.empty()) {
      std::string entry = stack.front();
      stack.pop_front();
      std::string parent_name = entry.substr(0, entry.find('\n'));
      std::string name = entry.substr(entry.find('\n') + 1);
      const TargetsRole& parent = repo.roles.at(parent_name);
      const Delegation& d = *std::find_if(parent.children.begin(), parent.children.end(),
                                          [&](const Delegation& c) { return c.name == name; });
      auto fm = files.find(name);
      if (fm == files.end() || repo.roles.count(name)) continue;
      std::vector<std::string> eff;
      for (const auto& p : d.paths) {
        for (const auto& q : parent.effective_paths) {
          if (p.compare(0, q.size(), q) == 0) {
            eff.push_back(p);
            break;
          }
        }
      }
      ASSIGN_OR_RETURN(auto loaded, load(name, fm->second, eff));
      auto v = IntField(loaded.first.signed_part, "version");
      if (!v.ok()) return Fail(gun_, name, v.status().message());
      if (*v < floor(name)) {
        return Fail(gun_, name,
                    "version " + std::to_string(*v) + " is lower than the trusted version " +
                        std::to_string(floor(name)) + " (rollback)");
      }
      KeyMap dkeys;
      for (const auto& id : d.keyids) dkeys.emplace(id, parent.delegation_keys.at(id));
      SigOutcome so = VerifySignatures(loaded.first, dkeys, d.threshold, &detail);
      if (so == SigOutcome::kBadKeyId) return Fail(gun_, name, detail);
      if (so == SigOutcome::kThreshold) {
        repo.warnings.push_back(gun_ + ": " + name + ": skipped: " + detail);
        continue;
      }
      Status common = CheckCommon(loaded.first.signed_part, name, "Targets", floor(name), false);
      if (!common.ok()) {
        repo.warnings.push_back(common.message() + " (skipped)");
        continue;
      }
      (*versions)[name] = *v;
      repo.roles[name] = std::move(loaded.second);
      push_children(repo.roles[name]);
    }
    return repo;
  }

  // Parses a targets role and validates its delegations (§7 step 11).
  Result<TargetsRole> ParseTargets(const std::string& name, const Json& s,
                                   std::vector<std::string> eff_paths) {
    TargetsRole r;
    r.name = name;
    r.effective_paths = std::move(eff_paths);
    auto t = s.find("_type");
    if (t == s.end() || !t->is_string() || t->get<std::string>() != "Targets") {
      return Fail(gun_, name, "_type is not \"Targets\"");
    }
    auto v = IntField(s, "version");
    if (!v.ok()) return Fail(gun_, name, v.status().message());
    r.version = *v;
    auto tg = s.find("targets");
    if (tg != s.end() && !tg->is_null()) {
      if (!tg->is_object()) return Fail(gun_, name, "\"targets\" must be an object");
      for (auto it = tg->begin(); it != tg->end(); ++it) {
        auto fm = ParseFileMeta(it.value());
        Target target;
        target.name = it.key();
        if (fm.ok()) {  // an invalid entry fails when this tag is resolved
          target.digest =
              "sha256:" + HexEncode(reinterpret_cast<const uint8_t*>(fm->sha256.data()), 32);
          target.length = fm->length;
        }
        target.role = name;
        r.targets[it.key()] = std::move(target);
      }
    }
    auto dl = s.find("delegations");
    if (dl == s.end() || dl->is_null()) return r;
    if (!dl->is_object()) return Fail(gun_, name, "\"delegations\" must be an object");
    auto keys = dl->find("keys");
    if (keys != dl->end() && !keys->is_null()) {
      auto km = ParseKeys(*keys, "delegations");
      if (!km.ok()) return Fail(gun_, name, km.status().message());
      r.delegation_keys = std::move(*km);
    }
    auto roles = dl->find("roles");
    if (roles == dl->end() || roles->is_null()) return r;
    if (!roles->is_array()) return Fail(gun_, name, "delegations.roles must be an array");
    static const std::regex kName("^targets/[-a-z0-9_/]+$");
    for (const auto& rj : *roles) {
      Delegation d;
      try {
        d.name = rj.at("name").get<std::string>();
        d.keyids = rj.at("keyids").get<std::vector<std::string>>();
        if (rj.contains("paths") && !rj.at("paths").is_null()) {
          d.paths = rj.at("paths").get<std::vector<std::string>>();
        }
      } catch (const Json::exception& e) {
        return Fail(gun_, name, std::string("invalid delegation: ") + e.what());
      }
      auto th = IntField(rj, "threshold");
      if (!th.ok() || *th < 1)
        return Fail(gun_, name, "delegation " + d.name + ": threshold must be >= 1");
      d.threshold = *th;
      bool clean = d.name.find("//") == std::string::npos && d.name.back() != '/' &&
                   d.name.find("/./") == std::string::npos &&
                   d.name.find("/../") == std::string::npos && !d.name.ends_with("/.") &&
                   !d.name.ends_with("/..");
      if (d.name.size() >= 256 || !std::regex_match(d.name, kName) || !clean ||
          d.name.substr(0, d.name.rfind('/')) != name) {
        return Fail(gun_, name, "invalid delegation name \"" + d.name + "\"");
      }
      for (const auto& id : d.keyids) {
        if (!r.delegation_keys.count(id)) {
          return Fail(gun_, name, "delegation " + d.name + ": key " + id + " is not listed");
        }
      }
      r.children.push_back(std::move(d));
    }
    return r;
  }

 private:
  MetadataSource& source_;
  MetadataCache& cache_;
  const Clock& clock_;
  const TrustPinning& pinning_;
  std::string gun_;
  int fetches_ = 0;
  std::map<std::string, Envelope> envelopes_;  // parsed roots by raw bytes
};

}  // namespace

TufClient::TufClient(MetadataSource& source, RootStore& roots, MetadataCache& cache,
                     const Clock& clock, TrustPinning pinning)
    : source_(source), roots_(roots), cache_(cache), clock_(clock), pinning_(std::move(pinning)) {}

Result<VerifiedRepo> TufClient::Update(const std::string& gun) {
  Session s(source_, cache_, clock_, pinning_, gun);
  struct Count {
    Session& s;
    int& out;
    ~Count() { out = s.fetches(); }
  } count{s, last_fetches_};
  auto loaded = roots_.Load(gun);
  if (!loaded.ok()) {
    return Status(loaded.status().code(),
                  gun + ": cannot load the trusted root: " + loaded.status().message());
  }
  TrustState state = loaded->value_or(TrustState{});
  std::optional<Root> cached;
  if (loaded->has_value()) {
    auto c = s.ParseRoot(state.root);
    if (!c.ok())
      return Status(Code::kFailedPrecondition,
                    gun + ": stored trusted root is invalid: " + c.status().message());
    cached = std::move(*c);
  }
  Root root;
  bool from_cache = false;
  if (cached && s.Usable(*cached)) {
    root = *cached;
    from_cache = true;
  } else {
    // First use, or the cached root expired: the configured pinning applies.
    ASSIGN_OR_RETURN(root, s.FetchRoot(cached ? &*cached : nullptr, true));
  }
  std::map<std::string, int64_t> versions;
  auto repo = s.UpdateWithRoot(root, state, &versions);
  if (!repo.ok() && from_cache && repo.status().code() != Code::kUnavailable) {
    // The root may have rotated (new keys, or the snapshot names a new root).
    ASSIGN_OR_RETURN(root, s.FetchRoot(&*cached, false));
    versions.clear();
    repo = s.UpdateWithRoot(root, state, &versions);
  }
  if (!repo.ok()) {
    if (repo.status().code() == Code::kAborted) {
      return FailedPrecondition(repo.status().message());
    }
    return repo.status();
  }
  TrustState next = state;
  next.root = root.raw;
  for (const auto& [role, v] : versions) {
    next.versions[role] = std::max(next.versions.count(role) ? next.versions[role] : 0, v);
  }
  if (!(next == state)) {
    Status st = roots_.Save(gun, next);
    if (!st.ok()) {
      return Status(st.code(), gun + ": cannot store the trusted root: " + st.message());
    }
  }
  repo->fetches = s.fetches();
  return repo;
}

namespace {
Result<Target> Checked(const VerifiedRepo& repo, const Target& t) {
  if (t.digest.empty()) {
    return FailedPrecondition(repo.gun + ": " + t.role + ": target \"" + t.name +
                              "\" has no valid sha256 hash");
  }
  return t;
}
}  // namespace

Result<Target> ResolveTag(const VerifiedRepo& repo, const std::string& tag) {
  auto path_ok = [&](const TargetsRole& r) {
    for (const auto& p : r.effective_paths) {
      if (tag.compare(0, p.size(), p) == 0) return true;
    }
    return false;
  };
  auto releases = repo.roles.find("targets/releases");
  if (releases != repo.roles.end()) {
    std::deque<std::string> queue{"targets/releases"};
    while (!queue.empty()) {
      auto it = repo.roles.find(queue.front());
      queue.pop_front();
      if (it == repo.roles.end() || !path_ok(it->second)) continue;
      auto t = it->second.targets.find(tag);
      if (t != it->second.targets.end()) {
        if (it->first == "targets/releases") return Checked(repo, t->second);
        return FailedPrecondition(repo.gun + ": tag \"" + tag + "\" is signed only by " +
                                  it->first + ", which docker does not accept");
      }
      for (const auto& c : it->second.children) queue.push_back(c.name);
    }
  }
  const TargetsRole& top = repo.roles.at("targets");
  auto t = top.targets.find(tag);
  if (t != top.targets.end()) return Checked(repo, t->second);
  for (const auto& [name, role] : repo.roles) {
    if (name == "targets" || name == "targets/releases") continue;
    if (role.targets.count(tag)) {
      return FailedPrecondition(repo.gun + ": tag \"" + tag + "\" is signed only by " + name +
                                ", which is neither targets/releases nor targets");
    }
  }
  return NotFound(repo.gun + ": no trust data for tag \"" + tag + "\"");
}

}  // namespace stackctl::notary
