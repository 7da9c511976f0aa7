// StackLock: serializes deploys of one stack across processes and managers.
//
// The lock is a Swarm config "stackctl-lock-<stack>": creating it is atomic
// in the Raft store, so whoever creates it holds the lock; the others poll
// until it is gone. The config's labels name the holder (host:pid:nonce) and
// an expiry, so a lock left by a crashed holder is broken once it expired, or
// at once when its holder was a process on this host that no longer exists
// (a controller killed mid-rollout and restarted must not wait for expiry).
//
// Thread safety: a StackLock is owned by one thread; Acquire is safe to call
// concurrently (the engine arbitrates).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "engineapi/engine.h"

namespace stackctl::reconciler {

class StackLock {
 public:
  // Waits up to `wait` for the lock; Aborted (a conflict: retry) naming the holder when
  // it stays taken. `ttl` bounds how long a crashed holder can block others.
  static Result<std::unique_ptr<StackLock>> Acquire(engine::Engine& engine, Clock& clock,
                                                    const std::string& stack,
                                                    std::chrono::milliseconds wait,
                                                    std::chrono::milliseconds ttl);
  ~StackLock();
  StackLock(const StackLock&) = delete;
  StackLock& operator=(const StackLock&) = delete;

 private:
  StackLock(engine::Engine& engine, std::string id) : engine_(engine), id_(std::move(id)) {}
  engine::Engine& engine_;
  std::string id_;
};

}  // namespace stackctl::reconciler
