#include "config/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "notary/cosign_test_signer.h"

namespace stackctl::config {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

// The full example shipped in deploy/ parses to exactly these values.
TEST(ConfigTest, FullExample) {
  auto c = LoadConfigFile(STACKCTL_SOURCE_DIR "/deploy/stackctld.yml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->engine, (EngineConfig{"tcp://manager1.example.com:2376", true, true,
                                     "/etc/stackctld/engine/ca.pem",
                                     "/etc/stackctld/engine/cert.pem",
                                     "/etc/stackctld/engine/key.pem"}));
  EXPECT_EQ(c->state_dir, "/var/lib/stackctld");
  EXPECT_EQ(c->cache_dir, "/var/cache/stackctld");
  EXPECT_EQ(c->age_identity_files, std::vector<std::string>{"/run/secrets/stackctld_age_identity"});
  EXPECT_EQ(c->log, (LogConfig{"info", "json"}));
  EXPECT_EQ(c->controller.full_check_interval, minutes(5));
  EXPECT_EQ(c->http, (HttpConfig{"0.0.0.0:9090", "/run/secrets/stackctl_api_token", 1048576}));
  EXPECT_EQ(c->webhooks, (WebhookConfig{"/run/secrets/github_webhook_secret",
                                        "/run/secrets/gitlab_webhook_token",
                                        "/run/secrets/gitea_webhook_secret",
                                        "/run/secrets/generic_webhook_secret"}));
  ASSERT_EQ(c->repositories.size(), 3u);
  gitsource::Auth token_auth;
  token_auth.token_file = "/run/secrets/github_token";
  EXPECT_EQ(c->repositories[0],
            (RepositoryConfig{{"infra", "https://github.com/acme/infra.git",
                               gitsource::RefKind::kBranch, "main", token_auth},
                              minutes(1)}));
  gitsource::Auth ssh_auth;
  ssh_auth.username = "git";
  ssh_auth.ssh_private_key_file = "/run/secrets/deploy_key";
  ssh_auth.ssh_passphrase_file = "/run/secrets/deploy_key_passphrase";
  ssh_auth.known_hosts_file = "/etc/stackctld/known_hosts";
  EXPECT_EQ(c->repositories[1],
            (RepositoryConfig{{"platform", "ssh://git@gitlab.example.com/acme/platform.git",
                               gitsource::RefKind::kTag, "v1.4.2", ssh_auth},
                              minutes(5)}));
  gitsource::Auth basic;
  basic.username = "deploy";
  basic.password_file = "/run/secrets/legacy_password";
  EXPECT_EQ(c->repositories[2],
            (RepositoryConfig{{"legacy", "https://git.example.com/ops/legacy.git",
                               gitsource::RefKind::kCommit,
                               "0123456789abcdef0123456789abcdef01234567", basic},
                              Duration(0)}));

  StackOptions defaults;
  defaults.rollout = {1, seconds(5)};
  defaults.image_trust = {notary::TrustPolicy::kWarn, "https://notary.example.com:4443",
                          "/etc/stackctld/notary-ca.pem"};
  ASSERT_EQ(c->stacks.size(), 3u);
  StackConfig web;
  web.name = "web";
  web.repository = "infra";
  web.path = "stacks/web";
  web.compose_files = {"docker-compose.yml", "docker-compose.prod.yml"};
  web.env_file = "prod.env";
  web.options = defaults;
  web.options.self_heal = true;
  web.options.rollout = {2, seconds(10)};
  web.options.image_trust.policy = notary::TrustPolicy::kRequire;
  EXPECT_EQ(c->stacks[0], web);
  StackConfig mon;
  mon.name = "monitoring";
  mon.repository = "platform";
  mon.path = "monitoring";
  mon.bundle = "monitoring.dab";
  mon.options = defaults;
  mon.options.prune = false;
  mon.options.timeout = minutes(20);
  EXPECT_EQ(c->stacks[1], mon);
  StackConfig legacy;
  legacy.name = "legacy";
  legacy.repository = "legacy";
  legacy.path = "";
  legacy.compose_files = {"docker-compose.yml"};
  legacy.options = defaults;
  legacy.options.auto_sync = false;
  legacy.options.image_trust.policy = notary::TrustPolicy::kOff;
  EXPECT_EQ(c->stacks[2], legacy);
  EXPECT_EQ(c->FindStack("monitoring"), &c->stacks[1]);
  EXPECT_EQ(c->FindStack("nope"), nullptr);
}

