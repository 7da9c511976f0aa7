// age v1 (https://age-encryption.org/v1, C2SP age.md) decryption, written for
// stackctl on OpenSSL 3 primitives; the header parser, armor decoder and
// Bech32 key encoding are hand-written here (no age library is involved).
//
// Supported: X25519 recipients (identities "AGE-SECRET-KEY-1..."), scrypt
// passphrase recipients, the HKDF-SHA256/HMAC header MAC, the
// ChaCha20-Poly1305 STREAM payload (64 KiB chunks, last-chunk flag), binary
// files and the strict ASCII armor (PEM-like, "AGE ENCRYPTED FILE").
// Not supported: plugin recipients, ssh-ed25519/ssh-rsa recipients,
// passphrase-encrypted identity files (they are reported as such).
//
// Error messages never contain key material or plaintext and are not prefixed
// with a path: callers (secrets::Decode, the SOPS reader) qualify them.
//
// Ownership: AgeIdentity owns its secret and wipes it when destroyed;
// AgeDecrypt returns plaintext the caller owns (and should SecureWipe).
// Thread safety: AgeIdentity is an immutable value; functions are pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace stackctl::secrets {

inline constexpr char kAgeArmorBegin[] = "-----BEGIN AGE ENCRYPTED FILE-----";
inline constexpr char kAgeArmorEnd[] = "-----END AGE ENCRYPTED FILE-----";
inline constexpr char kAgeVersionLine[] = "age-encryption.org/v1";
// Highest scrypt work factor (log2 N) accepted by default, as age does.
inline constexpr int kDefaultMaxScryptWorkFactor = 22;

class AgeIdentity {
 public:
  enum class Kind { kX25519, kScrypt };

  // Parses one "AGE-SECRET-KEY-1..." string. Errors name what is wrong with
  // it, never the key itself.
  static Result<AgeIdentity> ParseX25519(std::string_view encoded);
  // A passphrase identity (matches scrypt recipient stanzas).
  static AgeIdentity Passphrase(std::string_view passphrase,
                                int max_work_factor = kDefaultMaxScryptWorkFactor);

  AgeIdentity(const AgeIdentity&) = default;
  AgeIdentity& operator=(const AgeIdentity&) = default;
  AgeIdentity(AgeIdentity&&) = default;
  AgeIdentity& operator=(AgeIdentity&&) = default;
  ~AgeIdentity();

  Kind kind() const { return kind_; }
  // "age1..." for X25519 identities, "scrypt" for passphrases.
  const std::string& recipient() const { return recipient_; }
  // 32-byte scalar (X25519) or the passphrase. REQUIRES: only crypto code.
  const std::string& secret() const { return secret_; }
  int max_work_factor() const { return max_work_factor_; }

 private:
  AgeIdentity(Kind kind, std::string secret, std::string recipient, int max_work_factor)
      : kind_(kind),
        secret_(std::move(secret)),
        recipient_(std::move(recipient)),
        max_work_factor_(max_work_factor) {}
  Kind kind_;
  std::string secret_;
  std::string recipient_;
  int max_work_factor_;
};

// Parses an identity file as age-keygen writes it: one identity per line,
// blank lines and lines starting with '#' ignored. Errors read
// "<display_path>:<line>: <problem>" and never quote the line.
Result<std::vector<AgeIdentity>> ParseAgeIdentities(std::string_view display_path,
                                                    std::string_view text);

// True when `content` starts with the binary age header or (after leading
// whitespace) the armor's BEGIN line.
bool LooksLikeAge(std::string_view content);

// Removes the ASCII armor (strict: 64-column lines, padded base64, CRLF or
// LF, whitespace allowed only around the whole block).
Result<std::string> AgeDearmor(std::string_view armored);

// Decrypts a binary or armored age file with the first identity that matches
// one of its recipient stanzas. Errors (exact texts, tested):
//   "no identity matched any of the file's recipients"
//   "bad header MAC"
//   "truncated age file: ...", "invalid age header: ...", "invalid armor: ..."
//   "payload chunk N: authentication failed (tampered or truncated)"
Result<std::string> AgeDecrypt(std::string_view content,
                               const std::vector<AgeIdentity>& identities);

}  // namespace stackctl::secrets
