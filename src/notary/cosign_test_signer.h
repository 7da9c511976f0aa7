// Test support (unit and integration tests only): signs images the way
// `cosign sign --key` does, written from the cosign Signature Specification
// (there is no cosign in Debian). A CosignTestKey is generated at test time;
// SimpleSigningPayload builds the payload; SignatureLayer / SignatureManifest
// build the OCI manifest tagged `sha256-<hex>.sig` whose layers are payload
// blobs with the base64 DER signature in their annotation. Pushing the blobs
// and the manifest is the caller's (a fake registry in memory, or the test
// bed's registry over HTTP).
//
// Thread safety: a CosignTestKey is immutable after construction.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto.h"
#include "common/json.h"
#include "notary/cosign.h"

namespace stackctl::notary::testing {

class CosignTestKey {
 public:
  enum class Kind { kEcdsaP256, kEd25519, kRsa };
  explicit CosignTestKey(Kind kind = Kind::kEcdsaP256) : kind_(kind) {
    EVP_PKEY* k = kind == Kind::kEcdsaP256 ? EVP_EC_gen("P-256")
                  : kind == Kind::kEd25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                           : EVP_RSA_gen(2048);
    key_.reset(k);
  }

  std::string PublicPem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, key_.get());
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, n);
    BIO_free(bio);
    return out;
  }
  CosignKey Public(const std::string& name) const { return CosignKey{name, PublicPem()}; }

  // What cosign puts in the annotation before base64: ASN.1 DER ECDSA over
  // SHA-256, raw Ed25519, RSA PKCS#1 v1.5 over SHA-256.
  std::string Sign(std::string_view msg) const {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_PKEY_CTX* pctx = nullptr;
    EVP_DigestSignInit(ctx.get(), &pctx, kind_ == Kind::kEd25519 ? nullptr : EVP_sha256(), nullptr,
                       key_.get());
    if (kind_ == Kind::kRsa) EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING);
    size_t len = 0;
    const auto* m = reinterpret_cast<const unsigned char*>(msg.data());
    EVP_DigestSign(ctx.get(), nullptr, &len, m, msg.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, m, msg.size());
    sig.resize(len);
    return sig;
  }

 private:
  Kind kind_;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key_{nullptr, EVP_PKEY_free};
};

// The simple-signing payload cosign signs (compact JSON, as cosign writes it).
inline std::string SimpleSigningPayload(const std::string& docker_reference,
                                        const std::string& digest, const Json& optional = nullptr,
                                        const std::string& type = kCosignSignatureType) {
  Json p = {{"critical",
             {{"identity", {{"docker-reference", docker_reference}}},
              {"image", {{"docker-manifest-digest", digest}}},
              {"type", type}}},
            {"optional", optional}};
  return p.dump();
}

struct SignatureLayer {
  std::string payload;    // the blob's bytes
  std::string signature;  // raw signature bytes (base64-encoded into the annotation)
  Json Descriptor() const {
    return {{"mediaType", kCosignPayloadMediaType},
            {"size", payload.size()},
            {"digest", "sha256:" + Sha256Hex(payload)},
            {"annotations", {{kCosignSignatureAnnotation, Base64Encode(signature)}}}};
  }
};

inline constexpr char kCosignConfigBlob[] =
    R"({"architecture":"","config":{},"created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":[]}})";

// The OCI image manifest cosign pushes as `sha256-<hex>.sig`, with
// kCosignConfigBlob as its config.
inline std::string SignatureManifest(const std::vector<SignatureLayer>& layers) {
  Json l = Json::array();
  for (const auto& layer : layers) l.push_back(layer.Descriptor());
  const std::string config = kCosignConfigBlob;
  Json m = {{"schemaVersion", 2},
            {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
            {"config",
             {{"mediaType", "application/vnd.oci.image.config.v1+json"},
              {"size", config.size()},
              {"digest", "sha256:" + Sha256Hex(config)}}},
            {"layers", l}};
  return m.dump();
}

}  // namespace stackctl::notary::testing
