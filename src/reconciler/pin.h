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
// PinImages also says, per service, what trust verification said about its
// image (ImageVerdict): the controller keeps the verdicts of a stack's last
// deploy and the dashboard shows them.
//
// Thread safety: pure except for the verifier calls.
#pragma once

#include <map>
#include <string>
#include <string_view>
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

// Whether PinImages with these options leaves every spec as it is (resolves
// nothing): specs prepared before it (StackSpec::prepared) stay prepared.
bool PinLeavesSpecsAlone(const PinOptions& options);

// What trust verification said about a service's image:
//   verified     a signature the trust rule asks for verified (Notary role
//                or cosign key in `detail`)
//   warned       deployed without a verified signature under a warn (or, for
//                a reference pinned by digest, require) rule; or the image
//                could not be resolved at all and runs its tag unpinned
//   not-checked  no signature was asked for: the rule is off, resolution is
//                "never", the stack file pins the digest, or this deploy kept
//                the digest the service runs (`checked` false)
enum class VerdictKind { kVerified, kWarned, kNotChecked };
std::string_view VerdictKindName(VerdictKind k);  // "verified" | "warned" | "not-checked"

struct ImageVerdict {
  VerdictKind kind = VerdictKind::kNotChecked;
  std::string image;   // as the stack file writes it ("busybox:1")
  std::string digest;  // the digest the service was given; "" = its tag, unpinned
  // verified: who signed ("targets/releases", "cosign key release.pub");
  // otherwise why it is not verified.
  std::string detail;
  // false: this deploy asked nothing about the image (it kept the digest the
  // service runs, or a history record's); MergeVerdicts then keeps the
  // verdict an earlier deploy gave the same image and digest.
  bool checked = true;
  bool operator==(const ImageVerdict&) const = default;
};
using ImageVerdicts = std::map<std::string, ImageVerdict>;  // by service name ("web_app")

// The verdict of one resolution: verified when signed_by is set; warned when
// a warn or require rule applied without a signature (its first warning, or
// "not trust-verified", is the detail); not-checked when the rule was off.
ImageVerdict VerdictOf(const std::string& image, const notary::ResolvedImage& resolved);

// The verdicts of a stack after a deploy: those of `latest` (every service it
// deployed), where an unchecked one takes the verdict `earlier` holds for the
// same service, image and digest (nothing changed, so it still holds).
ImageVerdicts MergeVerdicts(const ImageVerdicts& earlier, ImageVerdicts latest);

// Pins the images of `stack` in place; returns warnings. With `verdicts`,
// sets the verdict of every service that has an image (by service name).
// When an image that must be verified is refused, the error names its
// services, and `refused` (when given) is set to their names ("app_web"), in
// stack order, so callers need not read them out of the message.
Result<std::vector<std::string>> PinImages(model::StackSpec* stack, const LiveState& live,
                                           notary::ImageVerifier& verifier, const PinOptions& options,
                                           ImageVerdicts* verdicts = nullptr,
                                           std::vector<std::string>* refused = nullptr);
// The verdicts of a stack deployed without any image resolution (every one
// not-checked, `why`, its digest read from the spec's image).
ImageVerdicts UncheckedVerdicts(const model::StackSpec& stack, const std::string& why);

}  // namespace stackctl::reconciler
