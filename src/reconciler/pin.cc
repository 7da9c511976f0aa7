#include "reconciler/pin.h"

#include <map>
#include <optional>

namespace stackctl::reconciler {

Result<ResolveMode> ParseResolveMode(const std::string& s) {
  if (s == "always") return ResolveMode::kAlways;
  if (s == "changed") return ResolveMode::kChanged;
  if (s == "never") return ResolveMode::kNever;
  return InvalidArgument("resolve-image: must be one of always, changed, never (got \"" + s + "\")");
}

std::string_view VerdictKindName(VerdictKind k) {
  switch (k) {
    case VerdictKind::kVerified: return "verified";
    case VerdictKind::kWarned: return "warned";
    case VerdictKind::kNotChecked: return "not-checked";
  }
  return "unknown";
}

ImageVerdict VerdictOf(const std::string& image, const notary::ResolvedImage& resolved) {
  ImageVerdict v;
  v.image = image;
  v.digest = resolved.digest;
  if (!resolved.signed_by.empty()) {
    v.kind = VerdictKind::kVerified;
    v.detail = resolved.signed_by;
  } else if (resolved.trust_policy == "warn" || resolved.trust_policy == "require") {
    v.kind = VerdictKind::kWarned;
    v.detail = resolved.warnings.empty() ? "not trust-verified" : resolved.warnings.front();
  } else {
    v.kind = VerdictKind::kNotChecked;
    v.detail = "trust policy off";
  }
  return v;
}

ImageVerdicts MergeVerdicts(const ImageVerdicts& earlier, ImageVerdicts latest) {
  for (auto& [service, v] : latest) {
    if (v.checked) continue;
    auto it = earlier.find(service);
    if (it != earlier.end() && it->second.image == v.image && it->second.digest == v.digest) v = it->second;
  }
  return latest;
}

namespace {

// The image as the stack file wrote it (the converter's label), else the spec's.
std::string WrittenImage(const Json& spec) {
  std::string label = spec.value("Labels", Json::object()).value(model::kStackImageLabel, "");
  if (!label.empty()) return label;
  return spec.value("TaskTemplate", Json::object()).value("ContainerSpec", Json::object()).value("Image", "");
}

std::string DigestOf(const std::string& ref) {
  auto at = ref.find("@sha256:");
  return at == std::string::npos ? "" : ref.substr(at + 1);
}

// "service web" or "services web, api, db and 297 more": the services that use one image.
std::string NameServices(const std::vector<model::Service*>& users) {
  constexpr size_t kNamed = 3;
  std::string out = users.size() == 1 ? "service " : "services ";
  for (size_t i = 0; i < users.size() && i < kNamed; ++i) {
    if (i > 0) out += (i + 1 == users.size() ? " and " : ", ");
    out += users[i]->key;
  }
  if (users.size() > kNamed) out += " and " + std::to_string(users.size() - kNamed) + " more";
  return out;
}

// In "changed" mode: what the live service already runs for this unchanged
// tag — its pinned reference, or the tag itself when it runs unpinned (an
// earlier deploy could not resolve it; asking again on every no-op would cost
// a registry round trip per service, for the answer docker's "changed" gives
// too). nullopt when the service must be resolved.
std::optional<std::string> LiveReferenceForUnchangedTag(const std::string& ref, const Json& spec,
                                                        const std::string& service_name,
                                                        const LiveState& live) {
  auto it = live.services.find(service_name);
  if (it == live.services.end()) return std::nullopt;
  auto label = it->second.labels.find(model::kStackImageLabel);
  std::string live_label = label == it->second.labels.end() ? "" : label->second;
  std::string want_label = spec.value("Labels", Json::object()).value(model::kStackImageLabel, "");
  if (live_label != want_label) return std::nullopt;
  const std::string& live_image = it->second.image;
  if (live_image == ref || live_image.rfind(ref + "@sha256:", 0) == 0) return live_image;
  return std::nullopt;
}

}  // namespace

bool PinLeavesSpecsAlone(const PinOptions& options) {
  return options.mode == ResolveMode::kNever && !options.required;
}

ImageVerdicts UncheckedVerdicts(const model::StackSpec& stack, const std::string& why) {
  ImageVerdicts out;
  for (const auto& svc : stack.services) {
    Json spec = svc.spec.Unpack();
    const Json& image = spec["TaskTemplate"]["ContainerSpec"]["Image"];
    if (!image.is_string()) continue;
    out[svc.name] = {VerdictKind::kNotChecked, WrittenImage(spec), DigestOf(image.get<std::string>()), why, false};
  }
  return out;
}

Result<std::vector<std::string>> PinImages(model::StackSpec* stack, const LiveState& live,
                                           notary::ImageVerifier& verifier, const PinOptions& options,
                                           ImageVerdicts* verdicts,
                                           std::vector<std::string>* refused) {
  std::vector<std::string> warnings;
  if (PinLeavesSpecsAlone(options)) {
    if (verdicts) *verdicts = UncheckedVerdicts(*stack, "not resolved (resolve_image: never)");
    return warnings;
  }
  const bool reuse_live = options.mode == ResolveMode::kChanged && !options.required;
  // Verdicts of the services no resolution concerns; the others are set in
  // the second pass.
  auto unchecked = [&](const model::Service& svc, const Json& spec, const std::string& ref,
                       const std::string& why, bool checked) {
    if (verdicts) (*verdicts)[svc.name] = {VerdictKind::kNotChecked, WrittenImage(spec), DigestOf(ref), why, checked};
  };

  // First pass: the services whose reference must be resolved, grouped by
  // reference in the order the references first appear, so each distinct
  // reference is asked once and a failure is reported once.
  std::vector<std::string> order;
  std::map<std::string, std::vector<model::Service*>> users;
  for (auto& svc : stack->services) {
    Json spec = svc.spec.Unpack();
    Json& image = spec["TaskTemplate"]["ContainerSpec"]["Image"];
    if (!image.is_string()) continue;
    std::string ref = image.get<std::string>();
    if (ref.find("@sha256:") != std::string::npos && !options.required) {
      unchecked(svc, spec, ref, "pinned by digest in the stack file", /*checked=*/false);
      continue;
    }
    if (reuse_live) {
      if (auto reuse = LiveReferenceForUnchangedTag(ref, spec, svc.name, live)) {
        unchecked(svc, spec, *reuse, "not checked again: the service keeps the digest it runs", false);
        if (*reuse != ref) {
          image = *reuse;
          svc.spec = PackedJson(spec);
        }
        continue;
      }
    }
    auto [it, added] = users.try_emplace(ref);
    if (added) order.push_back(ref);
    it->second.push_back(&svc);
  }

  // Second pass: resolve each reference once and pin every service using it.
  for (const std::string& ref : order) {
    const auto& services = users[ref];
    auto r = verifier.Resolve(ref);
    if (!r.ok()) {
      if (options.required && verifier.RequiresVerification(ref)) {
        if (refused) {
          refused->clear();
          for (const model::Service* svc : services) refused->push_back(svc->name);
        }
        Status why = r.status().WithPrefix(NameServices(services) + ": image " + ref);
        // A refusal for good (no signature, no such tag, trust data or
        // credentials refused by the registry or Notary) is the revision's
        // fault as the caller sees it: FAILED_PRECONDITION (HTTP 422). NotFound
        // would reach API clients as 404 and `stackctl --server` as "stack ...
        // not found"; PermissionDenied / Unauthenticated as 403 / 401, read as
        // the caller's API token being refused. Outages (retryable) keep their code.
        if (why.code() == Code::kNotFound || why.code() == Code::kPermissionDenied ||
            why.code() == Code::kUnauthenticated) {
          return FailedPrecondition(why.message());
        }
        return why;
      }
      warnings.push_back(NameServices(services) + ": image " + ref + " could not be pinned (" +
                         r.status().message() + "); deploying the tag unpinned");
      for (model::Service* svc : services) {
        if (verdicts) {
          (*verdicts)[svc->name] = {VerdictKind::kWarned, WrittenImage(svc->spec.Unpack()), "",
                                    "could not be verified or pinned: " + r.status().message(), true};
        }
      }
      continue;
    }
    for (const auto& w : r->warnings) warnings.push_back(NameServices(services) + ": " + w);
    const std::string pinned = ref.substr(0, ref.find('@')) + "@" + r->digest;
    for (model::Service* svc : services) {
      svc->spec.Edit([&](Json& spec) {
        spec["TaskTemplate"]["ContainerSpec"]["Image"] = pinned;
        if (verdicts) (*verdicts)[svc->name] = VerdictOf(WrittenImage(spec), *r);
      });
    }
  }
  return warnings;
}

}  // namespace stackctl::reconciler
