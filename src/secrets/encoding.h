// Encodings age needs, written by hand for stackctl (not copied from any
// implementation): Bech32 (BIP 173, the checksum age uses for its keys, with
// no 90-character limit) and strict base64 (RFC 4648 §4, canonical only:
// non-zero trailing bits are rejected, as age requires).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace stackctl::secrets::internal {

// Decodes a Bech32 string (all lower or all upper case). On success `hrp` is
// the lower-case human-readable part and `data` the 8-bit payload. Returns an
// error description (never containing the input) or "" on success.
std::string Bech32Decode(std::string_view s, std::string* hrp, std::string* data);
// Encodes `data` under `hrp` (lower case output).
std::string Bech32Encode(std::string_view hrp, std::string_view data);

// Strict base64 of the standard alphabet. With `padded`, the input must be
// padded to a multiple of four ('=' only at the end); without, no '=' at all.
bool Base64DecodeStrict(std::string_view in, bool padded, std::string* out);
// Unpadded standard base64 (age header encoding).
std::string Base64EncodeRaw(std::string_view data);

}  // namespace stackctl::secrets::internal
