// ImageVerifier: turns an image reference from a stack file into the
// digest-pinned reference a service spec should carry.
//
//   NotaryVerifier       Docker Content Trust: the tag's signed digest from the
//                        Notary v1 server of the image's registry (TufClient).
//   EngineDigestResolver the registry's current digest through the engine
//                        (like `docker stack deploy --resolve-image always`);
//                        nothing is trust-verified.
//   PolicyVerifier       the combinator the reconciler uses, driven by one
//                        ImageTrustPolicy: the first TrustRule whose `images`
//                        glob matches the repository says which signatures
//                        (Notary, cosign — see cosign.h — all of them or any
//                        one) and how strictly:
//                          require  only trust-verified images; anything else
//                                   is an error (the caller blocks the revision)
//                          warn     trust-verified when possible, else the
//                                   engine digest with a warning
//                          off      engine digest only
//
// A reference that already carries a digest is returned by NotaryVerifier as
// is (content addressed; docker content trust accepts it too) with signed_by
// "" and a warning; cosign verifies such a digest like any other.
//
// Thread safety: NotaryVerifier and PolicyVerifier serialize calls internally;
// EngineDigestResolver is as safe as its Engine.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "engineapi/engine.h"
#include "notary/cosign.h"
#include "notary/registry_client.h"
#include "notary/trust_store.h"
#include "notary/tuf_client.h"

namespace stackctl::notary {

struct ResolvedImage {
  std::string reference;  // "127.0.0.1:5000/library/busybox@sha256:..."
  std::string digest;     // "sha256:..."
  std::string tag;        // "1.0" ("" when the input was pinned by digest)
  std::string signed_by;  // "targets/releases", "targets", or "" when not trust-verified
  std::vector<std::string> warnings;
  // The policy of the trust rule PolicyVerifier applied ("require", "warn",
  // "off"); "" from a verifier used on its own. With signed_by it is the
  // image's verdict (reconciler::ImageVerdict).
  std::string trust_policy;
  bool operator==(const ResolvedImage&) const = default;
};

class ImageVerifier {
 public:
  virtual ~ImageVerifier() = default;
  virtual Result<ResolvedImage> Resolve(const std::string& image_ref) = 0;
  // Whether a failure to verify `image_ref` must block the revision when the
  // caller's policy requires verification at all (reconciler::PinOptions::
  // required). PolicyVerifier answers per rule; wrappers forward; every other
  // verifier is all-or-nothing.
  virtual bool RequiresVerification(const std::string& image_ref) {
    (void)image_ref;
    return true;
  }
};

// A parsed docker image reference.
struct ImageRef {
  std::string registry;  // "docker.io", "127.0.0.1:5000"
  std::string path;      // "library/busybox"
  std::string tag;       // "latest" when neither tag nor digest is given
  std::string digest;    // "sha256:..." or ""
  std::string Gun() const { return registry + "/" + path; }
  // The name as docker prints it: "busybox", "127.0.0.1:5000/library/busybox".
  std::string Familiar() const;
};
// Normalizes like docker's reference.ParseNormalizedNamed.
Result<ImageRef> ParseImageRef(const std::string& ref);

struct NotaryOptions {
  std::string default_server;                  // DOCKER_CONTENT_TRUST_SERVER; "" = per registry
  std::map<std::string, std::string> servers;  // registry -> trust server URL
  std::string ca_file;                         // CA bundle for the trust servers' TLS
  TrustPinning pinning;
};

// The trust server of a registry, docker's rule: explicit map, else the
// default, else https://notary.docker.io for docker.io, else https://<registry>.
std::string TrustServerFor(const NotaryOptions& options, const std::string& registry);

class NotaryVerifier : public ImageVerifier {
 public:
  // `sources` builds the MetadataSource of a trust server URL (HttpSource in
  // production); roots, cache and clock must outlive the verifier.
  using SourceFactory =
      std::function<Result<std::unique_ptr<MetadataSource>>(const std::string& server)>;
  NotaryVerifier(NotaryOptions options, RootStore& roots, MetadataCache& cache, const Clock& clock,
                 SourceFactory sources);
  // Production wiring: HttpSource with options.ca_file.
  NotaryVerifier(NotaryOptions options, RootStore& roots, MetadataCache& cache, const Clock& clock);

  Result<ResolvedImage> Resolve(const std::string& image_ref) override;
  // Metadata files fetched by the last Resolve (tests, timing reports).
  int last_fetches() const { return last_fetches_; }

