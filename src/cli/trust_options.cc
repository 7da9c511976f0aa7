#include "cli/trust_options.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace stackctl::cli {

void AddTrustOptions(CLI::App* cmd, TrustOptions* opts) {
  cmd->add_option("--trust-server", opts->server,
                  "Notary server URL (default: $DOCKER_CONTENT_TRUST_SERVER)");
  cmd->add_option("--trust-ca", opts->ca_file, "CA bundle for the Notary server's TLS certificate");
  cmd->add_option("--trust-pin", opts->pins,
                  "GUN=ID[,ID...]: pin the root certificate key IDs of a GUN (GUN may end in *)");
  cmd->add_option("--trust-pin-ca", opts->pin_cas,
                  "PREFIX=FILE: pin GUNs starting with PREFIX to root certificates issued by FILE");
  cmd->add_flag("--no-tofu", opts->no_tofu, "Refuse to trust a GUN on first use without a pin");
  cmd->add_option("--trust-dir", opts->trust_dir,
                  "Trusted roots and metadata cache (default: $STACKCTL_TRUST_DIR or "
                  "~/.stackctl/trust)");
}

std::string TrustDir(const TrustOptions& opts) {
  if (!opts.trust_dir.empty()) return opts.trust_dir;
  if (const char* d = std::getenv("STACKCTL_TRUST_DIR"); d && *d) return d;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.stackctl/trust";
}

Result<notary::NotaryOptions> BuildNotaryOptions(const TrustOptions& opts) {
  notary::NotaryOptions o;
  o.default_server = opts.server;
  if (o.default_server.empty()) {
    if (const char* s = std::getenv("DOCKER_CONTENT_TRUST_SERVER")) o.default_server = s;
  }
  o.ca_file = opts.ca_file;
  if (!o.ca_file.empty() && !std::ifstream(o.ca_file)) {
    return InvalidArgument("--trust-ca " + o.ca_file + ": cannot read file");
  }
  for (const auto& p : opts.pins) {
    size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == p.size()) {
      return InvalidArgument("--trust-pin " + p + ": expected GUN=ID[,ID...]");
    }
    std::stringstream ids(p.substr(eq + 1));
    std::string id;
    while (std::getline(ids, id, ',')) {
      if (!id.empty()) o.pinning.certs[p.substr(0, eq)].push_back(id);
    }
  }
  for (const auto& p : opts.pin_cas) {
    size_t eq = p.find('=');
    if (eq == std::string::npos || eq + 1 == p.size()) {
      return InvalidArgument("--trust-pin-ca " + p + ": expected PREFIX=FILE");
    }
    std::ifstream in(p.substr(eq + 1));
    if (!in) return InvalidArgument("--trust-pin-ca " + p + ": cannot read " + p.substr(eq + 1));
    std::stringstream ss;
    ss << in.rdbuf();
    o.pinning.ca[p.substr(0, eq)] = ss.str();
  }
  o.pinning.disable_tofu = opts.no_tofu;
  return o;
}

}  // namespace stackctl::cli
