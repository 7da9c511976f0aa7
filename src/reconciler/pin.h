// Image pinning: every service's image tag is replaced by tag@digest before
// the diff, so every node runs exactly the same image and a moved tag shows up
// as a change. The original reference stays in com.docker.stack.image (set by
// the converter), so pinning is never mistaken for drift.
//
// Resolution goes through a notary::ImageVerifier (a PolicyVerifier: Notary
// trust data and/or the engine's distribution endpoint). Modes, like
// `docker stack deploy --resolve-image`:
//   kAlways   resolve every image on every deploy
//   kChanged  reuse what a live service already runs when its tag is
//             unchanged: its digest, or the tag itself when an earlier deploy
//             could not pin it (a no-op deploy costs no registry or Notary
//             call); resolve the rest (the default)
//   kNever    leave images as written
// Each distinct reference is resolved at most once per call, failures
// included, and reported once, naming the services that use it.
// With `required` (some trust rule says "require"), every image is resolved
// and a failure of an image the verifier requires
// (ImageVerifier::RequiresVerification) is an error that blocks the whole
// revision; otherwise a failure keeps the tag and adds a warning, as docker
// does.
//
// Thread safety: pure except for the verifier calls.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "model/stack.h"
#include "notary/image_verifier.h"
#include "reconciler/live.h"

namespace stackctl::reconciler {

enum class ResolveMode { kAlways, kChanged, kNever };
// "always" | "changed" | "never"
Result<ResolveMode> ParseResolveMode(const std::string& s);

struct PinOptions {
  ResolveMode mode = ResolveMode::kChanged;
  bool required = false;
};

// Pins the images of `stack` in place; returns warnings.
Result<std::vector<std::string>> PinImages(model::StackSpec* stack, const LiveState& live,
                                           notary::ImageVerifier& verifier, const PinOptions& options);

}  // namespace stackctl::reconciler
