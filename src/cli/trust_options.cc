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
  cmd->add_option("--cosign-key", opts->cosign_keys,
                  "PEM public key whose cosign signatures are accepted (repeat for several)");
  cmd->add_option("--cosign-annotation", opts->cosign_annotations,
                  "KEY=VALUE: annotation every accepted cosign signature must carry (repeat)");
  cmd->add_option("--signatures", opts->signatures,
                  "notary, cosign or notary,cosign (default: cosign with --cosign-key, else notary)");
  cmd->add_option("--accept", opts->accept,
                  "With notary,cosign: all (both must verify, default) or any (either suffices)");
  cmd->add_option("--trust-images", opts->images,
                  "Glob over registry/path of the images the trust policy applies to (default: *)");
  cmd->add_option("--registry-ca", opts->registry_ca, "CA bundle for the registries' TLS certificates");
  cmd->add_option("--insecure-registry", opts->insecure_registries,
                  "HOST[:PORT] of a registry that may speak plain http (repeat)");
  cmd->add_option("--registry-user", opts->registry_user, "Registry user name (with --registry-password-file)");
  cmd->add_option("--registry-password-file", opts->registry_password_file,
                  "File holding the registry password or token");
}

Result<notary::TrustRule> BuildTrustRule(const TrustOptions& opts, notary::TrustPolicy policy) {
  notary::TrustRule rule;
  rule.images = opts.images;
  if (rule.images.empty()) return InvalidArgument("--trust-images: must not be empty");
  rule.policy = policy;
  std::string signatures = opts.signatures;
  if (signatures.empty()) signatures = opts.cosign_keys.empty() ? "notary" : "cosign";
  std::stringstream list(signatures);
  std::string one;
  while (std::getline(list, one, ',')) {
    if (one == "notary") {
      rule.notary = true;
    } else if (one == "cosign") {
      rule.cosign = true;
    } else {
      return InvalidArgument("--signatures " + signatures + ": expected notary, cosign or notary,cosign");
    }
  }
  if (!rule.notary && !rule.cosign) {
    return InvalidArgument("--signatures " + signatures + ": expected notary, cosign or notary,cosign");
  }
  if (opts.accept != "all" && opts.accept != "any") {
    return InvalidArgument("--accept " + opts.accept + ": expected all or any");
  }
  rule.any = opts.accept == "any";
  if (rule.cosign && opts.cosign_keys.empty()) {
    return InvalidArgument("--signatures " + signatures + ": cosign needs at least one --cosign-key");
  }
  if (!rule.cosign && !opts.cosign_keys.empty()) {
    return InvalidArgument("--cosign-key: --signatures " + signatures + " does not include cosign");
  }
  for (const auto& path : opts.cosign_keys) {
    auto key = notary::LoadCosignKey(path);
    if (!key.ok()) return key.status().WithPrefix("--cosign-key");
    rule.cosign_options.keys.push_back(std::move(*key));
  }
  for (const auto& a : opts.cosign_annotations) {
    size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument("--cosign-annotation " + a + ": expected KEY=VALUE");
    }
    rule.cosign_options.annotations[a.substr(0, eq)] = a.substr(eq + 1);
  }
  return rule;
}

Result<notary::RegistryOptions> BuildRegistryOptions(const TrustOptions& opts) {
  notary::RegistryOptions o;
  if (!opts.registry_ca.empty() && !std::ifstream(opts.registry_ca)) {
    return InvalidArgument("--registry-ca " + opts.registry_ca + ": cannot read file");
  }
  if (opts.registry_user.empty() != opts.registry_password_file.empty()) {
    return InvalidArgument("--registry-user and --registry-password-file must be given together");
  }
  o.default_access.ca_file = opts.registry_ca;
  o.default_access.username = opts.registry_user;
  o.default_access.password_file = opts.registry_password_file;
  for (const auto& host : opts.insecure_registries) {
    if (host.empty() || host.find('/') != std::string::npos) {
      return InvalidArgument("--insecure-registry " + host + ": expected HOST[:PORT]");
    }
    notary::RegistryAccess access = o.default_access;
    access.insecure = true;
    o.registries[host] = access;
  }
  return o;
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

Result<ImageTrustFromFlags> BuildImageTrust(const TrustOptions& opts, notary::TrustPolicy policy) {
  ImageTrustFromFlags out;
  ASSIGN_OR_RETURN(notary::TrustRule rule, BuildTrustRule(opts, policy));
  out.policy.rules.push_back(std::move(rule));
  if (out.policy.UsesNotary()) {
    ASSIGN_OR_RETURN(out.notary, BuildNotaryOptions(opts));
  }
  ASSIGN_OR_RETURN(out.registries, BuildRegistryOptions(opts));
  return out;
}

}  // namespace stackctl::cli
