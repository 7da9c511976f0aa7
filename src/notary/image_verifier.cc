#include "notary/image_verifier.h"

#include <regex>

#include "common/log.h"
#include "notary/http_source.h"

namespace stackctl::notary {

std::string ImageRef::Familiar() const {
  if (registry == "docker.io") {
    if (path.rfind("library/", 0) == 0 && path.find('/', 8) == std::string::npos) {
      return path.substr(8);
    }
    return path;
  }
  return registry + "/" + path;
}

Result<ImageRef> ParseImageRef(const std::string& ref) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("image \"" + ref + "\": " + why);
  };
  if (ref.empty()) return bad("empty reference");
  ImageRef r;
  std::string name = ref;
  size_t at = name.find('@');
  if (at != std::string::npos) {
    r.digest = name.substr(at + 1);
    name = name.substr(0, at);
    static const std::regex kDigest("^sha256:[0-9a-f]{64}$");
    if (!std::regex_match(r.digest, kDigest)) return bad("invalid digest \"" + r.digest + "\"");
  }
  size_t slash = name.rfind('/');
  size_t colon = name.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    r.tag = name.substr(colon + 1);
    name = name.substr(0, colon);
    static const std::regex kTag("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$");
    if (!std::regex_match(r.tag, kTag)) return bad("invalid tag \"" + r.tag + "\"");
  }
  size_t first = name.find('/');
  std::string head = first == std::string::npos ? "" : name.substr(0, first);
  if (!head.empty() && (head.find('.') != std::string::npos ||
                        head.find(':') != std::string::npos || head == "localhost")) {
    r.registry = head;
    r.path = name.substr(first + 1);
  } else {
    r.registry = "docker.io";
    r.path = name;
  }
  if (r.registry == "index.docker.io") r.registry = "docker.io";
  if (r.registry == "docker.io" && r.path.find('/') == std::string::npos)
    r.path = "library/" + r.path;
  static const std::regex kPath(
      "^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$");
  if (!std::regex_match(r.path, kPath)) return bad("invalid repository name \"" + r.path + "\"");
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

std::string TrustServerFor(const NotaryOptions& options, const std::string& registry) {
  auto it = options.servers.find(registry);
  if (it != options.servers.end()) return it->second;
  if (!options.default_server.empty()) return options.default_server;
  if (registry == "docker.io") return "https://notary.docker.io";
  return "https://" + registry;
}

NotaryVerifier::NotaryVerifier(NotaryOptions options, RootStore& roots, MetadataCache& cache,
                               const Clock& clock, SourceFactory sources)
    : options_(std::move(options)),
      roots_(roots),
      cache_(cache),
      clock_(clock),
      sources_(std::move(sources)) {}

NotaryVerifier::NotaryVerifier(NotaryOptions options, RootStore& roots, MetadataCache& cache,
                               const Clock& clock)
    : NotaryVerifier(options, roots, cache, clock,
                     [ca = options.ca_file](
                         const std::string& server) -> Result<std::unique_ptr<MetadataSource>> {
                       HttpOptions http;
                       http.server = server;
                       http.ca_file = ca;
                       ASSIGN_OR_RETURN(auto src, HttpSource::Create(std::move(http)));
                       return std::unique_ptr<MetadataSource>(std::move(src));
                     }) {}

Result<ResolvedImage> NotaryVerifier::Resolve(const std::string& image_ref) {
  ASSIGN_OR_RETURN(ImageRef ref, ParseImageRef(image_ref));
  ResolvedImage out;
  if (!ref.digest.empty()) {
    out.reference = ref.Familiar() + "@" + ref.digest;
    out.digest = ref.digest;
    out.tag = ref.tag;
    out.warnings.push_back(image_ref + ": already pinned by digest; trust data not consulted");
    return out;
  }
  std::lock_guard<std::mutex> lock(mu_);
  last_fetches_ = 0;
  std::string server = TrustServerFor(options_, ref.registry);
  auto it = by_server_.find(server);
  if (it == by_server_.end()) {
    auto src = sources_(server);
    if (!src.ok()) return src.status().WithPrefix("image " + image_ref);
    it = by_server_.emplace(server, std::move(*src)).first;
  }
  TufClient client(*it->second, roots_, cache_, clock_, options_.pinning);
  auto repo = client.Update(ref.Gun());
  last_fetches_ = client.last_fetches();
  if (!repo.ok()) {
    log::Get("notary")->debug("{}: trust verification failed: {}", image_ref,
                              repo.status().message());
    return repo.status();
  }
  auto target = ResolveTag(*repo, ref.tag);
  if (!target.ok()) {
    log::Get("notary")->debug("{}: {}", image_ref, target.status().message());
    return target.status();
  }
  log::Get("notary")->debug("{}: {} signed by {} (root v{}, {} fetches from {})", image_ref,
                            target->digest, target->role, repo->root_version, repo->fetches,
                            server);
  out.reference = ref.Familiar() + "@" + target->digest;
  out.digest = target->digest;
  out.tag = ref.tag;
  out.signed_by = target->role;
  out.warnings = repo->warnings;
  return out;
}

Result<ResolvedImage> EngineDigestResolver::Resolve(const std::string& image_ref) {
  ASSIGN_OR_RETURN(ImageRef ref, ParseImageRef(image_ref));
  ResolvedImage out;
  out.tag = ref.tag;
  if (!ref.digest.empty()) {
    out.digest = ref.digest;
  } else {
    auto d = engine_.DistributionDigest(image_ref, registry_auth_);
    if (!d.ok()) {
      return Status(d.status().code(),
                    "image " + image_ref + ": cannot resolve digest: " + d.status().message());
    }
    out.digest = *d;
  }
  out.reference = ref.Familiar() + "@" + out.digest;
  return out;
}

Result<TrustPolicy> ParseTrustPolicy(const std::string& s) {
  if (s == "require") return TrustPolicy::kRequire;
  if (s == "warn") return TrustPolicy::kWarn;
  if (s == "off") return TrustPolicy::kOff;
  return InvalidArgument("trust policy \"" + s + "\": must be require, warn or off");
}

Result<ResolvedImage> PolicyVerifier::Resolve(const std::string& image_ref) {
  if (policy_ == TrustPolicy::kOff || !trust_) return engine_.Resolve(image_ref);
  auto trusted = trust_->Resolve(image_ref);
  if (trusted.ok() || policy_ == TrustPolicy::kRequire) return trusted;
  auto fallback = engine_.Resolve(image_ref);
  if (!fallback.ok()) {
    return Status(fallback.status().code(), "trust verification failed (" +
                                                trusted.status().message() + ") and " +
                                                fallback.status().message());
  }
  fallback->warnings.insert(fallback->warnings.begin(),
                            "image " + image_ref + ": not trust-verified (" +
                                trusted.status().message() + "); using the registry digest");
  return fallback;
}

ImageTrustChain BuildImageTrustChain(TrustPolicy policy, NotaryOptions options, RootStore& roots,
                                     MetadataCache& cache, Clock& clock, engine::Engine& engine) {
  ImageTrustChain chain;
  chain.engine_digest = std::make_unique<EngineDigestResolver>(engine);
  if (policy != TrustPolicy::kOff) {
    chain.notary = std::make_unique<NotaryVerifier>(std::move(options), roots, cache, clock);
  }
  chain.verifier = std::make_unique<PolicyVerifier>(policy, chain.notary.get(), *chain.engine_digest);
  return chain;
}

}  // namespace stackctl::notary
