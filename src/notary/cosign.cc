#include "notary/cosign.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <fstream>
#include <memory>
#include <regex>
#include <sstream>

#include "common/crypto.h"
#include "common/json.h"
#include "common/log.h"
#include "notary/image_verifier.h"

namespace stackctl::notary {
namespace {

constexpr size_t kPayloadCap = 1 << 20;  // a payload is a few hundred bytes
constexpr size_t kMaxLayers = 100;       // signatures checked per image

using PKey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

PKey ReadKey(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  return PKey(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr,
              EVP_PKEY_free);
}

bool DigestVerify(EVP_PKEY* key, const EVP_MD* md, int rsa_padding, std::string_view message,
                  std::string_view signature) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key) != 1) return false;
  if (rsa_padding != 0) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, rsa_padding) != 1) return false;
    if (rsa_padding == RSA_PKCS1_PSS_PADDING &&
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1) {
      return false;
    }
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

// The string at o[key], "" when absent or not a string (never throws).
std::string StringField(const Json& o, const char* key) {
  if (!o.is_object()) return "";
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string Short(const std::string& digest) {
  return digest.size() > 19 ? digest.substr(0, 19) : digest;  // "sha256:" + 12 hex
}

}  // namespace

Result<CosignKey> ParseCosignKey(const std::string& name, const std::string& pem) {
  PKey key = ReadKey(pem);
  if (!key) return InvalidArgument(name + ": not a PEM public key (-----BEGIN PUBLIC KEY-----)");
  int id = EVP_PKEY_get_base_id(key.get());
  if (id != EVP_PKEY_EC && id != EVP_PKEY_ED25519 && id != EVP_PKEY_RSA) {
    return InvalidArgument(name + ": unsupported key type " + OBJ_nid2sn(id) +
                           " (ECDSA, Ed25519 or RSA)");
  }
  return CosignKey{name, pem};
}

