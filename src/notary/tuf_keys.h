// TUF public keys, key IDs and signature verification for Notary v1 metadata
// (NOTARY.md §5.2, §5.3), plus the X.509 handling of root keys (§7 step 6)
// and CA trust pinning. All cryptography is OpenSSL 3; no OpenSSL type leaks
// out of this header.
//
// Thread safety: pure functions.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"

namespace stackctl::notary {

// A key as metadata lists it: keytype ("ecdsa", "ecdsa-x509", "rsa",
// "rsa-x509", "ed25519") and the decoded bytes of keyval.public (DER SPKI,
// PEM certificate text, or the raw Ed25519 key).
struct PublicKey {
  std::string type;
  std::string public_bytes;
  bool operator==(const PublicKey&) const = default;
};

using KeyMap = std::map<std::string, PublicKey>;  // key ID -> key

// Parses {"keytype": ..., "keyval": {"public": base64}}; `what` prefixes errors.
Result<PublicKey> ParseKey(const Json& j, std::string_view what);
// Parses a {"<id>": key, ...} object. Keys of unknown type are kept (they
// simply never verify anything).
Result<KeyMap> ParseKeys(const Json& j, std::string_view what);

// hex(sha256(canonical({"keytype":T,"keyval":{"private":null,"public":b64}}))).
std::string KeyId(const PublicKey& key);

// Verifies one signature. `method` is compared case-insensitively: ecdsa
// (raw r||s, SHA-256), eddsa, rsapss (SHA-256, salt 32), rsapkcs1v15. False for
// an unknown method, a key type that does not match it, or a bad signature.
bool VerifySignature(const PublicKey& key, std::string_view method, std::string_view message,
                     std::string_view signature);

// Root keys of a root.json `signed` object rebuilt from their certificates
// (§7 step 6): only keys listed in roles.root whose PEM bundle holds exactly
// one leaf (first) with CN == gun (or "prefix*" matching it) and acceptable
// validity; with `now`, expired (or not yet valid by more than 24 h)
// certificates are skipped. Result is indexed by the recomputed key ID.
KeyMap RootCertKeys(const Json& root_signed, const std::string& gun,
                    std::optional<Clock::TimePoint> now);

// True when the leaf certificate of `key` (an *-x509 key from RootCertKeys)
// chains, through the bundle's intermediates, to a certificate in `ca_pem`,
// with Go x509.Verify defaults (serverAuth EKU where an EKU is present).
bool ChainsToCa(const PublicKey& key, std::string_view ca_pem, Clock::TimePoint now);

// Decodes standard base64 ignoring '\r' and '\n' (Go's []byte JSON decoding).
bool DecodeBase64(std::string_view in, std::string* out);

}  // namespace stackctl::notary
