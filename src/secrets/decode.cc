#include "secrets/decode.h"

#include "common/log.h"

namespace stackctl::secrets {

Encoding DetectEncoding(std::string_view content) {
  if (LooksLikeAge(content)) return Encoding::kAge;
  if (LooksLikeSops(content)) return Encoding::kSops;
  return Encoding::kPlain;
}

std::string_view EncodingName(Encoding e) {
  switch (e) {
    case Encoding::kPlain:
      return "plain";
    case Encoding::kAge:
      return "age";
    case Encoding::kSops:
      return "sops";
  }
  return "?";
}

Result<std::string> Decode(const std::string& display_path, std::string_view content,
                           const SopsSelector* selector, const Keyring& keys) {
  const Encoding enc = DetectEncoding(content);
  if (selector && enc != Encoding::kSops) {
    return InvalidArgument(display_path + ": x-sops is set but the file is not a SOPS document");
  }
  if (enc == Encoding::kPlain) return std::string(content);
  if (keys.empty()) {
    return FailedPrecondition(display_path + ": file is " + std::string(EncodingName(enc)) +
                              "-encrypted but no age identity was given (--age-identity or "
                              "SOPS_AGE_KEY_FILE)");
  }
  Result<std::string> plain = enc == Encoding::kAge
                                  ? AgeDecrypt(content, keys.identities())
                                  : SopsDecrypt(display_path, content, selector, keys.identities());
  if (!plain.ok()) return plain.status().WithPrefix(display_path);
  log::Get("secrets")->debug("decrypted {} ({}, {} bytes in, {} bytes out)", display_path,
                             EncodingName(enc), content.size(), plain->size());
  return plain;
}

}  // namespace stackctl::secrets
