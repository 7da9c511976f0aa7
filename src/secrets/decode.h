// secrets::Decode: the single entry point that turns the bytes of a secret's
// or config's `file:` into the plaintext stackctl sends to Swarm.
//
// Detection is by content (docs/secrets.md):
//   - a SOPS document (top-level "sops" metadata, or sops_* dotenv lines) is
//     decrypted with SopsDecrypt, whole or the `selector` key;
//   - an age file (binary header or ASCII armor) is decrypted with AgeDecrypt;
//   - anything else passes through unchanged (plain files).
// A `selector` (the compose `x-sops` extension) requires a SOPS document.
//
// Errors are prefixed with `display_path` (the path as the compose file wrote
// it, e.g. "secrets/db.age: no identity matched any of the file's
// recipients"); the caller adds the object ("secret db_pass: ..."). They never
// contain plaintext. Nothing is logged but the path, the kind of encryption
// and lengths, at debug level on the "secrets" logger.
//
// Ownership: the returned plaintext belongs to the caller, who moves it into
// model::Blob::data and wipes what it no longer needs (SecureWipe).
// Thread safety: pure; `keys` is read only.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "secrets/keyring.h"
#include "secrets/sops.h"

namespace stackctl::secrets {

enum class Encoding { kPlain, kAge, kSops };

// What Decode would do with `content` (no decryption).
Encoding DetectEncoding(std::string_view content);
std::string_view EncodingName(Encoding e);  // "plain", "age", "sops"

Result<std::string> Decode(const std::string& display_path, std::string_view content,
                           const SopsSelector* selector, const Keyring& keys);

}  // namespace stackctl::secrets
