// What a test of ReconcileStack runs on: the fake engine, a fake clock, no
// decryption keys, trusted roots and Notary metadata in memory. Tests only.
//
// Thread safety: as its members (the fake engine and the clock are safe).
#pragma once

#include <string>

#include "common/clock.h"
#include "engineapi/fake_engine.h"
#include "notary/test_support.h"
#include "notary/trust_store.h"
#include "secrets/keyring.h"
#include "stacksync/stack_reconcile.h"

namespace stackctl::stacksync::testing {

struct FakeWorld {
  engine::FakeEngine engine;
  FakeClock clock;
  secrets::Keyring keys;
  notary::testing::MemoryRootStore roots;
  notary::MemoryMetadataCache cache;

  ReconcileEnv Env(std::function<void(reconciler::Decision)> decided = {}) {
    return ReconcileEnv{engine, clock, keys, roots, cache, std::move(decided)};
  }
  // The image a service's spec names now.
  std::string Image(const std::string& service) {
    return engine.InspectService(service)->spec["TaskTemplate"]["ContainerSpec"]["Image"];
  }
};

}  // namespace stackctl::stacksync::testing
