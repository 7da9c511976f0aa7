// Test helpers for the notary module: SampleSource, an in-memory
// MetadataSource holding metadata files under the names a notary server
// serves them (loaded from a directory laid out as
// <dir>/<gun with '/' and ':' as '_'>/<name>.json, the layout the test bed
// saves its notary servers' metadata in, see tests/testbed/save-tuf.py; or
// filled by the test, see test_repo.h), with fault injection; and an
// in-memory RootStore. Used by tests and the fuzzer only.
//
// Thread safety: none (single-threaded tests).
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "notary/trust_store.h"
#include "notary/tuf_client.h"

namespace stackctl::notary::testing {

inline std::string GunDir(const std::string& gun) {
  std::string d = gun;
  for (char& c : d) {
    if (c == '/' || c == ':') c = '_';
  }
  return d;
}

class SampleSource : public MetadataSource {
 public:
  SampleSource() = default;
  explicit SampleSource(const std::string& dir)
      : name_("samples:" + std::filesystem::path(dir).filename().string()) {
    namespace fs = std::filesystem;
    if (!fs::exists(dir)) return;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      auto rel = fs::relative(e.path(), dir).string();
      size_t slash = rel.find('/');
      if (slash == std::string::npos || !rel.ends_with(".json")) continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      files_[rel.substr(0, rel.size() - 5)] = ss.str();
    }
  }

  Result<std::string> Fetch(const std::string& gun, const std::string& name,
                            size_t max_bytes) override {
    log_.push_back(name);
    if (down_) return Unavailable("server down");
    auto it = files_.find(GunDir(gun) + "/" + name);
    if (it == files_.end()) return NotFound(name + ".json: 404");
    if (it->second.size() > max_bytes) return FailedPrecondition(name + ".json: too large");
    return it->second;
  }
  std::string Describe() const override { return name_; }

  std::optional<std::string> Raw(const std::string& gun, const std::string& name) const {
    auto it = files_.find(GunDir(gun) + "/" + name);
    if (it == files_.end()) return std::nullopt;
    return it->second;
  }
  void Replace(const std::string& gun, const std::string& name, const std::string& raw) {
    files_[GunDir(gun) + "/" + name] = raw;
  }
  // The checksum-addressed name ("snapshot.<hex>") of `role`.
  std::string Addressed(const std::string& gun, const std::string& role) const {
    std::string prefix = GunDir(gun) + "/" + role + ".";
    for (const auto& [k, v] : files_) {
      if (k.rfind(prefix, 0) == 0 && k.size() == prefix.size() + 64)
        return k.substr(GunDir(gun).size() + 1);
    }
    return role;
  }
  void SetDown(bool down) { down_ = down; }
  const std::vector<std::string>& Log() const { return log_; }
  void ResetLog() { log_.clear(); }
  std::map<std::string, std::string>& files() { return files_; }

 private:
  std::string name_ = "samples";
  std::map<std::string, std::string> files_;
  std::vector<std::string> log_;
  bool down_ = false;
};

class MemoryRootStore : public RootStore {
 public:
  Result<std::optional<TrustState>> Load(const std::string& gun) override {
    auto it = states_.find(gun);
    if (it == states_.end()) return std::optional<TrustState>();
    return std::optional<TrustState>(it->second);
  }
  Status Save(const std::string& gun, const TrustState& state) override {
    states_[gun] = state;
    return OkStatus();
  }

 private:
  std::map<std::string, TrustState> states_;
};

}  // namespace stackctl::notary::testing