 private:
  NotaryOptions options_;
  RootStore& roots_;
  MetadataCache& cache_;
  const Clock& clock_;
  SourceFactory sources_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<MetadataSource>> by_server_;
  int last_fetches_ = 0;
};

class EngineDigestResolver : public ImageVerifier {
 public:
  // `registry_auth`: X-Registry-Auth value passed to the engine ("" for none).
  explicit EngineDigestResolver(engine::Engine& engine, std::string registry_auth = "")
      : engine_(engine), registry_auth_(std::move(registry_auth)) {}
  Result<ResolvedImage> Resolve(const std::string& image_ref) override;

 private:
  engine::Engine& engine_;
  std::string registry_auth_;
};

// How strictly a rule's signatures are required (see the header comment).
enum class TrustPolicy { kRequire, kWarn, kOff };
// "require" | "warn" | "off".
Result<TrustPolicy> ParseTrustPolicy(const std::string& s);
const char* TrustPolicyName(TrustPolicy p);

// The trust asked of the images whose repository ("registry/path", docker
// normalized: "docker.io/library/busybox", "127.0.0.1:5000/apps/web") matches
// `images`, a glob (fnmatch without FNM_PATHNAME: `*` also crosses '/').
struct TrustRule {
  std::string images = "*";
  TrustPolicy policy = TrustPolicy::kOff;
  bool notary = false;  // Notary v1 / Docker Content Trust
  bool cosign = false;  // keyed cosign signatures, with cosign_options
  // With both: false = both must verify (cosign checks the digest Notary
  // signed); true = either one suffices (Notary is asked first).
  bool any = false;
  CosignOptions cosign_options;
  bool operator==(const TrustRule&) const = default;
};

struct ImageTrustPolicy {
  std::vector<TrustRule> rules;  // first match wins; an image no rule matches: off

  // One rule for every image: Notary under `policy` (the single policy of
  // `--trust-policy` and of image_trust.policy).
  static ImageTrustPolicy Notary(TrustPolicy policy);
  // The rule of `repository` ("registry/path"); an off rule when none matches.
  const TrustRule& For(const std::string& repository) const;
  bool AnyRequired() const;  // some rule requires (PinOptions::required)
  bool UsesNotary() const;   // some enforced rule asks Notary
  bool UsesCosign() const;   // some enforced rule asks cosign
  bool operator==(const ImageTrustPolicy&) const = default;
};

// True when the glob `pattern` matches `repository`.
bool MatchesImages(const std::string& pattern, const std::string& repository);

class PolicyVerifier : public ImageVerifier {
 public:
  // `notary` may be null when no rule asks Notary, `cosign` when no rule asks
  // cosign (a rule that does then fails with kInternal).
  PolicyVerifier(ImageTrustPolicy policy, ImageVerifier* notary, CosignVerifier* cosign,
                 ImageVerifier& engine)
      : policy_(std::move(policy)), notary_(notary), cosign_(cosign), engine_(engine) {}
  // One Notary policy for every image; `trust` may be null only with kOff.
  PolicyVerifier(TrustPolicy policy, ImageVerifier* trust, ImageVerifier& engine)
      : PolicyVerifier(ImageTrustPolicy::Notary(policy), trust, nullptr, engine) {}
  Result<ResolvedImage> Resolve(const std::string& image_ref) override;
  bool RequiresVerification(const std::string& image_ref) override;

 private:
  // The signatures of `rule` alone, no fallback.
  Result<ResolvedImage> Verify(const TrustRule& rule, const std::string& image_ref);

  ImageTrustPolicy policy_;
  ImageVerifier* notary_;
  CosignVerifier* cosign_;
  ImageVerifier& engine_;
  std::mutex mu_;  // cosign_ calls (HttpRegistry is serialized anyway)
};

// The verifier chain of one image-trust policy, wired the same way for
// `stackctl deploy/diff/verify` and for the controller: Notary verification
// (with `roots` and `cache`, which outlive the chain) when a rule asks it, a
// registry client and cosign when a rule asks cosign, the engine's digest
// resolution for the rest, behind one PolicyVerifier.
struct ImageTrustChain {
  std::unique_ptr<NotaryVerifier> notary;  // null when no rule asks Notary
  std::unique_ptr<HttpRegistry> registry;  // null when no rule asks cosign
  std::unique_ptr<CosignVerifier> cosign;  // null when no rule asks cosign
  std::unique_ptr<EngineDigestResolver> engine_digest;
  std::unique_ptr<PolicyVerifier> verifier;
};
ImageTrustChain BuildImageTrustChain(ImageTrustPolicy policy, NotaryOptions notary,
                                     RegistryOptions registries, RootStore& roots,
                                     MetadataCache& cache, Clock& clock, engine::Engine& engine);

}  // namespace stackctl::notary
