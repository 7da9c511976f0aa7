#include "common/crypto.h"

#include <cctype>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

namespace stackctl {

Bytes Sha256(std::string_view data) {
  Bytes out(SHA256_DIGEST_LENGTH);
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256(data)); }

std::string Sha512Hex(std::string_view data) {
  unsigned char out[SHA512_DIGEST_LENGTH];
  SHA512(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return HexEncode(out, sizeof out);
}

Bytes HmacSha256(std::string_view key, std::string_view data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  out.resize(len);
  return out;
}

std::string HexEncode(const uint8_t* data, size_t len) {
  static const char* kHex = "0123456789abcdef";
  std::string s(len * 2, '0');
  for (size_t i = 0; i < len; ++i) {
    s[2 * i] = kHex[data[i] >> 4];
    s[2 * i + 1] = kHex[data[i] & 0xf];
  }
  return s;
}

static int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool HexDecode(std::string_view hex, Bytes* out) {
  if (hex.size() % 2) return false;
  out->clear();
  out->reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = HexVal(hex[i]), lo = HexVal(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return true;
}

std::string Base64Encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(n);
  return out;
}

bool Base64Decode(std::string_view in, std::string* out, bool url_safe) {
  std::string s(in);
  if (url_safe) {
    for (char& c : s) {
      if (c == '-') c = '+';
      else if (c == '_') c = '/';
    }
  }
  while (s.size() % 4) s.push_back('=');
  for (char c : s) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=')) return false;
  }
  std::string buf(s.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(buf.data()),
                          reinterpret_cast<const unsigned char*>(s.data()),
                          static_cast<int>(s.size()));
  if (n < 0) return false;
  size_t pad = 0;
  for (size_t i = s.size(); i > 0 && s[i - 1] == '='; --i) ++pad;
  if (pad > 2) return false;
  buf.resize(n - pad);
  *out = std::move(buf);
  return true;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool VerifyHexHmacSha256(std::string_view secret, std::string_view got, std::string_view prefix,
                         std::string_view body) {
  if (got.size() != prefix.size() + 64) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(got[i])) != std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  Bytes sig;
  if (!HexDecode(got.substr(prefix.size()), &sig)) return false;
  Bytes want = HmacSha256(secret, body);
  return ConstantTimeEquals(std::string_view(reinterpret_cast<const char*>(sig.data()), sig.size()),
                            std::string_view(reinterpret_cast<const char*>(want.data()), want.size()));
}

std::string SignBody(std::string_view secret, std::string_view body) {
  return kBodySignaturePrefix + HexEncode(HmacSha256(secret, body));
}

bool VerifyBodySignature(std::string_view secret, std::string_view got, std::string_view body) {
  return VerifyHexHmacSha256(secret, got, kBodySignaturePrefix, body);
}

void SecureWipe(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

void SecureWipe(Bytes* b) {
  if (!b->empty()) OPENSSL_cleanse(b->data(), b->size());
  b->clear();
}

}  // namespace stackctl
