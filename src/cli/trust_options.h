// Image-trust flags shared by `stackctl verify` and `stackctl deploy`:
//   --trust-server URL      Notary server (default $DOCKER_CONTENT_TRUST_SERVER,
//                           else docker's per-registry rule)
//   --trust-ca FILE         CA bundle that verifies the trust server's TLS certificate
//   --trust-pin GUN=ID      pin the root certificate key ID(s) of a GUN ("prefix*" allowed;
//                           repeat, or ID1,ID2)
//   --trust-pin-ca PREFIX=FILE  pin GUNs under PREFIX to root certificates issued by FILE
//   --no-tofu               refuse first use of a GUN without a pin
//   --trust-dir DIR         trusted roots and metadata cache (default $STACKCTL_TRUST_DIR,
//                           else ~/.stackctl/trust)
// and for cosign signatures (src/notary/cosign.h) and the registries holding them:
//   --cosign-key FILE       PEM public key that may sign (repeat for several)
//   --cosign-annotation K=V annotation every accepted signature must carry (repeat)
//   --signatures LIST       notary, cosign or notary,cosign (default: cosign when a
//                           --cosign-key is given, else notary)
//   --accept all|any        with both: both must verify (all, default) or either
//   --trust-images GLOB     the repositories ("registry/path") the policy applies to
//                           (default *; other images are resolved unverified)
//   --registry-ca FILE      CA bundle for the registries' TLS certificates
//   --insecure-registry HOST[:PORT]  registry that may speak plain http (repeat)
//   --registry-user NAME, --registry-password-file FILE  registry credentials
// Wiring only: the work is done by src/notary.
//
// Thread safety: plain values.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "notary/image_verifier.h"

namespace stackctl::cli {

struct TrustOptions {
  std::string server;
  std::string ca_file;
  std::vector<std::string> pins;
  std::vector<std::string> pin_cas;
  bool no_tofu = false;
  std::string trust_dir;
  std::vector<std::string> cosign_keys;
  std::vector<std::string> cosign_annotations;
  std::string signatures;  // "" = by --cosign-key
  std::string accept = "all";
  std::string images = "*";
  std::string registry_ca;
  std::vector<std::string> insecure_registries;
  std::string registry_user, registry_password_file;
};

// Adds the flags above to `cmd`, storing into *opts (which must outlive cmd).
void AddTrustOptions(CLI::App* cmd, TrustOptions* opts);

// Validates the flags, applies the environment defaults and reads the pinned
// CA files. InvalidArgument names the bad flag.
Result<notary::NotaryOptions> BuildNotaryOptions(const TrustOptions& opts);

// The one trust rule the flags describe, under `policy`: which signatures,
// cosign keys (read and checked now) and annotations. InvalidArgument names
// the bad flag.
Result<notary::TrustRule> BuildTrustRule(const TrustOptions& opts, notary::TrustPolicy policy);

// Registry access for cosign from --registry-ca, --insecure-registry and the
// credentials flags.
Result<notary::RegistryOptions> BuildRegistryOptions(const TrustOptions& opts);

// Everything the flags say about image trust, under `policy`: the one rule
// (BuildTrustRule), Notary's options when that rule asks Notary
// (BuildNotaryOptions) and registry access (BuildRegistryOptions). The first
// bad flag's InvalidArgument.
struct ImageTrustFromFlags {
  notary::ImageTrustPolicy policy;
  notary::NotaryOptions notary;
  notary::RegistryOptions registries;
};
Result<ImageTrustFromFlags> BuildImageTrust(const TrustOptions& opts, notary::TrustPolicy policy);

// The trust directory after defaults.
std::string TrustDir(const TrustOptions& opts);

}  // namespace stackctl::cli