TEST(ConfigTest, MinimalUsesDefaultsAndResolvesRelativePaths) {
  auto c = ParseConfig(R"(
repositories:
  - {name: infra, url: "https://h/r.git", auth: {token_file: secrets/token}}
stacks:
  - {name: web, repository: infra}
http: {api_token_file: api-token}
age_identity_files: [keys/age.txt, /run/secrets/age]
)",
                       "/etc/stackctld");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->engine, EngineConfig{});
  EXPECT_EQ(c->state_dir, "/var/lib/stackctld");
  EXPECT_EQ(c->cache_dir, "/var/lib/stackctld/cache");
  EXPECT_EQ(c->log, LogConfig{});
  EXPECT_EQ(c->controller.full_check_interval, minutes(3));
  EXPECT_EQ(c->http.listen, "127.0.0.1:9090");
  EXPECT_EQ(c->http.api_token_file, "/etc/stackctld/api-token");
  EXPECT_EQ(c->age_identity_files,
            (std::vector<std::string>{"/etc/stackctld/keys/age.txt", "/run/secrets/age"}));
  EXPECT_EQ(c->http.max_body_bytes, 1u << 20);
  EXPECT_TRUE(c->http.ui.enabled);
  EXPECT_FALSE(c->http.ui.anonymous_read);
  EXPECT_EQ(c->repositories[0].remote.kind, gitsource::RefKind::kBranch);
  EXPECT_EQ(c->repositories[0].remote.ref, "main");
  EXPECT_EQ(c->repositories[0].remote.auth.token_file, "/etc/stackctld/secrets/token");
  EXPECT_EQ(c->repositories[0].poll_interval, minutes(1));
  EXPECT_EQ(c->stacks[0].path, "");
  EXPECT_EQ(c->stacks[0].compose_files, std::vector<std::string>{"docker-compose.yml"});
  EXPECT_EQ(c->stacks[0].options, StackOptions{});
  EXPECT_TRUE(c->stacks[0].options.auto_sync);
  EXPECT_TRUE(c->stacks[0].options.prune);
  EXPECT_FALSE(c->stacks[0].options.self_heal);
  EXPECT_EQ(c->stacks[0].options.timeout, minutes(10));
  EXPECT_EQ(c->stacks[0].options.image_trust.policy, notary::TrustPolicy::kOff);
  EXPECT_EQ(c->stacks[0].options.resolve_image, reconciler::ResolveMode::kChanged);
}

TEST(ConfigTest, ResolveImageInDefaultsAndPerStack) {
  auto c = ParseConfig(R"(
repositories: [{name: infra, url: 'https://h/r.git'}]
defaults: {resolve_image: never}
stacks:
  - {name: local, repository: infra}
  - {name: hub, repository: infra, resolve_image: always}
)",
                       "/etc/stackctld");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->stacks[0].options.resolve_image, reconciler::ResolveMode::kNever);
  EXPECT_EQ(c->stacks[1].options.resolve_image, reconciler::ResolveMode::kAlways);
}

