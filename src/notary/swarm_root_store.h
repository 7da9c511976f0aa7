// SwarmRootStore: the per-GUN TrustState (trusted root.json + rollback
// floors) kept in the swarm itself as a labelled Swarm config, so every
// manager running stackctld and every `stackctl` CLI talking to the swarm
// trust the same root (TOFU happens once per swarm, not once per process).
//
// Layout: config "stackctl-notary-<sha256(gun)[:16]>-<sha256(data)[:16]>",
// Data = EncodeTrustState(), labels
//   io.stackctl.owner=stackctl  io.stackctl.kind=notary-trust
//   io.stackctl.notary.gun=<gun>  io.stackctl.notary.gun-hash=<sha256(gun)>
//   io.stackctl.notary.root-version=<n>  io.stackctl.notary.weight=<sum of floors>
// Swarm configs are immutable: Save creates a new config and removes the
// older ones of that GUN. Should two writers race, Load takes the highest
// root version, then the highest weight (floors only ever grow), then name.
//
// Thread safety: as safe as the Engine (which must allow concurrent calls).
#pragma once

#include "engineapi/engine.h"
#include "notary/trust_store.h"

namespace stackctl::notary {

class SwarmRootStore : public RootStore {
 public:
  explicit SwarmRootStore(engine::Engine& engine) : engine_(engine) {}
  Result<std::optional<TrustState>> Load(const std::string& gun) override;
  Status Save(const std::string& gun, const TrustState& state) override;

 private:
  engine::Engine& engine_;
};

}  // namespace stackctl::notary
