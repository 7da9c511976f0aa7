// Durable per-GUN trust state and the cache of verified metadata.
//
// TrustState is what TOFU and rollback protection need to survive restarts:
// the raw bytes of the trusted root.json and the highest version seen of
// every other role (the rollback floors). RootStore persists it:
//   FileRootStore   one JSON file per GUN under a directory (the CLI's default)
//   SwarmRootStore  a labelled Swarm config per GUN (swarm_root_store.h), so
//                   every manager and the CLI share one trusted root.
// MetadataCache keeps checksum-addressed metadata files ("snapshot.<hex>",
// "targets.<hex>", "targets/releases.<hex>"): their names fix their content,
// and the client re-checks the hash of every file it reads back anyway.
//
// Thread safety: FileRootStore and FileMetadataCache are safe for concurrent
// use (atomic rename; last writer wins); MemoryMetadataCache locks internally.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "common/status.h"

namespace stackctl::notary {

struct TrustState {
  std::string root;                         // raw root.json bytes
  std::map<std::string, int64_t> versions;  // role -> highest trusted version
  bool operator==(const TrustState&) const = default;
};

// {"root": "<raw>", "versions": {...}} and back.
std::string EncodeTrustState(const TrustState& s);
Result<TrustState> DecodeTrustState(const std::string& data, const std::string& what);

class RootStore {
 public:
  virtual ~RootStore() = default;
  // nullopt when nothing is stored for `gun` (first use).
  virtual Result<std::optional<TrustState>> Load(const std::string& gun) = 0;
  virtual Status Save(const std::string& gun, const TrustState& state) = 0;
};

// Files DIR/<sha256(gun)>.json (created with mode 0600, DIR with 0700).
class FileRootStore : public RootStore {
 public:
  explicit FileRootStore(std::string dir) : dir_(std::move(dir)) {}
  Result<std::optional<TrustState>> Load(const std::string& gun) override;
  Status Save(const std::string& gun, const TrustState& state) override;

 private:
  std::string dir_;
};

class MetadataCache {
 public:
  virtual ~MetadataCache() = default;
  virtual std::optional<std::string> Get(const std::string& gun, const std::string& name) = 0;
  virtual void Put(const std::string& gun, const std::string& name, const std::string& raw) = 0;
};

class MemoryMetadataCache : public MetadataCache {
 public:
  std::optional<std::string> Get(const std::string& gun, const std::string& name) override;
  void Put(const std::string& gun, const std::string& name, const std::string& raw) override;

 private:
  std::mutex mu_;
  std::map<std::string, std::string> files_;
};

// Files DIR/<sha256(gun)>/<sha256(name)>; a failed write is ignored (it is a cache).
class FileMetadataCache : public MetadataCache {
 public:
  explicit FileMetadataCache(std::string dir) : dir_(std::move(dir)) {}
  std::optional<std::string> Get(const std::string& gun, const std::string& name) override;
  void Put(const std::string& gun, const std::string& name, const std::string& raw) override;

 private:
  std::string dir_;
};

}  // namespace stackctl::notary
