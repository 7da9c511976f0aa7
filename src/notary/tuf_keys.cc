#include "notary/tuf_keys.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <memory>

#include "common/crypto.h"
#include "notary/tuf_json.h"

namespace stackctl::notary {
namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
  void operator()(STACK_OF(X509) * p) const { sk_X509_pop_free(p, X509_free); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free>;
using X509Ptr = std::unique_ptr<X509, Free>;
using BioPtr = std::unique_ptr<BIO, Free>;

std::vector<X509Ptr> ReadPemCerts(std::string_view pem, bool* all_certs) {
  std::vector<X509Ptr> out;
  *all_certs = true;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return out;
  while (true) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) break;
    if (std::string_view(name) == "CERTIFICATE") {
      const unsigned char* p = data;
      X509* c = d2i_X509(nullptr, &p, len);
      if (c) {
        out.emplace_back(c);
      } else {
        *all_certs = false;
      }
    } else {
      *all_certs = false;
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
  }
  ERR_clear_error();
  return out;
}

PkeyPtr KeyFromBytes(const PublicKey& key) {
  if (key.type == "ecdsa" || key.type == "rsa") {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(key.public_bytes.data());
    return PkeyPtr(d2i_PUBKEY(nullptr, &p, static_cast<long>(key.public_bytes.size())));
  }
  if (key.type == "ecdsa-x509" || key.type == "rsa-x509") {
    bool all = false;
    auto certs = ReadPemCerts(key.public_bytes, &all);
    if (certs.empty()) return nullptr;
    return PkeyPtr(X509_get_pubkey(certs[0].get()));
  }
  if (key.type == "ed25519") {
    if (key.public_bytes.size() != 32) return nullptr;
    return PkeyPtr(EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(key.public_bytes.data()),
        32));
  }
  return nullptr;
}

bool DigestVerify(EVP_PKEY* pkey, const EVP_MD* md, std::string_view msg, std::string_view sig,
                  bool pss) {
  std::unique_ptr<EVP_MD_CTX, Free> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, pkey) != 1) return false;
  if (pss) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1) {
      return false;
    }
  }
  int rc =
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
  ERR_clear_error();
  return rc == 1;
}

std::optional<time_t> AsnTime(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return timegm(&tm);
}

std::string CommonName(X509* cert) {
  X509_NAME* name = X509_get_subject_name(cert);
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return "";
  ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), n);
  OPENSSL_free(utf8);
  return out;
}

bool IsCa(X509* cert) { return (X509_get_extension_flags(cert) & EXFLAG_CA) != 0; }

// §7 step 6.4: validity window, no SHA-1 signature, RSA >= 2048 bits.
bool CertAcceptable(X509* cert, std::optional<Clock::TimePoint> now) {
  auto nb = AsnTime(X509_get0_notBefore(cert));
  auto na = AsnTime(X509_get0_notAfter(cert));
  if (!nb || !na || *nb > *na) return false;
  int md_nid = NID_undef, pk_nid = NID_undef;
  if (!OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, &pk_nid)) return false;
  if (md_nid == NID_sha1) return false;
  EVP_PKEY* pk = X509_get0_pubkey(cert);
  if (!pk) return false;
  if (EVP_PKEY_base_id(pk) == EVP_PKEY_RSA && EVP_PKEY_bits(pk) < 2048) return false;
  if (now) {
    time_t t = std::chrono::system_clock::to_time_t(*now);
    if (t > *na || *nb > t + 24 * 3600) return false;
  }
  return true;
}

std::string PemOf(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, n);
}

}  // namespace

bool DecodeBase64(std::string_view in, std::string* out) {
  std::string clean;
  clean.reserve(in.size());
  for (char c : in) {
    if (c != '\r' && c != '\n') clean.push_back(c);
  }
  if (clean.size() % 4) return false;  // Go's StdEncoding requires padding
  return Base64Decode(clean, out);
}

Result<PublicKey> ParseKey(const Json& j, std::string_view what) {
  if (!j.is_object()) return InvalidArgument(std::string(what) + ": key must be an object");
  auto t = j.find("keytype");
  auto kv = j.find("keyval");
  if (t == j.end() || !t->is_string() || kv == j.end() || !kv->is_object()) {
    return InvalidArgument(std::string(what) + ": key needs keytype and keyval");
  }
  auto pub = kv->find("public");
  if (pub == kv->end() || !pub->is_string()) {
    return InvalidArgument(std::string(what) + ": key needs keyval.public");
  }
  PublicKey key;
  key.type = t->get<std::string>();
  std::transform(key.type.begin(), key.type.end(), key.type.begin(), ::tolower);
  if (!DecodeBase64(pub->get<std::string>(), &key.public_bytes)) {
    return InvalidArgument(std::string(what) + ": keyval.public is not base64");
  }
  return key;
}

Result<KeyMap> ParseKeys(const Json& j, std::string_view what) {
  if (!j.is_object()) return InvalidArgument(std::string(what) + ": keys must be an object");
  KeyMap out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    ASSIGN_OR_RETURN(PublicKey k, ParseKey(it.value(), std::string(what) + ": key " + it.key()));
    out.emplace(it.key(), std::move(k));
  }
  return out;
}

std::string KeyId(const PublicKey& key) {
  Json j = {{"keytype", key.type},
            {"keyval", {{"private", nullptr}, {"public", Base64Encode(key.public_bytes)}}}};
  auto canon = TufCanonical(j);
  return Sha256Hex(canon.ok() ? *canon : std::string());
}