TEST(ConfigTest, ErrorsNameTheKeyPath) {
  const std::string repo = "repositories: [{name: infra, url: 'https://h/r.git'}]\n";
  struct Case {
    std::string yaml;
    std::string error;
  };
  const Case cases[] = {
      {"", "(root): the configuration is empty"},
      {"[1]", "(root): must be a mapping"},
      {"stackz: []", "stackz: unknown key"},
      {repo + "stacks: [{name: a, repository: infra}, {name: b, repository: foo}]",
       "stacks[1].repository: unknown repository \"foo\""},
      {repo + "stacks: [{name: a, repository: infra, optons: {}}]", "stacks[0].optons: unknown key"},
      {repo + "stacks: [{name: a, repository: infra}, {name: a, repository: infra}]",
       "stacks[1].name: duplicate stack \"a\""},
      {repo + "stacks: [{repository: infra}]", "stacks[0].name: required"},
      {repo + "stacks: [{name: 'a b', repository: infra}]",
       "stacks[0].name: must start with a letter or digit and contain only letters, digits, "
       "'_', '-' or '.' (at most 63)"},
      {repo + "stacks: [{name: a, repository: infra, path: ../x}]",
       "stacks[0].path: ../x: path leaves the repository"},
      {repo + "stacks: [{name: a, repository: infra, compose_files: [a.yml], bundle: b.dab}]",
       "stacks[0]: set only one of compose_files and bundle"},
      {repo + "stacks: [{name: a, repository: infra, compose_files: []}]",
       "stacks[0].compose_files: must not be empty"},
      {repo + "stacks: [{name: a, repository: infra, compose_files: [a.yml, {}]}]",
       "stacks[0].compose_files[1]: must be a non-empty string"},
      {repo + "stacks: [{name: a, repository: infra, auto_sync: yes}]",
       "stacks[0].auto_sync: must be true or false"},
      {repo + "stacks: [{name: a, repository: infra, timeout: 10}]",
       "stacks[0].timeout: invalid duration \"10\""},
      {repo + "stacks: [{name: a, repository: infra, rollout: {parallelism: -1}}]",
       "stacks[0].rollout.parallelism: must be between 0 and 1000"},
      {repo + "stacks: [{name: a, repository: infra, rollout: {parallelism: two}}]",
       "stacks[0].rollout.parallelism: must be an integer"},
      {repo + "stacks: [{name: a, repository: infra, rollout: {wave: 1}}]",
       "stacks[0].rollout.wave: unknown key"},
      {repo + "stacks: [{name: a, repository: infra, image_trust: {policy: strict}}]",
       "stacks[0].image_trust.policy: must be require, warn or off, got \"strict\""},
      {repo + "stacks: [{name: a, repository: infra, image_trust: {policy: require}}]",
       "stacks[0].image_trust.server: required when policy is require"},
      {repo + "stacks: [{name: a, repository: infra, image_trust: {policy: warn, server: "
              "'http://n'}}]",
       "stacks[0].image_trust.server: must be an https:// URL"},
      {repo + "defaults: {image_trust: {rules: [{policy: require, signatures: [cosign]}]}}",
       "defaults.image_trust.rules[0].images: required (a glob such as registry.example.com/team/*)"},
      {repo + "defaults: {image_trust: {rules: [{images: '*', signatures: [cosign]}]}}",
       "defaults.image_trust.rules[0].policy: required (require, warn or off)"},
      {repo + "defaults: {image_trust: {rules: [{images: '*', policy: require}]}}",
       "defaults.image_trust.rules[0].signatures: required unless policy is off (notary, cosign or both)"},
      {repo + "defaults: {image_trust: {rules: [{images: '*', policy: require, signatures: [gpg]}]}}",
       "defaults.image_trust.rules[0].signatures[0]: must be notary or cosign, got \"gpg\""},
      {repo + "defaults: {image_trust: {rules: [{images: '*', policy: require, signatures: [cosign, cosign]}]}}",
       "defaults.image_trust.rules[0].signatures[1]: duplicate cosign"},
      {repo + "defaults: {image_trust: {rules: [{images: '*', policy: require, signatures: [cosign]}]}}",
       "defaults.image_trust.rules[0].cosign_keys: required with cosign signatures"},
      {repo + "defaults: {image_trust: {rules: [{images: '*', policy: require, signatures: [cosign], "
              "cosign_keys: [/nonexistent/k.pub]}]}}",
       "defaults.image_trust.rules[0].cosign_keys[0]: /nonexistent/k.pub: cannot read file"},
      {repo + "defaults: {image_trust: {rules: [{images: '*', policy: require, signatures: [cosign], "
              "accept: any, cosign_keys: [k.pub]}]}}",
       "defaults.image_trust.rules[0].accept: any needs both notary and cosign in signatures"},
      {repo + "defaults: {image_trust: {server: 'https://n', rules: [{images: '*', policy: warn, "
              "signatures: [notary], cosign_keys: [k.pub]}]}}",
       "defaults.image_trust.rules[0].cosign_keys: only with cosign in signatures"},
      {repo + "defaults: {image_trust: {rules: [{images: '*', policy: warn, signatures: [notary]}]}}",
       "defaults.image_trust.server: required when a rule uses notary"},
      {repo + "defaults: {image_trust: {rules: [{images: '*', policy: warn, signatures: [notary], key: 1}]}}",
       "defaults.image_trust.rules[0].key: unknown key"},
      {repo + "defaults: {image_trust: {registries: {'r.example.com': {username: u}}}}",
       "defaults.image_trust.registries.r.example.com: username and password_file must be set together"},
      {repo + "defaults: {image_trust: {registries: {'r.example.com/x': {insecure: true}}}}",
       "defaults.image_trust.registries: keys must be registry names (host[:port]), got \"r.example.com/x\""},
      {repo + "defaults: {image_trust: {registries: {'r.example.com': {insecure: yes}}}}",
       "defaults.image_trust.registries.r.example.com.insecure: must be true or false"},
      {repo + "stacks: [{name: a, repository: infra, resolve_image: sometimes}]",
       "stacks[0].resolve_image: must be always, changed or never, got \"sometimes\""},
      {repo + "defaults: {prune: maybe}", "defaults.prune: must be true or false"},
      {repo + "defaults: {compose_files: []}", "defaults.compose_files: unknown key"},
      {"repositories: [{name: infra}]", "repositories[0].url: required"},
      {"repositories: [{url: 'https://h/r'}]", "repositories[0].name: required"},
      {"repositories: [{name: a, url: 'ftp://h/r'}]",
       "repositories[0].url: unsupported scheme \"ftp\" (use https, http, ssh, git or file)"},
      {"repositories: [{name: a, url: 'https://h/r', branch: main, tag: v1}]",
       "repositories[0]: set only one of branch, tag and commit"},
      {"repositories: [{name: a, url: 'https://h/r', commit: abc}]",
       "repositories[0].commit: must be a full 40-character hex commit id"},
      {"repositories: [{name: a, url: 'https://h/r', poll_interval: 5 minutes}]",
       "repositories[0].poll_interval: invalid duration \"5 minutes\""},
      {"repositories: [{name: a, url: 'https://h/r', poll_interval: 1s}]",
       "repositories[0].poll_interval: must be 0 (off) or at least 5s"},
      {repo + "repositories: []", "repositories: duplicate key"},
      {"repositories: {a: 1}", "repositories: must be a list"},
      {"repositories: [{name: a, url: 'https://h/r'}, {name: a, url: 'https://h/s'}]",
       "repositories[1].name: duplicate repository \"a\""},
      {"repositories: [{name: a, url: 'https://h/r', auth: {token_file: t, password_file: p}}]",
       "repositories[0].auth: set only one of password_file and token_file"},
      {"repositories: [{name: a, url: 'https://h/r', auth: {password_file: p}}]",
       "repositories[0].auth.username: required with password_file"},
      {"repositories: [{name: a, url: 'https://h/r', auth: {token: abc}}]",
       "repositories[0].auth.token: unknown key"},
      {"repositories: [{name: a, url: 'git@h:r.git', auth: {ssh_private_key_file: k}}]",
       "repositories[0].auth.known_hosts_file: required for ssh URLs"},
      {"repositories: [{name: a, url: 'ssh://git@h/r.git'}]",
       "repositories[0].auth.ssh_private_key_file: required for ssh URLs"},
      {"repositories: [{name: a, url: 'https://h/r', auth: {ssh_private_key_file: k}}]",
       "repositories[0].auth: ssh_private_key_file, ssh_passphrase_file and known_hosts_file are "
       "only for ssh URLs"},
      {"repositories: [{name: a, url: 'ssh://git@h/r', auth: {token_file: t, "
       "ssh_private_key_file: k, known_hosts_file: kh}}]",
       "repositories[0].auth: password_file and token_file are only for http(s) URLs"},
      {"repositories: [{name: a, url: 'http://h/r.git', ca_file: ca.pem}]",
       "repositories[0].ca_file: only for https URLs"},
      {"engine: {host: 'http://x'}", "engine.host: must start with unix:// or tcp://, got \"http://x\""},
      {"engine: {tls: {ca_file: ca.pem}}", "engine.tls: TLS needs a tcp:// engine.host"},
      {"engine: {host: 'tcp://h:2376', tls: {cert_file: c.pem}}",
       "engine.tls: cert_file and key_file must be set together"},
      {"engine: {host: 'tcp://h:2376', tls: {cert_file: c.pem, key_file: k.pem}}",
       "engine.tls.ca_file: required when verify is true"},
      {"http: {listen: 9090}", "http.listen: must be host:port, got \"9090\""},
      {"http: {listen: ':99999'}", "http.listen: port must be between 0 and 65535"},
      {"http: {max_body_bytes: 10}", "http.max_body_bytes: must be between 1024 and 67108864"},
      {"http: {ui: {enabled: yes}}", "http.ui.enabled: must be true or false"},
      {"http: {ui: {anonymous_read: 1}}", "http.ui.anonymous_read: must be true or false"},
      {"http: {ui: {theme: dark}}", "http.ui.theme: unknown key"},
      {"http: {ui: true}", "http.ui: must be a mapping"},
      {"webhooks: {bitbucket: {secret_file: s}}", "webhooks.bitbucket: unknown key"},
      {"webhooks: {github: {}}", "webhooks.github.secret_file: required"},
      {"webhooks: {github: {secret: abc}}", "webhooks.github.secret: unknown key"},
      {"log: {level: verbose}",
       "log.level: must be trace, debug, info, warn, error or off, got \"verbose\""},
      {"log: {format: xml}", "log.format: must be text or json, got \"xml\""},
      {"controller: {full_check_interval: 3 minutes}",
       "controller.full_check_interval: invalid duration \"3 minutes\""},
      {"controller: {full_check_interval: 5s}", "controller.full_check_interval: must be at least 10s"},
      {"controller: {full_check_interval: 0}", "controller.full_check_interval: must be at least 10s"},
      {"controller: {full_check_interval: -1m}", "controller.full_check_interval: invalid duration \"-1m\""},
      {"controller: {full_check: 1m}", "controller.full_check: unknown key"},
      {"controller: 1m", "controller: must be a mapping"},
      {"stacks: {a: 1}", "stacks: must be a list"},
      {"engine: {host: [a]}", "engine.host: must be a string"},
      {"a: [", "line 1, column 1: end of sequence flow not found"},
      {"repositories: [{name: r, url: 'https://git.example.com/a/b.git', commit_status: {token_file: t}}]",
       "repositories[0].commit_status.provider: cannot tell the Git host of \"https://git.example.com/a/b.git\"; "
       "set provider (github, gitlab or gitea)"},
      {"repositories: [{name: r, url: 'https://github.com/a/b.git', commit_status: {}}]",
       "repositories[0].commit_status.token_file: required"},
      {"repositories: [{name: r, url: 'https://github.com/a/b.git', commit_status: {token_file: t, state: x}}]",
       "repositories[0].commit_status.state: unknown key"},
      {"notifications: {targets: [{name: ops, type: teams, url: 'https://x'}]}",
       "notifications.targets[0].type: must be webhook or slack (got \"teams\")"},
      {"notifications: {targets: [{name: ops, type: slack}]}",
       "notifications.targets[0]: set exactly one of url and url_file"},
      {"notifications: {targets: [{name: ops, type: slack, url_file: u, secret_file: s}]}",
       "notifications.targets[0].secret_file: only for webhook targets (Slack-style URLs carry their own secret)"},
      {"notifications: {targets: [{name: ops, type: webhook, url: 'ftp://x'}]}",
       "notifications.targets[0].url: must be an http:// or https:// URL"},
      {"notifications: {targets: [{name: ops, type: webhook, url: 'https://x', events: [deployed]}]}",
       "notifications.targets[0].events[0]: unknown event \"deployed\" (rollout_failed, rolled_back, recovered, "
       "drift_detected, drift_reverted, image_refused, render_failed)"},
      {"notifications: {targets: [{name: a, type: slack, url: 'https://x'}, {name: a, type: slack, url: 'https://y'}]}",
       "notifications.targets[1].name: duplicate target \"a\""},
      {"notifications: {timeout: 100ms}", "notifications.timeout: must be between 1s and 5m"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ParseConfig(c.yaml, "").status(), InvalidArgument(c.error))
        << c.yaml << "\n got: " << ParseConfig(c.yaml, "").status().ToString();
  }
}