Result<CosignKey> LoadCosignKey(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(path + ": cannot read file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseCosignKey(path, ss.str());
}

bool VerifyCosignSignature(const CosignKey& cosign_key, std::string_view payload,
                           std::string_view signature) {
  PKey key = ReadKey(cosign_key.pem);
  if (!key) return false;
  switch (EVP_PKEY_get_base_id(key.get())) {
    case EVP_PKEY_EC:
      return DigestVerify(key.get(), EVP_sha256(), 0, payload, signature);
    case EVP_PKEY_ED25519:
      return DigestVerify(key.get(), nullptr, 0, payload, signature);
    case EVP_PKEY_RSA:
      return DigestVerify(key.get(), EVP_sha256(), RSA_PKCS1_PADDING, payload, signature) ||
             DigestVerify(key.get(), EVP_sha256(), RSA_PKCS1_PSS_PADDING, payload, signature);
    default:
      return false;
  }
}

namespace {

Status CheckPayload(std::string_view payload, const std::string& digest,
                    const std::string& repository,
                    const std::map<std::string, std::string>& annotations) {
  Json j;
  try {
    j = Json::parse(payload);
  } catch (const Json::exception& e) {
    return FailedPrecondition(std::string("payload is not JSON: ") + e.what());
  }
  auto str = [&](const Json::json_pointer& p) -> std::string {
    return j.contains(p) && j.at(p).is_string() ? j.at(p).get<std::string>() : "";
  };
  if (!j.is_object() || !j.contains("critical") || !j["critical"].is_object()) {
    return FailedPrecondition("payload has no critical section");
  }
  const std::string type = str(Json::json_pointer("/critical/type"));
  if (type != kCosignSignatureType) {
    return FailedPrecondition("payload type \"" + type + "\" is not \"" + kCosignSignatureType +
                              "\"");
  }
  const std::string signed_digest =
      str(Json::json_pointer("/critical/image/docker-manifest-digest"));
  if (signed_digest != digest) {
    return FailedPrecondition("payload signs digest " +
                              (signed_digest.empty() ? "(none)" : signed_digest) + ", not " +
                              digest);
  }
  const std::string identity = str(Json::json_pointer("/critical/identity/docker-reference"));
  auto parsed = ParseImageRef(identity);
  if (!parsed.ok() || parsed->Gun() != repository) {
    return FailedPrecondition("payload names repository \"" + identity + "\", not " + repository);
  }
  const Json optional = j.value("optional", Json());
  for (const auto& [key, want] : annotations) {
    if (!optional.is_object() || !optional.contains(key)) {
      return FailedPrecondition("payload lacks the required annotation " + key);
    }
    const Json& got = optional[key];
    if (!got.is_string() || got.get<std::string>() != want) {
      return FailedPrecondition("payload annotation " + key + " is " + got.dump() + ", not \"" +
                                want + "\"");
    }
  }
  return OkStatus();
}

}  // namespace

Status CheckSimpleSigningPayload(std::string_view payload, const std::string& digest,
                                 const std::string& repository,
                                 const std::map<std::string, std::string>& annotations) {
  try {
    return CheckPayload(payload, digest, repository, annotations);
  } catch (const Json::exception& e) {  // a payload of unexpected shape
    return FailedPrecondition(std::string("payload: ") + e.what());
  }
}

Result<std::string> CosignVerifier::Digest(const std::string& image_ref) {
  ASSIGN_OR_RETURN(ImageRef ref, ParseImageRef(image_ref));
  if (!ref.digest.empty()) return ref.digest;
  auto m = registry_.GetManifest(ref.registry, ref.path, ref.tag);
  if (!m.ok()) return m.status().WithPrefix("image " + image_ref);
  return m->digest;
}

Result<CosignVerdict> CosignVerifier::Verify(const std::string& image_ref,
                                             const std::string& digest,
                                             const CosignOptions& options) {
  ASSIGN_OR_RETURN(ImageRef ref, ParseImageRef(image_ref));
  const std::string what = "image " + image_ref + " (" + Short(digest) + "): cosign";
  static const std::regex kDigest("^sha256:[0-9a-f]{64}$");
  if (!std::regex_match(digest, kDigest))
    return InvalidArgument(what + ": bad digest \"" + digest + "\"");
  if (options.keys.empty()) return InvalidArgument(what + ": no public key configured");
  const std::string tag = "sha256-" + digest.substr(7) + ".sig";
  auto manifest = registry_.GetManifest(ref.registry, ref.path, tag);
  if (!manifest.ok()) {
    if (manifest.status().code() == Code::kNotFound) {
      return NotFound(what + ": not signed (no " + tag + " in " + ref.Gun() + ")");
    }
    return manifest.status().WithPrefix(what);
  }
  Json m;
  try {
    m = Json::parse(manifest->body);
  } catch (const Json::exception& e) {
    return FailedPrecondition(what + ": signature manifest is not JSON: " + e.what());
  }
  if (!m.is_object() || !m.contains("layers") || !m["layers"].is_array() || m["layers"].empty()) {
    return FailedPrecondition(what + ": signature manifest " + tag + " lists no layers");
  }
  std::vector<std::string> refusals;
  size_t index = 0;
  for (const Json& layer : m["layers"]) {
    if (index++ == kMaxLayers) {
      refusals.push_back("more than " + std::to_string(kMaxLayers) +
                         " signatures: rest not checked");
      break;
    }
    auto refuse = [&](const std::string& why) {
      refusals.push_back("signature " + std::to_string(index) + ": " + why);
    };
    if (!layer.is_object()) {
      refuse("layer is not an object");
      continue;
    }
    const std::string media = StringField(layer, "mediaType");
    const std::string blob = StringField(layer, "digest");
    if (media != kCosignPayloadMediaType) {
      refuse("media type \"" + media + "\" is not a simple-signing payload");
      continue;
    }
    if (!std::regex_match(blob, kDigest)) {
      refuse("layer digest \"" + blob + "\" is not sha256");
      continue;
    }
    const std::string sig_b64 = layer.contains("annotations")
                                    ? StringField(layer["annotations"], kCosignSignatureAnnotation)
                                    : "";
    std::string sig;
    if (sig_b64.empty() || !Base64Decode(sig_b64, &sig)) {
      refuse("no base64 " + std::string(kCosignSignatureAnnotation) + " annotation");
      continue;
    }
    auto payload = registry_.GetBlob(ref.registry, ref.path, blob, kPayloadCap);
    if (!payload.ok()) {
      // An unreachable registry is an outage, not a bad signature.
      if (payload.status().code() == Code::kUnavailable) return payload.status().WithPrefix(what);
      refuse(payload.status().message());
      continue;
    }
    if ("sha256:" + Sha256Hex(*payload) != blob) {
      refuse("payload blob does not match its digest " + Short(blob));
      continue;
    }
    const CosignKey* verified_by = nullptr;
    for (const CosignKey& key : options.keys) {
      if (VerifyCosignSignature(key, *payload, sig)) {
        verified_by = &key;
        break;
      }
    }
    if (!verified_by) {
      refuse("signature does not verify with " +
             (options.keys.size() == 1 ? "key " + options.keys[0].name
                                       : std::to_string(options.keys.size()) + " keys"));
      continue;
    }
    Status st = CheckSimpleSigningPayload(*payload, digest, ref.Gun(), options.annotations);
    if (!st.ok()) {
      refuse(st.message());
      continue;
    }
    log::Get("notary")->debug("{}: {} verified by cosign key {} (signature {})", image_ref, digest,
                              verified_by->name, index);
    return CosignVerdict{digest, verified_by->name};
  }
  std::string why;
  for (const auto& r : refusals) why += (why.empty() ? "" : "; ") + r;
  return FailedPrecondition(what + ": no valid signature: " + why);
}

}  // namespace stackctl::notary
