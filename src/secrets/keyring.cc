#include "secrets/keyring.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/crypto.h"

namespace stackctl::secrets {

Result<Keyring> Keyring::Load(const std::vector<std::string>& identity_files,
                              const KeyEnvironment& env) {
  Keyring k;
  for (const std::string& f : identity_files) RETURN_IF_ERROR(k.AddIdentityFile(f));
  if (!env.sops_age_key_file.empty()) {
    RETURN_IF_ERROR(k.AddIdentityFile(env.sops_age_key_file).WithPrefix("SOPS_AGE_KEY_FILE"));
  }
  if (!env.sops_age_key.empty()) {
    RETURN_IF_ERROR(k.AddIdentityText("SOPS_AGE_KEY", env.sops_age_key));
  }
  if (!env.default_key_file.empty() && std::filesystem::exists(env.default_key_file)) {
    RETURN_IF_ERROR(k.AddIdentityFile(env.default_key_file));
  }
  return k;
}

Status Keyring::AddIdentityFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot read identity file: " + std::strerror(errno));
  // Read straight into one buffer we can wipe (no stringstream copies).
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (size < 0) return Internal(path + ": cannot size identity file");
  std::string text(static_cast<size_t>(size), '\0');
  in.read(text.data(), size);
  Status st = AddIdentityText(path, text);
  SecureWipe(&text);
  return st;
}

Status Keyring::AddIdentityText(std::string_view display, std::string_view text) {
  ASSIGN_OR_RETURN(std::vector<AgeIdentity> ids, ParseAgeIdentities(display, text));
  for (AgeIdentity& id : ids) identities_.push_back(std::move(id));
  return OkStatus();
}

}  // namespace stackctl::secrets
