#include "secrets/encoding.h"

#include <cstdint>
#include <vector>

namespace stackctl::secrets::internal {
namespace {

constexpr char kCharset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

uint32_t Polymod(const std::vector<uint8_t>& values) {
  static const uint32_t kGen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
  uint32_t chk = 1;
  for (uint8_t v : values) {
    uint32_t top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (int i = 0; i < 5; ++i) {
      if ((top >> i) & 1) chk ^= kGen[i];
    }
  }
  return chk;
}

std::vector<uint8_t> HrpExpand(std::string_view hrp) {
  std::vector<uint8_t> out;
  out.reserve(hrp.size() * 2 + 1);
  for (char c : hrp) out.push_back(static_cast<uint8_t>(c) >> 5);
  out.push_back(0);
  for (char c : hrp) out.push_back(static_cast<uint8_t>(c) & 31);
  return out;
}

int CharsetIndex(char c) {
  for (int i = 0; i < 32; ++i) {
    if (kCharset[i] == c) return i;
  }
  return -1;
}

int B64Index(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string Bech32Decode(std::string_view s, std::string* hrp, std::string* data) {
  bool lower = false, upper = false;
  for (char c : s) {
    if (c < 33 || c > 126) return "invalid character";
    if (c >= 'a' && c <= 'z') lower = true;
    if (c >= 'A' && c <= 'Z') upper = true;
  }
  if (lower && upper) return "mixed case";
  size_t sep = s.rfind('1');
  if (sep == std::string_view::npos || sep == 0) return "missing separator";
  if (s.size() - sep - 1 < 6) return "checksum too short";
  std::string h;
  for (size_t i = 0; i < sep; ++i) {
    char c = s[i];
    h.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  std::vector<uint8_t> values = HrpExpand(h);
  std::vector<uint8_t> five;
  for (size_t i = sep + 1; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    int v = CharsetIndex(c);
    if (v < 0) return "invalid character";
    five.push_back(static_cast<uint8_t>(v));
  }
  values.insert(values.end(), five.begin(), five.end());
  if (Polymod(values) != 1) return "invalid checksum";
  five.resize(five.size() - 6);
  // Regroup 5-bit words into bytes; leftover bits must be fewer than 5 and zero.
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t v : five) {
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0) return "invalid padding";
  *hrp = std::move(h);
  *data = std::move(out);
  return "";
}

std::string Bech32Encode(std::string_view hrp, std::string_view data) {
  std::vector<uint8_t> five;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char b : data) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      five.push_back((acc >> bits) & 31);
    }
  }
  if (bits > 0) five.push_back((acc << (5 - bits)) & 31);
  std::vector<uint8_t> values = HrpExpand(hrp);
  values.insert(values.end(), five.begin(), five.end());
  values.insert(values.end(), 6, 0);
  uint32_t mod = Polymod(values) ^ 1;
  std::string out(hrp);
  out.push_back('1');
  for (uint8_t v : five) out.push_back(kCharset[v]);
  for (int i = 0; i < 6; ++i) out.push_back(kCharset[(mod >> (5 * (5 - i))) & 31]);
  return out;
}

bool Base64DecodeStrict(std::string_view in, bool padded, std::string* out) {
  size_t pad = 0;
  if (padded) {
    if (in.size() % 4 != 0) return false;
    while (pad < 2 && pad < in.size() && in[in.size() - 1 - pad] == '=') ++pad;
    in = in.substr(0, in.size() - pad);
  }
  if (in.size() % 4 == 1) return false;
  std::string res;
  res.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = B64Index(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      res.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0) return false;  // non-canonical trailing bits
  if (padded && pad != (4 - in.size() % 4) % 4) return false;
  *out = std::move(res);
  return true;
}

std::string Base64EncodeRaw(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char b : data) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kB64[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kB64[(acc << (6 - bits)) & 63]);
  return out;
}

}  // namespace stackctl::secrets::internal
