#include "reconciler/pin.h"

#include <map>

namespace stackctl::reconciler {

Result<ResolveMode> ParseResolveMode(const std::string& s) {
  if (s == "always") return ResolveMode::kAlways;
  if (s == "changed") return ResolveMode::kChanged;
  if (s == "never") return ResolveMode::kNever;
  return InvalidArgument("resolve-image: must be one of always, changed, never (got \"" + s + "\")");
}

Result<std::vector<std::string>> PinImages(model::StackSpec* stack, const LiveState& live,
                                           notary::ImageVerifier& verifier, const PinOptions& options) {
  std::vector<std::string> warnings;
  if (options.mode == ResolveMode::kNever && !options.required) return warnings;
  std::map<std::string, notary::ResolvedImage> resolved;  // per image, once per deploy
  for (auto& svc : stack->services) {
    Json spec = svc.spec.Unpack();
    Json& image = spec["TaskTemplate"]["ContainerSpec"]["Image"];
    if (!image.is_string()) continue;
    std::string ref = image.get<std::string>();
    // Every path below that sets `image` ends here: the spec is repacked.
    auto pin = [&](std::string pinned) {
      image = std::move(pinned);
      svc.spec = PackedJson(spec);
    };
    if (ref.find("@sha256:") != std::string::npos && !options.required) continue;
    if (options.mode == ResolveMode::kChanged && !options.required) {
      auto it = live.services.find(svc.name);
      if (it != live.services.end()) {
        auto label = it->second.labels.find(model::kStackImageLabel);
        std::string live_label = label == it->second.labels.end() ? "" : label->second;
        std::string want_label = spec.value("Labels", Json::object()).value(model::kStackImageLabel, "");
        const std::string& live_image = it->second.image;
        if (live_label == want_label && live_image.rfind(ref + "@sha256:", 0) == 0) {
          pin(live_image);
          continue;
        }
      }
    }
    auto cached = resolved.find(ref);
    if (cached == resolved.end()) {
      auto r = verifier.Resolve(ref);
      if (!r.ok()) {
        if (options.required) return r.status().WithPrefix("service " + svc.key + ": image " + ref);
        warnings.push_back("service " + svc.key + ": image " + ref + " could not be pinned (" +
                           r.status().message() + "); deploying the tag unpinned");
        continue;
      }
      cached = resolved.emplace(ref, *r).first;
      for (const auto& w : r->warnings) warnings.push_back("service " + svc.key + ": " + w);
    }
    std::string base = ref.substr(0, ref.find('@'));
    pin(base + "@" + cached->second.digest);
  }
  return warnings;
}

}  // namespace stackctl::reconciler