bool VerifySignature(const PublicKey& key, std::string_view method_in, std::string_view message,
                     std::string_view signature) {
  std::string method(method_in);
  std::transform(method.begin(), method.end(), method.begin(), ::tolower);
  PkeyPtr pkey = KeyFromBytes(key);
  if (!pkey) {
    ERR_clear_error();
    return false;
  }
  int base = EVP_PKEY_base_id(pkey.get());
  if (method == "ecdsa") {
    if ((key.type != "ecdsa" && key.type != "ecdsa-x509") || base != EVP_PKEY_EC) return false;
    size_t half = (static_cast<size_t>(EVP_PKEY_bits(pkey.get())) + 7) / 8;
    if (half == 0 || signature.size() != 2 * half) return false;
    std::unique_ptr<ECDSA_SIG, Free> sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()),
                          static_cast<int>(half), nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()) + half,
                          static_cast<int>(half), nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return false;
    }
    unsigned char* der = nullptr;
    int der_len = i2d_ECDSA_SIG(sig.get(), &der);
    if (der_len <= 0) return false;
    std::string der_sig(reinterpret_cast<char*>(der), der_len);
    OPENSSL_free(der);
    return DigestVerify(pkey.get(), EVP_sha256(), message, der_sig, false);
  }
  if (method == "eddsa") {
    if (key.type != "ed25519" || base != EVP_PKEY_ED25519 || signature.size() != 64) return false;
    return DigestVerify(pkey.get(), nullptr, message, signature, false);
  }
  if (method == "rsapss" || method == "rsapkcs1v15") {
    if ((key.type != "rsa" && key.type != "rsa-x509") || base != EVP_PKEY_RSA) return false;
    if (EVP_PKEY_bits(pkey.get()) < 2048 || signature.size() < 256) return false;
    return DigestVerify(pkey.get(), EVP_sha256(), message, signature, method == "rsapss");
  }
  return false;
}

KeyMap RootCertKeys(const Json& root_signed, const std::string& gun,
                    std::optional<Clock::TimePoint> now) {
  KeyMap out;
  const Json* keyids = nullptr;
  const Json* keys = nullptr;
  try {
    keyids = &root_signed.at("roles").at("root").at("keyids");
    keys = &root_signed.at("keys");
  } catch (const Json::exception&) {
    return out;
  }
  if (!keyids->is_array() || !keys->is_object()) return out;
  for (const auto& id : *keyids) {
    if (!id.is_string()) continue;
    auto kit = keys->find(id.get<std::string>());
    if (kit == keys->end()) continue;
    auto key = ParseKey(*kit, "root");
    if (!key.ok()) continue;
    bool all_certs = false;
    auto certs = ReadPemCerts(key->public_bytes, &all_certs);
    if (certs.empty() || !all_certs) continue;
    // Exactly one leaf, first.
    if (IsCa(certs[0].get())) continue;
    if (std::count_if(certs.begin(), certs.end(),
                      [](const X509Ptr& c) { return !IsCa(c.get()); }) != 1) {
      continue;
    }
    X509* leaf = certs[0].get();
    std::string cn = CommonName(leaf);
    bool cn_ok = cn == gun || (!cn.empty() && cn.back() == '*' &&
                               gun.compare(0, cn.size() - 1, cn, 0, cn.size() - 1) == 0);
    if (!cn_ok || !CertAcceptable(leaf, now)) continue;
    EVP_PKEY* pk = X509_get0_pubkey(leaf);
    int base = pk ? EVP_PKEY_base_id(pk) : NID_undef;
    PublicKey rebuilt;
    if (base == EVP_PKEY_EC) {
      rebuilt.type = "ecdsa-x509";
    } else if (base == EVP_PKEY_RSA) {
      rebuilt.type = "rsa-x509";
    } else {
      continue;
    }
    rebuilt.public_bytes = PemOf(leaf);
    for (size_t i = 1; i < certs.size(); ++i) {
      if (CertAcceptable(certs[i].get(), now)) {
        rebuilt.public_bytes += PemOf(certs[i].get());
      }
    }
    out.emplace(KeyId(rebuilt), std::move(rebuilt));
  }
  ERR_clear_error();
  return out;
}

bool ChainsToCa(const PublicKey& key, std::string_view ca_pem, Clock::TimePoint now) {
  bool all = false;
  auto chain = ReadPemCerts(key.public_bytes, &all);
  auto cas = ReadPemCerts(ca_pem, &all);
  if (chain.empty() || cas.empty()) return false;
  std::unique_ptr<X509_STORE, Free> store(X509_STORE_new());
  for (auto& ca : cas) X509_STORE_add_cert(store.get(), ca.get());
  std::unique_ptr<STACK_OF(X509), Free> untrusted(sk_X509_new_null());
  for (size_t i = 1; i < chain.size(); ++i) {
    X509_up_ref(chain[i].get());
    sk_X509_push(untrusted.get(), chain[i].get());
  }
  std::unique_ptr<X509_STORE_CTX, Free> ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), chain[0].get(), untrusted.get()) != 1) {
    return false;
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, std::chrono::system_clock::to_time_t(now));
  // Go treats every certificate of the CA file as a trust anchor.
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  int rc = X509_verify_cert(ctx.get());
  ERR_clear_error();
  return rc == 1;
}

}  // namespace stackctl::notary
