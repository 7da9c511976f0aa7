// `stackctl secrets check`: decrypts secret files in memory and reports, per
// file, OK with the kind, length and short hash, or the error. Wiring only:
// the work is secrets::CheckFile. There is deliberately no command that
// prints plaintext.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "cli/cli.h"
#include "common/crypto.h"
#include "secrets/check.h"

namespace stackctl::cli {
namespace {

struct SecretsCheckOptions {
  std::vector<std::string> identities;
  std::string sops_key;
  std::string sops_format;
  std::vector<std::string> files;
};

int RunSecretsCheck(const SecretsCheckOptions& o) {
  secrets::KeyEnvironment env = secrets::KeyEnvironment::FromEnv(std::getenv);
  Result<secrets::Keyring> keys = secrets::Keyring::Load(o.identities, env);
  SecureWipe(&env.sops_age_key);
  if (!keys.ok()) {
    std::cerr << "error: " << keys.status().message() << "\n";
    return 2;
  }
  std::unique_ptr<secrets::SopsSelector> sel;
  if (!o.sops_key.empty() || !o.sops_format.empty()) {
    sel = std::make_unique<secrets::SopsSelector>();
    sel->key = o.sops_key;
    if (!o.sops_format.empty()) {
      Result<secrets::SopsFormat> f = secrets::ParseSopsFormat(o.sops_format);
      if (!f.ok()) {
        std::cerr << "error: --sops-format: " << f.status().message() << "\n";
        return 2;
      }
      sel->format = *f;
    }
  }
  int rc = 0;
  for (const std::string& path : o.files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::cout << "FAIL " << path << ": cannot read: " << std::strerror(errno) << "\n";
      rc = 1;
      continue;
    }
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    secrets::CheckOutcome out = secrets::CheckFile(path, content, sel.get(), *keys);
    std::cout << out.line << "\n";
    if (!out.ok) rc = 1;
  }
  return rc;
}

}  // namespace

void RegisterSecrets(CLI::App& app, Context& ctx) {
  auto* secrets = app.add_subcommand("secrets", "Inspect encrypted secrets (never prints them)");
  secrets->require_subcommand(1);
  auto opts = std::make_shared<SecretsCheckOptions>();
  auto* check = secrets->add_subcommand(
      "check", "Decrypt files in memory; report OK with length and hash, or the error");
  check
      ->add_option("--age-identity", opts->identities,
                   "age identity file (repeatable; also $SOPS_AGE_KEY_FILE, $SOPS_AGE_KEY)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  check->add_option("--sops-key", opts->sops_key,
                    "Check one key of SOPS documents, e.g. '[\"db\"][\"password\"]'");
  check->add_option("--sops-format", opts->sops_format, "yaml|json|dotenv|binary");
  check->add_option("FILE", opts->files, "Files to check")->required();
  check->callback([opts, &ctx] { ctx.exit_code = RunSecretsCheck(*opts); });
}

}  // namespace stackctl::cli
