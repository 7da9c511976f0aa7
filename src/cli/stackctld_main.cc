// stackctld: the long-running GitOps controller. main() builds the object
// graph (Envoy's source/exe style): config -> engine client -> git sources
// -> controller -> HTTP server, then waits for SIGTERM/SIGINT.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "common/clock.h"
#include "common/log.h"
#include "common/memory.h"
#include "common/metrics.h"
#include "controller/controller.h"
#include "engineapi/docker_engine.h"
#include "notify/dispatcher.h"
#include "notify/notifier.h"
#include "notify/sender.h"
#include "gitsource/git_source.h"
#include "config/config.h"
#include "secrets/keyring.h"
#include "server/server.h"

namespace {

using namespace stackctl;

int Die(const std::string& what, const Status& st) {
  std::cerr << "stackctld: " << what << ": " << st.message() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  stackctl::SkipGnutlsImplicitInit(argv);
  // One arena: a 1,000-service reconcile peaked at 48 MiB RSS with glibc's
  // default (8 per core) and 41 MiB with two, at the time. With today's
  // smaller reconciles, two arenas peaked at 25.1-27.5 MiB (the reconcile's
  // memory spread over both, depending on which threads contended) and one at
  // 25.3-25.5 MiB; webhook latency was the same. The threads mostly wait on
  // the engine, so the one lock costs nothing measurable.
  stackctl::LimitMallocArenas(1);
  CLI::App app{"stackctld: the stackctl GitOps controller for Docker Swarm"};
  std::string config_path, log_level, log_format;
  std::vector<std::string> age_identities;
  bool check_only = false;
  app.add_option("-c,--config", config_path, "Controller configuration file (YAML)")->required();
  app.add_option("--age-identity", age_identities,
                 "age identity file for encrypted secrets (repeatable; adds to the configuration's "
                 "age_identity_files and $SOPS_AGE_KEY_FILE)")
      ->allow_extra_args(false);
  app.add_option("--log-level", log_level, "Override log.level of the config");
  app.add_option("--log-format", log_format, "Override log.format of the config (text|json)");
  app.add_flag("--check", check_only, "Validate the configuration and exit");
  CLI11_PARSE(app, argc, argv);

  std::ifstream in(config_path);
  if (!in) return Die(config_path, NotFound("cannot read the configuration file"));
  std::stringstream text;
  text << in.rdbuf();
  std::string base = std::filesystem::absolute(config_path).parent_path().string();
  auto config = config::ParseConfig(text.str(), base);
  if (!config.ok()) return Die(config_path, config.status());
  if (!log_level.empty()) config->log.level = log_level;
  if (!log_format.empty()) config->log.format = log_format;
  log::Setup(config->log.level, config->log.format == "json" ? log::Format::kJson : log::Format::kText);

  auto kenv = secrets::KeyEnvironment::FromEnv(std::getenv);
  // The configuration's identity files, then the command line's.
  std::vector<std::string> identity_files = config->age_identity_files;
  identity_files.insert(identity_files.end(), age_identities.begin(), age_identities.end());
  auto keys = secrets::Keyring::Load(identity_files, kenv);
  if (!keys.ok()) return Die("age identities", keys.status());
  auto http_settings = config::ReadHttpSettings(*config);
  if (!http_settings.ok()) return Die(config_path, http_settings.status());
  server::ServerOptions server_options;
  server_options.host = http_settings->host;
  server_options.port = http_settings->port;
  server_options.max_body_bytes = http_settings->max_body_bytes;
  server_options.api_token = http_settings->api_token;
  server_options.webhook_secrets = http_settings->webhook_secrets;
  if (Status st = config::CheckNotificationFiles(*config); !st.ok()) return Die(config_path, st);
  server_options.ui_enabled = http_settings->ui.enabled;
  server_options.anonymous_read = http_settings->ui.anonymous_read;
  if (check_only) {
    std::cout << "configuration OK: " << config->repositories.size() << " repositories, "
              << config->stacks.size() << " stacks\n";
    return 0;
  }

  engine::ClientConfig ec;
  ec.host = config->engine.host;
  ec.tls = config->engine.tls;
  ec.ca_file = config->engine.ca_file;
  ec.cert_file = config->engine.cert_file;
  ec.key_file = config->engine.key_file;
  auto engine = engine::DockerEngine::Create(ec);
  if (!engine.ok()) return Die("engine " + ec.host, engine.status());

  metrics::Registry registry;
  metrics::ControllerMetrics metrics(registry);
  std::string cache_dir = config->cache_dir.empty() ? config->state_dir + "/cache" : config->cache_dir;
  std::filesystem::create_directories(cache_dir);
  auto sources = [&](const config::RepositoryConfig& r) -> Result<std::unique_ptr<gitsource::Source>> {
    auto observer = [&metrics](const std::string& repo, const std::string& result) {
      metrics.git_fetch_total.With({repo, result}).Inc();
    };
    auto rebuilt = [&metrics](const std::string& repo, const std::string& /*reason: logged*/) {
      metrics.git_cache_rebuilds_total.With({repo}).Inc();
    };
    metrics.git_cache_rebuilds_total.With({r.remote.name});  // exported from 0
    ASSIGN_OR_RETURN(auto s, gitsource::GitSource::Create(r.remote, cache_dir, observer, rebuilt));
    return std::unique_ptr<gitsource::Source>(std::move(s));
  };

  // Signals are taken synchronously by this thread only.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  SystemClock clock;
  // Commit statuses and notifications, sent in the background.
  notify::CurlSender sender;
  notify::Dispatcher dispatcher(sender, clock, metrics);
  notify::Notifier notifier(config->notifications, dispatcher, clock);
  controller::ControllerOptions controller_options;
  controller_options.notifier = &notifier;
  controller_options.drift_check_interval = config->controller.full_check_interval;
  dispatcher.Start();
  controller::Controller ctl(*config, **engine, clock, sources, std::move(*keys), metrics, controller_options);
  Status st = ctl.Start();
  if (!st.ok()) return Die("controller", st);
  server::Server http(ctl, metrics, server_options);
  st = http.Start();
  if (!st.ok()) {
    ctl.Stop();
    return Die("http " + config->http.listen, st);
  }
  log::Get("controller")->info("stackctld {} serving on {}:{}, {} stacks", STACKCTL_VERSION,
                               server_options.host, http.port(), config->stacks.size());
  int sig = 0;
  sigwait(&set, &sig);
  log::Get("controller")->info("signal {}: shutting down", sig);
  http.Stop();
  ctl.Stop();
  return 0;
}
