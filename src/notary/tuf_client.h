// TufClient: verifies the Notary v1 / TUF metadata of one GUN and resolves a
// tag to its signed manifest digest with docker's semantics (NOTARY.md §7).
//
// Per Update(gun):
//   root       the trusted root from the RootStore; on first use (or when it
//              has expired) root.json is fetched and checked against the trust
//              pinning (pinned cert IDs, else pinned CA, else TOFU unless
//              disabled). A rotated root is walked version by version.
//   timestamp  always fetched (the only fetch for an unchanged repository).
//   snapshot, targets, delegations
//              checksum-addressed names from the signed meta of their parent,
//              read from the MetadataCache when present, always hash-checked.
// Every role: signature threshold over distinct valid keys, expiry against the
// injected Clock, version >= the stored rollback floor. Any failure of root,
// timestamp, snapshot or targets is fatal (fail closed); an expired or
// under-signed delegation is skipped with a warning (docker/notary behaviour).
// On success the root and the new version floors are saved to the RootStore.
//
// Errors (messages start with "<gun>: <role>: "):
//   kNotFound           no trust data (root.json 404) / tag not signed
//   kFailedPrecondition untrusted: bad signature, hash, expiry, rollback,
//                       pinning, rotation, or a tag signed only by another delegation
//   kUnavailable        the trust server is unreachable or answers garbage status
//
// Thread safety: a TufClient may be used from one thread at a time; the
// source, store and cache it references must outlive it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "notary/trust_store.h"
#include "notary/tuf_keys.h"

namespace stackctl::notary {

// Where metadata comes from (the notary server over HTTPS, or files in tests).
class MetadataSource {
 public:
  virtual ~MetadataSource() = default;
  // Returns the bytes of "{name}.json" of `gun` (name: "root", "2.root",
  // "timestamp", "snapshot.<hex>", "targets/releases.<hex>"). kNotFound for a
  // missing file, kUnavailable when the server cannot be reached or fails, and
  // kFailedPrecondition when the body is longer than `max_bytes`.
  virtual Result<std::string> Fetch(const std::string& gun, const std::string& name,
                                    size_t max_bytes) = 0;
  // "https://127.0.0.1:4443", for messages.
  virtual std::string Describe() const = 0;
};

// Like notary's trust_pinning config (NOTARY.md §8).
struct TrustPinning {
  // GUN, or "prefix*", -> allowed root.json key IDs of the root certificate.
  std::map<std::string, std::vector<std::string>> certs;
  // GUN prefix -> PEM text of the CA certificates the root cert must chain to.
  std::map<std::string, std::string> ca;
  bool disable_tofu = false;
};

struct Target {
  std::string name;
  std::string digest;  // "sha256:<hex>"
  int64_t length = 0;
  std::string role;  // role that signed it
  bool operator==(const Target&) const = default;
};

struct Delegation {
  std::string name;
  std::vector<std::string> keyids;
  int64_t threshold = 0;
  std::vector<std::string> paths;
};

struct TargetsRole {
  std::string name;
  int64_t version = 0;
  std::vector<std::string> effective_paths;
  std::map<std::string, Target> targets;
  KeyMap delegation_keys;
  std::vector<Delegation> children;
};

struct VerifiedRepo {
  std::string gun;
  int64_t root_version = 0;
  std::map<std::string, TargetsRole> roles;  // loaded roles: "targets", "targets/releases", ...
  std::vector<std::string> warnings;         // skipped delegations
  int fetches = 0;                           // metadata files fetched from the source
};

class TufClient {
 public:
  TufClient(MetadataSource& source, RootStore& roots, MetadataCache& cache, const Clock& clock,
            TrustPinning pinning);

  Result<VerifiedRepo> Update(const std::string& gun);
  // Metadata files fetched by the last Update, successful or not.
  int last_fetches() const { return last_fetches_; }

 private:
  MetadataSource& source_;
  RootStore& roots_;
  MetadataCache& cache_;
  const Clock& clock_;
  TrustPinning pinning_;
  int last_fetches_ = 0;
};

// Docker's tag resolution (§7 step 13): targets/releases first (the winner
// must be targets/releases itself), then targets.
Result<Target> ResolveTag(const VerifiedRepo& repo, const std::string& tag);

}  // namespace stackctl::notary
