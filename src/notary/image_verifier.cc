#include "notary/image_verifier.h"

#include <fnmatch.h>

#include <optional>
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

const char* TrustPolicyName(TrustPolicy p) {
  switch (p) {
    case TrustPolicy::kRequire:
      return "require";
    case TrustPolicy::kWarn:
      return "warn";
    case TrustPolicy::kOff:
      return "off";
  }
  return "off";
}

bool MatchesImages(const std::string& pattern, const std::string& repository) {
  return fnmatch(pattern.c_str(), repository.c_str(), 0) == 0;
}

ImageTrustPolicy ImageTrustPolicy::Notary(TrustPolicy policy) {
  ImageTrustPolicy p;
  TrustRule all;
  all.policy = policy;
  all.notary = true;
  p.rules.push_back(all);
  return p;
}

const TrustRule& ImageTrustPolicy::For(const std::string& repository) const {
  static const TrustRule kOff;
  for (const TrustRule& r : rules) {
    if (MatchesImages(r.images, repository)) return r;
  }
  return kOff;
}

bool ImageTrustPolicy::AnyRequired() const {
  for (const TrustRule& r : rules) {
    if (r.policy == TrustPolicy::kRequire && (r.notary || r.cosign)) return true;
  }
  return false;
}

bool ImageTrustPolicy::UsesNotary() const {
  for (const TrustRule& r : rules) {
    if (r.policy != TrustPolicy::kOff && r.notary) return true;
  }
  return false;
}

bool ImageTrustPolicy::UsesCosign() const {
  for (const TrustRule& r : rules) {
    if (r.policy != TrustPolicy::kOff && r.cosign) return true;
  }
  return false;
}

bool PolicyVerifier::RequiresVerification(const std::string& image_ref) {
  auto ref = ParseImageRef(image_ref);
  if (!ref.ok()) return true;  // a bad reference is an error either way
  const TrustRule& rule = policy_.For(ref->Gun());
  return rule.policy == TrustPolicy::kRequire && (rule.notary || rule.cosign);
}

Result<ResolvedImage> PolicyVerifier::Verify(const TrustRule& rule, const std::string& image_ref) {
  std::optional<ResolvedImage> by_notary;
  std::string notary_failure;
  Code notary_code = Code::kOk;
  if (rule.notary) {
    if (!notary_) return Internal("image " + image_ref + ": no Notary verifier configured");
    auto n = notary_->Resolve(image_ref);
    if (n.ok() && (!rule.cosign || rule.any)) return n;
    if (!n.ok() && (!rule.cosign || !rule.any)) return n.status();
    if (n.ok()) {
      by_notary = std::move(*n);
    } else {
      notary_failure = n.status().message();
      notary_code = n.status().code();
    }
  }
  // Cosign: on the digest Notary signed when both are required, else on the
  // digest the reference names or the registry serves for its tag.
  if (!cosign_) return Internal("image " + image_ref + ": no cosign verifier configured");
  std::lock_guard<std::mutex> lock(mu_);
  auto either_failed = [&](const Status& cosign_failure) {
    if (notary_failure.empty()) return cosign_failure;
    // An outage of either is retryable; otherwise the image is untrusted.
    Code code = notary_code == Code::kUnavailable || cosign_failure.code() == Code::kUnavailable
                    ? Code::kUnavailable
                    : Code::kFailedPrecondition;
    return Status(code, "image " + image_ref + ": neither signature verifies: notary: " +
                            notary_failure + "; " + cosign_failure.message());
  };
  Result<std::string> digest =
      by_notary ? Result<std::string>(by_notary->digest) : cosign_->Digest(image_ref);
  if (!digest.ok()) return either_failed(digest.status());
  auto verdict = cosign_->Verify(image_ref, *digest, rule.cosign_options);
  if (!verdict.ok()) return either_failed(verdict.status());
  ResolvedImage out;
  if (by_notary) {
    out = std::move(*by_notary);
    out.signed_by += (out.signed_by.empty() ? "" : " and ");
  } else {
    ASSIGN_OR_RETURN(ImageRef ref, ParseImageRef(image_ref));
    out.reference = ref.Familiar() + "@" + verdict->digest;
    out.digest = verdict->digest;
    out.tag = ref.tag;
  }
  out.signed_by += "cosign key " + verdict->key;
  return out;
}

Result<ResolvedImage> PolicyVerifier::Resolve(const std::string& image_ref) {
  ASSIGN_OR_RETURN(ImageRef ref, ParseImageRef(image_ref));
  const TrustRule& rule = policy_.For(ref.Gun());
  auto with_policy = [](Result<ResolvedImage> r, TrustPolicy policy) {
    if (r.ok()) r->trust_policy = TrustPolicyName(policy);
    return r;
  };
  if (rule.policy == TrustPolicy::kOff || !(rule.notary || rule.cosign)) {
    return with_policy(engine_.Resolve(image_ref), TrustPolicy::kOff);
  }
  // Notary only, without a verifier: the legacy "warn without a server" wiring.
  if (rule.notary && !rule.cosign && !notary_ && rule.policy == TrustPolicy::kWarn) {
    return with_policy(engine_.Resolve(image_ref), rule.policy);
  }
  auto trusted = with_policy(Verify(rule, image_ref), rule.policy);
  if (trusted.ok() || rule.policy == TrustPolicy::kRequire) return trusted;
  auto fallback = with_policy(engine_.Resolve(image_ref), rule.policy);
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

ImageTrustChain BuildImageTrustChain(ImageTrustPolicy policy, NotaryOptions notary,
                                     RegistryOptions registries, RootStore& roots,
                                     MetadataCache& cache, Clock& clock, engine::Engine& engine) {
  ImageTrustChain chain;
  chain.engine_digest = std::make_unique<EngineDigestResolver>(engine);
  if (policy.UsesNotary()) {
    chain.notary = std::make_unique<NotaryVerifier>(std::move(notary), roots, cache, clock);
  }
  if (policy.UsesCosign()) {
    chain.registry = std::make_unique<HttpRegistry>(std::move(registries));
    chain.cosign = std::make_unique<CosignVerifier>(*chain.registry);
  }
  chain.verifier = std::make_unique<PolicyVerifier>(std::move(policy), chain.notary.get(),
                                                    chain.cosign.get(), *chain.engine_digest);
  return chain;
}

}  // namespace stackctl::notary
