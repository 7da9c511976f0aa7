#include "notary/failed_resolutions.h"

namespace stackctl::notary {

std::optional<Status> FailedResolutions::Find(const std::string& reference) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(reference);
  if (it == entries_.end() || clock_.Now() >= it->second.until) return std::nullopt;
  return Status(it->second.failure.code(),
                it->second.failure.message() + "; not asked again before " + FormatRfc3339(it->second.until));
}

void FailedResolutions::Remember(const std::string& reference, const Status& failure) {
  std::lock_guard<std::mutex> l(mu_);
  entries_[reference] = Entry{failure, clock_.Now() + backoff_};
}

void FailedResolutions::Clear() {
  std::lock_guard<std::mutex> l(mu_);
  entries_.clear();
}

Result<ResolvedImage> FailureCachingVerifier::Resolve(const std::string& image_ref) {
  if (auto remembered = failures_.Find(image_ref)) return *remembered;
  Result<ResolvedImage> r = inner_.Resolve(image_ref);
  if (!r.ok()) failures_.Remember(image_ref, r.status());
  return r;
}

}  // namespace stackctl::notary
