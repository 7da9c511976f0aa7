// ImageVerifier: turns an image reference from a stack file into the
// digest-pinned reference a service spec should carry.
//
//   NotaryVerifier       Docker Content Trust: the tag's signed digest from the
//                        Notary v1 server of the image's registry (TufClient).
//   EngineDigestResolver the registry's current digest through the engine
//                        (like `docker stack deploy --resolve-image always`);
//                        nothing is trust-verified.
//   PolicyVerifier       the combinator the reconciler uses:
//                          require  only trust-verified images; anything else
//                                   is an error (the caller blocks the revision)
//                          warn     trust-verified when possible, else the
//                                   engine digest with a warning
//                          off      engine digest only
//
// A reference that already carries a digest is returned as is (content
// addressed; docker content trust accepts it too) with signed_by "" and a
// warning.
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
#include "notary/trust_store.h"
#include "notary/tuf_client.h"

namespace stackctl::notary {

struct ResolvedImage {
  std::string reference;  // "127.0.0.1:5000/library/busybox@sha256:..."
  std::string digest;     // "sha256:..."
  std::string tag;        // "1.0" ("" when the input was pinned by digest)
  std::string signed_by;  // "targets/releases", "targets", or "" when not trust-verified
  std::vector<std::string> warnings;
  bool operator==(const ResolvedImage&) const = default;
};

class ImageVerifier {
 public:
  virtual ~ImageVerifier() = default;
  virtual Result<ResolvedImage> Resolve(const std::string& image_ref) = 0;
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

enum class TrustPolicy { kRequire, kWarn, kOff };
// "require" | "warn" | "off".
Result<TrustPolicy> ParseTrustPolicy(const std::string& s);

class PolicyVerifier : public ImageVerifier {
 public:
  // `trust` may be null only with kOff.
  PolicyVerifier(TrustPolicy policy, ImageVerifier* trust, ImageVerifier& engine)
      : policy_(policy), trust_(trust), engine_(engine) {}
  Result<ResolvedImage> Resolve(const std::string& image_ref) override;

 private:
  TrustPolicy policy_;
  ImageVerifier* trust_;
  ImageVerifier& engine_;
};

// The verifier chain of one image-trust policy, wired the same way for
// `stackctl deploy/diff` and for the controller: Notary verification (with
// `roots` and `cache`, which outlive the chain) when the policy is not off, the
// engine's digest resolution otherwise, behind one PolicyVerifier.
struct ImageTrustChain {
  std::unique_ptr<NotaryVerifier> notary;  // null with kOff
  std::unique_ptr<EngineDigestResolver> engine_digest;
  std::unique_ptr<PolicyVerifier> verifier;
};
ImageTrustChain BuildImageTrustChain(TrustPolicy policy, NotaryOptions options, RootStore& roots,
                                     MetadataCache& cache, Clock& clock, engine::Engine& engine);

}  // namespace stackctl::notary
