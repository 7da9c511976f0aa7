#include "secrets/primitives.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <memory>

#include "common/crypto.h"

namespace stackctl::secrets::internal {
namespace {

const unsigned char* U(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct KdfFree {
  void operator()(EVP_KDF* p) const { EVP_KDF_free(p); }
};
struct KdfCtxFree {
  void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// Runs an AEAD open with `cipher`; `aad` may be empty.
bool AeadOpen(const EVP_CIPHER* cipher, std::string_view key, std::string_view iv,
              std::string_view ciphertext, std::string_view tag, std::string_view aad,
              std::string* plain) {
  if (tag.size() != 16 || iv.empty()) return false;
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return false;
  if (EVP_DecryptInit_ex(ctx.get(), cipher, nullptr, nullptr, nullptr) != 1) return false;
  if (static_cast<size_t>(EVP_CIPHER_CTX_get_key_length(ctx.get())) != key.size()) return false;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_IVLEN, static_cast<int>(iv.size()),
                          nullptr) != 1)
    return false;
  if (EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, U(key), U(iv)) != 1) return false;
  int len = 0;
  if (!aad.empty() &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1)
    return false;
  std::string out(ciphertext.size(), '\0');
  int n = 0;
  if (!ciphertext.empty() &&
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &n, U(ciphertext),
                        static_cast<int>(ciphertext.size())) != 1) {
    SecureWipe(&out);
    return false;
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, 16, const_cast<char*>(tag.data())) !=
      1) {
    SecureWipe(&out);
    return false;
  }
  int fin = 0;
  unsigned char scratch[16];
  if (EVP_DecryptFinal_ex(ctx.get(), scratch, &fin) != 1) {
    SecureWipe(&out);
    return false;
  }
  out.resize(static_cast<size_t>(n));
  *plain = std::move(out);
  return true;
}

}  // namespace

bool X25519(std::string_view scalar, std::string_view point, std::string* shared) {
  if (scalar.size() != 32 || point.size() != 32) return false;
  Pkey priv(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, U(scalar), 32));
  Pkey peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, U(point), 32));
  if (!priv || !peer) return false;
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new(priv.get(), nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1)
    return false;
  std::string out(32, '\0');
  size_t len = out.size();
  if (EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len) != 1 ||
      len != 32) {
    SecureWipe(&out);
    return false;
  }
  static const char kZero[32] = {};
  if (CRYPTO_memcmp(out.data(), kZero, 32) == 0) {  // low-order point (RFC 7748 §6.1)
    SecureWipe(&out);
    return false;
  }
  *shared = std::move(out);
  return true;
}

bool X25519Public(std::string_view scalar, std::string* point) {
  if (scalar.size() != 32) return false;
  Pkey priv(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, U(scalar), 32));
  if (!priv) return false;
  std::string out(32, '\0');
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(priv.get(), reinterpret_cast<unsigned char*>(out.data()), &len) !=
          1 ||
      len != 32)
    return false;
  *point = std::move(out);
  return true;
}

bool HkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info, size_t out_len,
                std::string* out) {
  std::unique_ptr<EVP_KDF, KdfFree> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) return false;
  std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return false;
  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  size_t i = 0;
  params[i++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()),
                                                  ikm.size());
  if (!salt.empty())
    params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                    const_cast<char*>(salt.data()), salt.size());
  params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                  const_cast<char*>(info.data()), info.size());
  params[i++] = OSSL_PARAM_construct_end();
  std::string buf(out_len, '\0');
  if (EVP_KDF_derive(ctx.get(), reinterpret_cast<unsigned char*>(buf.data()), out_len, params) !=
      1) {
    SecureWipe(&buf);
    return false;
  }
  *out = std::move(buf);
  return true;
}

bool ChaChaPolyOpen(std::string_view key, std::string_view nonce12, std::string_view sealed,
                    std::string* plain) {
  if (key.size() != 32 || nonce12.size() != 12 || sealed.size() < 16) return false;
  return AeadOpen(EVP_chacha20_poly1305(), key, nonce12, sealed.substr(0, sealed.size() - 16),
                  sealed.substr(sealed.size() - 16), {}, plain);
}

bool AesGcmOpen(std::string_view key, std::string_view iv, std::string_view ciphertext,
                std::string_view tag, std::string_view aad, std::string* plain) {
  if (key.size() != 32) return false;
  return AeadOpen(EVP_aes_256_gcm(), key, iv, ciphertext, tag, aad, plain);
}

bool Scrypt(std::string_view password, std::string_view salt, int log_n, int r, int p,
            size_t out_len, std::string* out) {
  if (log_n < 1 || log_n > 30 || r < 1 || p < 1) return false;
  const uint64_t n = uint64_t{1} << log_n;
  // scrypt needs 128*r*(N+2) bytes for V plus 128*r*p for B; allow a little more.
  const uint64_t maxmem = 128ull * r * (n + 2) + 128ull * r * p + (1u << 20);
  std::string buf(out_len, '\0');
  if (EVP_PBE_scrypt(password.data(), password.size(), U(salt), salt.size(), n,
                     static_cast<uint64_t>(r), static_cast<uint64_t>(p), maxmem,
                     reinterpret_cast<unsigned char*>(buf.data()), out_len) != 1) {
    SecureWipe(&buf);
    return false;
  }
  *out = std::move(buf);
  return true;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  Bytes mac = stackctl::HmacSha256(key, data);
  return std::string(mac.begin(), mac.end());
}

}  // namespace stackctl::secrets::internal
