#include "secrets/check.h"

#include "common/crypto.h"
#include "secrets/materialize.h"

namespace stackctl::secrets {

CheckOutcome CheckFile(const std::string& display_path, std::string_view content,
                       const SopsSelector* selector, const Keyring& keys) {
  const Encoding enc = DetectEncoding(content);
  Result<std::string> plain = Decode(display_path, content, selector, keys);
  if (!plain.ok()) return {false, "FAIL " + plain.status().message()};
  const std::string hash = Sha256Hex(*plain).substr(0, kNameHashLength);
  const size_t size = plain->size();
  SecureWipe(&plain.value());
  return {true, "OK   " + display_path + ": " + std::string(EncodingName(enc)) + ", " +
                    std::to_string(size) + " bytes, sha256:" + hash};
}

}  // namespace stackctl::secrets
