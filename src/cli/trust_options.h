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
};

// Adds the flags above to `cmd`, storing into *opts (which must outlive cmd).
void AddTrustOptions(CLI::App* cmd, TrustOptions* opts);

// Validates the flags, applies the environment defaults and reads the pinned
// CA files. InvalidArgument names the bad flag.
Result<notary::NotaryOptions> BuildNotaryOptions(const TrustOptions& opts);

// The trust directory after defaults.
std::string TrustDir(const TrustOptions& opts);

}  // namespace stackctl::cli
