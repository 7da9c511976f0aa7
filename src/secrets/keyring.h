// secrets::Keyring: the age identities stackctl may use to decrypt secrets.
//
// Sources, in the order identities are tried: files given with
// `--age-identity FILE` (repeatable; later a controller config key), then the
// file named by SOPS_AGE_KEY_FILE and the inline SOPS_AGE_KEY value, then
// sops' default key file ($XDG_CONFIG_HOME or ~/.config, + sops/age/keys.txt)
// when it exists, as sops reads them. The environment is passed in by the caller (main reads it),
// so the keyring has no hidden inputs and tests stay hermetic.
//
// Ownership: the keyring owns its identities; they wipe their secrets when
// destroyed. Thread safety: immutable after loading; const methods are safe
// from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "secrets/age.h"

namespace stackctl::secrets {

// What the process environment says about keys (as sops reads it).
struct KeyEnvironment {
  std::string sops_age_key_file;  // $SOPS_AGE_KEY_FILE, "" when unset
  std::string sops_age_key;       // $SOPS_AGE_KEY (identity file text), "" when unset
  // sops' default location; read only if the file exists. "" to skip.
  std::string default_key_file;

  // Fills the fields the way sops does from a getenv-like function.
  template <typename Getenv>
  static KeyEnvironment FromEnv(Getenv getenv_fn) {
    KeyEnvironment e;
    auto get = [&](const char* name) {
      const char* v = getenv_fn(name);
      return std::string(v ? v : "");
    };
    e.sops_age_key_file = get("SOPS_AGE_KEY_FILE");
    e.sops_age_key = get("SOPS_AGE_KEY");
    const std::string xdg = get("XDG_CONFIG_HOME"), home = get("HOME");
    if (!xdg.empty()) {
      e.default_key_file = xdg + "/sops/age/keys.txt";
    } else if (!home.empty()) {
      e.default_key_file = home + "/.config/sops/age/keys.txt";
    }
    return e;
  }
};

class Keyring {
 public:
  Keyring() = default;

  // Loads every file in `identity_files`, then the environment's sources.
  // Errors name the file ("keys.txt:3: malformed age identity: ...").
  static Result<Keyring> Load(const std::vector<std::string>& identity_files,
                              const KeyEnvironment& env);

  // Reads an identity file from disk and adds its identities.
  Status AddIdentityFile(const std::string& path);
  // Adds identities from identity-file text; `display` names it in errors.
  Status AddIdentityText(std::string_view display, std::string_view text);
  void Add(AgeIdentity identity) { identities_.push_back(std::move(identity)); }

  const std::vector<AgeIdentity>& identities() const { return identities_; }
  bool empty() const { return identities_.empty(); }

 private:
  std::vector<AgeIdentity> identities_;
};

}  // namespace stackctl::secrets
