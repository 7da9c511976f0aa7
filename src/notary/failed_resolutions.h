// FailedResolutions: remembers, per image reference, that resolving it failed,
// for a backoff period. stackctld reconciles every stack again on each poll,
// webhook and drift check; without this, a locally built image (no registry
// knows it), an air-gapped swarm or a registry that is down or rate limiting
// (Docker Hub's 429s) is asked again on every reconcile, at a registry round
// trip (0.35 s against a 20.10 engine looking up Docker Hub) each time.
//
// FailureCachingVerifier puts it in front of any ImageVerifier: a reference
// whose failure is remembered gets that failure back, with when it will be
// asked again, and the inner verifier is not called. Successes are not cached
// here: the reconciler's "changed" mode already reuses what runs.
//
// Thread safety: FailedResolutions is internally locked; a
// FailureCachingVerifier is as safe as its inner verifier.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "notary/image_verifier.h"

namespace stackctl::notary {

class FailedResolutions {
 public:
  FailedResolutions(Clock& clock, std::chrono::milliseconds backoff) : clock_(clock), backoff_(backoff) {}
  // The failure remembered for `reference` while its backoff runs; its
  // message says when the reference will be asked again.
  std::optional<Status> Find(const std::string& reference) const;
  void Remember(const std::string& reference, const Status& failure);
  // Forgets every failure (a manual sync asks the registry again).
  void Clear();

 private:
  struct Entry {
    Status failure;
    Clock::TimePoint until;
  };
  Clock& clock_;
  const std::chrono::milliseconds backoff_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

class FailureCachingVerifier : public ImageVerifier {
 public:
  FailureCachingVerifier(ImageVerifier& inner, FailedResolutions& failures) : inner_(inner), failures_(failures) {}
  Result<ResolvedImage> Resolve(const std::string& image_ref) override;
  bool RequiresVerification(const std::string& image_ref) override {
    return inner_.RequiresVerification(image_ref);
  }

 private:
  ImageVerifier& inner_;
  FailedResolutions& failures_;
};

}  // namespace stackctl::notary
