// Keyed cosign (sigstore) signature verification, beside Notary v1 behind the
// same seam: an image reference in, the verified digest (or why not) out.
//
// What is checked follows the cosign "Signature Specification": the
// signatures of REPO@sha256:D are the layers of the OCI manifest tagged
// `sha256-D.sig` in the same repository. Each layer is a simple-signing
// payload (media type application/vnd.dev.cosign.simplesigning.v1+json) whose
// signature is the base64 of an ASN.1 DER signature in the layer annotation
// `dev.cosignproject.cosign/signature`. A layer is accepted only when
//   1. its blob's sha256 equals the digest the manifest lists (bytes are not
//      trusted before that),
//   2. the signature verifies with one of the configured public keys
//      (ECDSA P-256/384 with SHA-256, Ed25519, RSA PKCS#1 v1.5 or PSS with
//      SHA-256; OpenSSL does the work),
//   3. critical.image.docker-manifest-digest is exactly D,
//   4. critical.identity.docker-reference names this repository (after docker
//      normalization: "busybox" == "index.docker.io/library/busybox"),
//   5. critical.type is "cosign container image signature",
//   6. every required annotation is present in `optional` with that value.
// The image is verified when at least one layer is accepted; otherwise the
// error names the image and, per layer, why it was refused.
//
// Error codes: kNotFound no signature manifest (unsigned); kFailedPrecondition
// signatures present but none acceptable; kUnavailable / kPermissionDenied
// from the registry; kInvalidArgument bad reference or key.
//
// Thread safety: the free functions are pure; CosignVerifier is as safe as its
// Registry (HttpRegistry serializes).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "notary/registry_client.h"

namespace stackctl::notary {

inline constexpr const char* kCosignSignatureAnnotation = "dev.cosignproject.cosign/signature";
inline constexpr const char* kCosignPayloadMediaType =
    "application/vnd.dev.cosign.simplesigning.v1+json";
inline constexpr const char* kCosignSignatureType = "cosign container image signature";

// A public key that may verify signatures: `name` says which one did (a file
// path, shown to people), `pem` its SubjectPublicKeyInfo PEM.
struct CosignKey {
  std::string name;
  std::string pem;
  bool operator==(const CosignKey&) const = default;
};

// Reads a PEM public key file (ECDSA, Ed25519 or RSA); InvalidArgument names
// the file and what is wrong with it.
Result<CosignKey> LoadCosignKey(const std::string& path);
// The same over PEM text already read; `name` prefixes errors.
Result<CosignKey> ParseCosignKey(const std::string& name, const std::string& pem);

// What one policy asks of cosign signatures.
struct CosignOptions {
  std::vector<CosignKey> keys;
  std::map<std::string, std::string> annotations;  // required in `optional`
  bool operator==(const CosignOptions&) const = default;
};

// True when `signature` (DER, or raw for Ed25519) over `payload` verifies
// with `key`.
bool VerifyCosignSignature(const CosignKey& key, std::string_view payload,
                           std::string_view signature);

// Checks 3-6 above on a payload whose signature already verified. `repository`
// is "registry/path" as ImageRef::Gun() gives it. FailedPrecondition says which
// field is wrong.
Status CheckSimpleSigningPayload(std::string_view payload, const std::string& digest,
                                 const std::string& repository,
                                 const std::map<std::string, std::string>& annotations);

struct CosignVerdict {
  std::string digest;  // "sha256:..."
  std::string key;     // name of the key that verified it
};

class CosignVerifier {
 public:
  explicit CosignVerifier(Registry& registry) : registry_(registry) {}

  // The digest `image_ref` names now: its own digest, else what the registry
  // serves for its tag (sha256 of the manifest bytes, as docker pins).
  Result<std::string> Digest(const std::string& image_ref);
  // Verifies the signatures of image_ref's repository at `digest`.
  Result<CosignVerdict> Verify(const std::string& image_ref, const std::string& digest,
                               const CosignOptions& options);

 private:
  Registry& registry_;
};

}  // namespace stackctl::notary
