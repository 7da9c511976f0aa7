// secrets::CheckFile: what `stackctl secrets check` reports for one file.
//
// Decrypts in memory with Decode, wipes the plaintext, and reports only the
// encryption kind, the plaintext length and the first 12 hex digits of its
// SHA-256 (the same digits Materialize puts in the object name), e.g.
//   "OK   secrets/db.age: age, 14 bytes, sha256:2cf24dba5fb0"
//   "FAIL secrets/db.age: no identity matched any of the file's recipients"
// Never prints plaintext.
//
// Thread safety: pure; `keys` is read only.
#pragma once

#include <string>
#include <string_view>

#include "secrets/decode.h"

namespace stackctl::secrets {

struct CheckOutcome {
  bool ok = false;
  std::string line;
};

CheckOutcome CheckFile(const std::string& display_path, std::string_view content,
                       const SopsSelector* selector, const Keyring& keys);

}  // namespace stackctl::secrets
