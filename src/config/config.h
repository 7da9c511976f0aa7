// The stackctld configuration file (YAML): what the controller watches and
// how it deploys. stackctld's main reads it and hands each part to its owner:
// the controller gets the repositories and stacks, the HTTP server only its
// own options (server::ServerOptions, built in stackctld_main). The format, every default and an example are documented in
// docs/configuration.md; deploy/stackctld.yml is a complete example.
//
// ParseConfig is strict: unknown keys, wrong types, bad values and dangling
// references are errors whose message starts with the key path, e.g.
//   stacks[1].repository: unknown repository "foo"
//   repositories[0].poll_interval: invalid duration "5 minutes"
// Secrets are never in the file itself: it names files holding them (API
// token, webhook secrets, git credentials), read when needed with
// ReadSecretFile (common/secret_file.h) so rotated secrets are picked up. Relative file paths are
// resolved against the directory of the configuration file.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "gitsource/source.h"
#include "notary/image_verifier.h"
#include "notify/notifier.h"
#include "reconciler/pin.h"

namespace stackctl::config {

using Duration = std::chrono::milliseconds;

struct EngineConfig {
  std::string host = "unix:///var/run/docker.sock";  // unix:///path or tcp://host:port
  bool tls = false;         // true when any TLS file is set (tcp only)
  bool tls_verify = true;   // verify the engine's certificate against ca_file
  std::string ca_file, cert_file, key_file;

  bool operator==(const EngineConfig&) const = default;
};

struct RepositoryConfig {
  // remote.name, url, kind/ref (default branch "main") and auth files.
  gitsource::RemoteSpec remote;
  Duration poll_interval = std::chrono::minutes(1);  // 0: no polling (webhooks only)
  // Where commit statuses of this repository's stacks go (`commit_status`);
  // none = not sent.
  std::optional<notify::StatusHost> commit_status{};

  bool operator==(const RepositoryConfig&) const = default;
};

struct ImageTrustConfig {
  // Notary for the images no rule matches.
  notary::TrustPolicy policy = notary::TrustPolicy::kOff;
  std::string server;   // Notary server URL; required when a policy that is not off uses Notary
  std::string ca_file;  // CA bundle for the Notary server (else system CAs)
  // image_trust.rules: per image pattern, first match wins (cosign keys are
  // read and checked when the configuration is loaded).
  std::vector<notary::TrustRule> rules{};
  // image_trust.registries: how to reach each registry for cosign signatures.
  std::map<std::string, notary::RegistryAccess> registries{};

  // `rules`, then Notary under `policy` for every other image.
  notary::ImageTrustPolicy Policy() const;

  bool operator==(const ImageTrustConfig&) const = default;
};

struct RolloutConfig {
  int parallelism = 1;  // services updated at once within a wave; 0 = all
  Duration delay{0};    // pause between waves

  bool operator==(const RolloutConfig&) const = default;
};

struct StackOptions {
  bool auto_sync = true;   // deploy new commits without being asked
  bool prune = true;       // remove owned objects no longer in Git
  bool self_heal = false;  // re-apply when the live state drifts
  RolloutConfig rollout;
  Duration timeout = std::chrono::minutes(10);  // one reconcile, rollout included
  ImageTrustConfig image_trust;
  // How image tags are resolved to digests, like `docker stack deploy
  // --resolve-image`; `never` for locally built images no registry knows.
  reconciler::ResolveMode resolve_image = reconciler::ResolveMode::kChanged;

  bool operator==(const StackOptions&) const = default;
};

struct StackConfig {
  std::string name;
  std::string repository;  // a RepositoryConfig name
  std::string path = ".";  // directory in the repository, normalized ("" = root)
  // Relative to `path`. Exactly one of compose_files (default
  // ["docker-compose.yml"]) and bundle.
  std::vector<std::string> compose_files;
  std::string bundle;    // a .dab file
  std::string env_file;  // optional, relative to `path`
  StackOptions options;

  bool operator==(const StackConfig&) const = default;
};

struct WebhookConfig {
  // Files holding each provider's shared secret; empty = provider disabled.
  std::string github_secret_file;
  std::string gitlab_secret_file;   // the X-Gitlab-Token value
  std::string gitea_secret_file;    // also Forgejo
  std::string generic_secret_file;

  bool operator==(const WebhookConfig&) const = default;
};

// The dashboard served at `/` (server.h).
struct UiConfig {
  bool enabled = true;
  // The read-only views (and the read endpoints of the API) without a token.
  bool anonymous_read = false;

  bool operator==(const UiConfig&) const = default;
};

struct HttpConfig {
  std::string listen = "127.0.0.1:9090";  // host:port
  std::string api_token_file;             // empty = CI API disabled
  uint64_t max_body_bytes = 1 << 20;
  UiConfig ui{};

  bool operator==(const HttpConfig&) const = default;
};

struct LogConfig {
  std::string level = "info";  // trace|debug|info|warn|error|off
  std::string format = "text";  // text|json

  bool operator==(const LogConfig&) const = default;
};

// How the controller watches the stacks it manages, beyond events and polls.
struct ControllerConfig {
  // The periodic full check: every stack's live state read (one list call
  // per object kind for all stacks) and compared with its last render; the
  // backstop for drift the event stream missed. At least 10s.
  Duration full_check_interval = std::chrono::minutes(3);

  bool operator==(const ControllerConfig&) const = default;
};

struct Config {
  EngineConfig engine;
  ControllerConfig controller;
  std::vector<RepositoryConfig> repositories;
  std::vector<StackConfig> stacks;
  HttpConfig http;
  WebhookConfig webhooks;
  LogConfig log;
  notify::NotifyConfig notifications;
  std::string state_dir = "/var/lib/stackctld";
  std::string cache_dir;  // default <state_dir>/cache
  // age identity files for encrypted secrets/configs (with --age-identity
  // and $SOPS_AGE_KEY_FILE; all are loaded).
  std::vector<std::string> age_identity_files;

  const RepositoryConfig* FindRepository(const std::string& name) const;
  const StackConfig* FindStack(const std::string& name) const;
  bool operator==(const Config&) const = default;
};

// Parses and validates `text`. `base_dir` resolves relative file paths
// ("" leaves them as written). Errors are kInvalidArgument "<key path>: <what>".
Result<Config> ParseConfig(const std::string& text, const std::string& base_dir);

// Reads and parses a file; errors are prefixed with the file's path.
Result<Config> LoadConfigFile(const std::string& path);

// The `http` and `webhooks` sections as the HTTP server takes them: the
// listen address split (an empty host or "[::]"'s brackets resolved) and the
// API token and webhook secrets read from their files now (ReadSecretFile;
// its errors name the file).
struct HttpSettings {
  std::string host;  // "0.0.0.0" for ":9090"
  int port = 0;
  uint64_t max_body_bytes = 0;
  std::string api_token;                               // "" = CI API disabled
  std::map<std::string, std::string> webhook_secrets;  // provider -> secret, enabled ones only
  UiConfig ui;
};
Result<HttpSettings> ReadHttpSettings(const Config& config);

// Reads every file that commit statuses and notifications will read when
// they send (tokens, target URLs, HMAC secrets), so that `stackctld --check`
// and the start fail on a missing one: "repositories[0].commit_status.
// token_file: <path>: cannot read secret file",
// "notifications.targets[1].url_file: must hold an http:// or https:// URL".
// Never puts a file's content in an error.
Status CheckNotificationFiles(const Config& config);

}  // namespace stackctl::config
