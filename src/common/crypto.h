// Small hashing and encoding helpers over OpenSSL, shared by every module
// (spec hashes, content-hash names, webhook HMACs, TUF checksums).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace stackctl {

using Bytes = std::vector<uint8_t>;

std::string Sha256Hex(std::string_view data);
std::string Sha512Hex(std::string_view data);
Bytes Sha256(std::string_view data);
Bytes HmacSha256(std::string_view key, std::string_view data);
std::string HexEncode(const uint8_t* data, size_t len);
inline std::string HexEncode(const Bytes& b) { return HexEncode(b.data(), b.size()); }
// Returns false on odd length or a non-hex character.
bool HexDecode(std::string_view hex, Bytes* out);
std::string Base64Encode(std::string_view data);
// Accepts padded standard base64 and, with `url_safe`, unpadded URL-safe base64.
bool Base64Decode(std::string_view in, std::string* out, bool url_safe = false);
// Compares in time independent of where the inputs differ (webhook secrets).
bool ConstantTimeEquals(std::string_view a, std::string_view b);
// True when `got` is `prefix` (case-insensitive) followed by the hex
// HMAC-SHA256(secret, body), compared in constant time (GitHub's and Gitea's
// webhook signatures, and ours below).
bool VerifyHexHmacSha256(std::string_view secret, std::string_view got, std::string_view prefix,
                         std::string_view body);

// stackctl's own body signature, both ways: the generic incoming webhook
// (server/webhook) checks it, outgoing JSON notifications (notify) carry it.
//   X-Signature: sha256=<hex HMAC-SHA256(secret, body)>
inline constexpr char kBodySignatureHeader[] = "X-Signature";
inline constexpr char kBodySignaturePrefix[] = "sha256=";
std::string SignBody(std::string_view secret, std::string_view body);
bool VerifyBodySignature(std::string_view secret, std::string_view got, std::string_view body);
// Overwrites memory holding secret material so it cannot linger (core files).
void SecureWipe(std::string* s);
void SecureWipe(Bytes* b);

}  // namespace stackctl
