// Thin adapters over OpenSSL 3 for the primitives age and SOPS use:
// X25519, HKDF-SHA256, ChaCha20-Poly1305, AES-256-GCM (any IV length),
// scrypt and HMAC-SHA256. Internal to src/secrets.
//
// Inputs and outputs are byte strings (std::string as a byte container).
// Functions return false (or an empty optional) on any failure, including a
// failed authentication tag: callers turn that into a path-qualified Status,
// so no OpenSSL error text (which never holds key material anyway) leaks.
// Buffers that held key material inside these functions are cleansed.
//
// Thread safety: pure functions; OpenSSL 3 is thread safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace stackctl::secrets::internal {

// X25519(scalar, point). False on bad lengths or an all-zero shared secret.
bool X25519(std::string_view scalar, std::string_view point, std::string* shared);
// The public point of a 32-byte X25519 scalar.
bool X25519Public(std::string_view scalar, std::string* point);
// HKDF-SHA256 (RFC 5869) with `out_len` output bytes; an empty salt means
// "not provided" (HashLen zero bytes), as in RFC 5869 and Go's x/crypto/hkdf.
bool HkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info, size_t out_len,
                std::string* out);
// ChaCha20-Poly1305 (RFC 8439) open: `sealed` is ciphertext || 16-byte tag.
bool ChaChaPolyOpen(std::string_view key, std::string_view nonce12, std::string_view sealed,
                    std::string* plain);
// AES-256-GCM open with an IV of any non-zero length (SOPS uses 32 bytes).
bool AesGcmOpen(std::string_view key, std::string_view iv, std::string_view ciphertext,
                std::string_view tag, std::string_view aad, std::string* plain);
// scrypt(password, salt, N = 2^log_n, r, p) into `out_len` bytes.
bool Scrypt(std::string_view password, std::string_view salt, int log_n, int r, int p,
            size_t out_len, std::string* out);
std::string HmacSha256(std::string_view key, std::string_view data);

}  // namespace stackctl::secrets::internal