TEST(ConfigTest, ImageTrustRulesAndRegistries) {
  std::string dir = ::testing::TempDir();
  while (!dir.empty() && dir.back() == '/') dir.pop_back();  // paths come back normalized
  dir += "/stackctld_image_trust";
  std::filesystem::create_directories(dir + "/keys");
  notary::testing::CosignTestKey key;
  std::ofstream(dir + "/keys/release.pub") << key.PublicPem();
  std::ofstream(dir + "/keys/not-a-key.pub") << "hello\n";
  const std::string yaml = R"(
repositories: [{name: infra, url: 'https://h/r'}]
defaults:
  image_trust:
    policy: warn
    server: https://notary.example.com:4443
    registries:
      registry.example.com: {ca_file: registry-ca.pem, username: deploy, password_file: pw}
      10.0.0.5:5000: {insecure: true}
    rules:
      - images: registry.example.com/apps/*
        policy: require
        signatures: [cosign]
        cosign_keys: [keys/release.pub]
        annotations: {env: prod}
      - images: registry.example.com/legacy/*
        policy: require
        signatures: [notary, cosign]
        accept: any
        cosign_keys: [keys/release.pub]
      - images: docker.io/*
        policy: off
stacks:
  - {name: a, repository: infra}
  - {name: b, repository: infra, image_trust: {policy: off, rules: []}}
)";
  auto c = ParseConfig(yaml, dir);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const ImageTrustConfig& it = c->stacks[0].options.image_trust;
  ASSERT_EQ(it.rules.size(), 3u);
  EXPECT_EQ(it.rules[0].images, "registry.example.com/apps/*");
  EXPECT_EQ(it.rules[0].policy, notary::TrustPolicy::kRequire);
  EXPECT_TRUE(it.rules[0].cosign);
  EXPECT_FALSE(it.rules[0].notary);
  EXPECT_EQ(it.rules[0].cosign_options.keys,
            (std::vector<notary::CosignKey>{{dir + "/keys/release.pub", key.PublicPem()}}));
  EXPECT_EQ(it.rules[0].cosign_options.annotations, (std::map<std::string, std::string>{{"env", "prod"}}));
  EXPECT_TRUE(it.rules[1].notary && it.rules[1].cosign && it.rules[1].any);
  EXPECT_EQ(it.rules[2].policy, notary::TrustPolicy::kOff);
  EXPECT_EQ(it.registries.at("registry.example.com"),
            (notary::RegistryAccess{dir + "/registry-ca.pem", false, "deploy", dir + "/pw"}));
  EXPECT_TRUE(it.registries.at("10.0.0.5:5000").insecure);
  // The policy: the rules in order, then Notary under `policy` for the rest.
  notary::ImageTrustPolicy p = it.Policy();
  ASSERT_EQ(p.rules.size(), 4u);
  EXPECT_EQ(&p.For("registry.example.com/apps/web"), &p.rules[0]);
  EXPECT_EQ(&p.For("docker.io/library/busybox"), &p.rules[2]);
  EXPECT_EQ(p.For("quay.io/x/y").policy, notary::TrustPolicy::kWarn);
  EXPECT_TRUE(p.For("quay.io/x/y").notary);
  EXPECT_TRUE(p.AnyRequired());
  // A stack replaces the rules of the defaults.
  EXPECT_TRUE(c->stacks[1].options.image_trust.rules.empty());
  EXPECT_FALSE(c->stacks[1].options.image_trust.Policy().AnyRequired());

  auto bad = ParseConfig(R"(
repositories: [{name: infra, url: 'https://h/r'}]
stacks:
  - name: a
    repository: infra
    image_trust:
      rules: [{images: '*', policy: require, signatures: [cosign], cosign_keys: [keys/release.pub, keys/not-a-key.pub]}]
)", dir);
  EXPECT_EQ(bad.status(), InvalidArgument("stacks[0].image_trust.rules[0].cosign_keys[1]: " + dir +
                                          "/keys/not-a-key.pub: not a PEM public key (-----BEGIN PUBLIC KEY-----)"));
  std::filesystem::remove_all(dir);
}

TEST(ConfigTest, CommitStatusAndNotifications) {
  auto c = ParseConfig(R"(
repositories:
  - name: app
    url: https://gitlab.com/group/app.git
    commit_status: {token_file: gl-token}
  - name: self
    url: git@git.example.com:ops/infra.git
    auth: {ssh_private_key_file: k, known_hosts_file: kh}
    commit_status: {provider: gitea, api_url: 'https://git.example.com:3000/api/v1/', token_file: /t, ca_file: ca.pem}
notifications:
  dashboard_url: https://stackctl.example.com/stacks/{stack}
  timeout: 3s
  targets:
    - {name: chat, type: slack, url_file: slack-url, events: [rolled_back, recovered], stacks: ['web*']}
    - {name: ci, type: webhook, url: 'https://ci.example.com/hook', secret_file: hmac}
)", "/etc/stackctld");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(c->repositories[0].commit_status.has_value());
  EXPECT_EQ(*c->repositories[0].commit_status,
            (notify::StatusHost{notify::GitHost::kGitLab, "https://gitlab.com/api/v4", "group/app",
                                "/etc/stackctld/gl-token", ""}));
  EXPECT_EQ(*c->repositories[1].commit_status,
            (notify::StatusHost{notify::GitHost::kGitea, "https://git.example.com:3000/api/v1", "ops/infra", "/t",
                                "/etc/stackctld/ca.pem"}));
  EXPECT_EQ(c->notifications.dashboard_url, "https://stackctl.example.com/stacks/{stack}");
  EXPECT_EQ(c->notifications.timeout, std::chrono::seconds(3));
  ASSERT_EQ(c->notifications.targets.size(), 2u);
  const notify::Target& chat = c->notifications.targets[0];
  EXPECT_EQ(chat.type, notify::TargetType::kSlack);
  EXPECT_EQ(chat.url_file, "/etc/stackctld/slack-url");
  EXPECT_EQ(chat.events, (std::set<notify::EventKind>{notify::EventKind::kRolledBack, notify::EventKind::kRecovered}));
  EXPECT_EQ(chat.stacks, (std::vector<std::string>{"web*"}));
  EXPECT_EQ(c->notifications.targets[1].secret_file, "/etc/stackctld/hmac");
  EXPECT_TRUE(c->notifications.targets[1].events.empty());
}

TEST(ConfigTest, LoadFilePrefixesPath) {
  EXPECT_EQ(LoadConfigFile("/nonexistent/stackctld.yml").status(),
            NotFound("/nonexistent/stackctld.yml: cannot read configuration file"));
  std::string path = ::testing::TempDir() + "/stackctld_bad.yml";
  std::ofstream(path) << "log: {level: loud}\n";
  EXPECT_EQ(LoadConfigFile(path).status(),
            InvalidArgument(path +
                            ": log.level: must be trace, debug, info, warn, error or off, got "
                            "\"loud\""));
  std::filesystem::remove(path);
}

TEST(ConfigTest, HttpSettingsReadTheSecretFiles) {
  const std::string dir = ::testing::TempDir() + "/stackctld_http_settings";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/token") << "tok\n";
  std::ofstream(dir + "/gh") << "ghs";
  Config c;
  c.http.listen = "[::1]:8080";
  c.http.api_token_file = dir + "/token";
  c.webhooks.github_secret_file = dir + "/gh";
  c.http.ui.anonymous_read = true;
  auto o = ReadHttpSettings(c);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->host, "::1");
  EXPECT_EQ(o->port, 8080);
  EXPECT_EQ(o->max_body_bytes, 1u << 20);
  EXPECT_EQ(o->api_token, "tok");
  EXPECT_EQ(o->webhook_secrets, (std::map<std::string, std::string>{{"github", "ghs"}}));
  EXPECT_EQ(o->ui, (UiConfig{true, true}));
  c.http.listen = ":9090";
  EXPECT_EQ(ReadHttpSettings(c)->host, "0.0.0.0");
  c.webhooks.gitlab_secret_file = dir + "/missing";
  EXPECT_EQ(ReadHttpSettings(c).status(), FailedPrecondition(dir + "/missing: cannot read secret file"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace stackctl::config
