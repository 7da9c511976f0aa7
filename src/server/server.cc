#include "server/server.h"

#include <httplib.h>

#include "common/crypto.h"
#include "common/duration.h"
#include "common/log.h"
#include "gitsource/url.h"
#include "server/webhook.h"

namespace stackctl::server {
namespace {

constexpr char kJson[] = "application/json";

void Reply(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(), kJson);
}

void ReplyError(httplib::Response& res, const Status& st) {
  Reply(res, HttpStatus(st.code()),
        Json{{"error", st.message()}, {"code", std::string(CodeName(st.code()))}});
}

bool CodeFromName(const std::string& name, Code* out) {
  for (int c = 0; c <= static_cast<int>(Code::kUnknown); ++c) {
    if (CodeName(static_cast<Code>(c)) == name) {
      *out = static_cast<Code>(c);
      return true;
    }
  }
  return false;
}

bool RefMatches(const WatchedRepository& r, const std::string& ref) {
  switch (r.kind) {
    case gitsource::RefKind::kBranch: return ref == "refs/heads/" + r.ref;
    case gitsource::RefKind::kTag: return ref == "refs/tags/" + r.ref;
    case gitsource::RefKind::kCommit: return false;
  }
  return false;
}

}  // namespace

int HttpStatus(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument: return 400;
    case Code::kNotFound: return 404;
    case Code::kAlreadyExists: return 409;
    case Code::kAborted: return 409;
    case Code::kUnavailable: return 503;
    case Code::kFailedPrecondition: return 422;
    case Code::kPermissionDenied: return 403;
    case Code::kUnauthenticated: return 401;
    case Code::kDeadlineExceeded: return 504;
    case Code::kInternal: return 500;
    case Code::kUnknown: return 500;
  }
  return 500;
}

Result<ServerOptions> OptionsFromConfig(const Config& config) {
  ServerOptions o;
  const std::string& listen = config.http.listen;
  size_t colon = listen.rfind(':');
  o.host = listen.substr(0, colon);
  if (o.host.size() >= 2 && o.host.front() == '[' && o.host.back() == ']') {
    o.host = o.host.substr(1, o.host.size() - 2);
  }
  if (o.host.empty()) o.host = "0.0.0.0";
  o.port = std::stoi(listen.substr(colon + 1));
  o.max_body_bytes = config.http.max_body_bytes;
  if (!config.http.api_token_file.empty()) {
    ASSIGN_OR_RETURN(o.api_token, ReadSecretFile(config.http.api_token_file));
  }
  std::pair<const char*, const std::string*> hooks[] = {
      {"github", &config.webhooks.github_secret_file},
      {"gitlab", &config.webhooks.gitlab_secret_file},
      {"gitea", &config.webhooks.gitea_secret_file},
      {"generic", &config.webhooks.generic_secret_file}};
  for (auto& [name, file] : hooks) {
    if (file->empty()) continue;
    ASSIGN_OR_RETURN(o.webhook_secrets[name], ReadSecretFile(*file));
  }
  for (const RepositoryConfig& r : config.repositories) {
    o.repositories.push_back({r.remote.name, r.remote.url, r.remote.kind, r.remote.ref});
  }
  return o;
}

Server::Server(ControllerApi& api, metrics::ControllerMetrics& metrics, ServerOptions options)
    : api_(api), metrics_(metrics), options_(std::move(options)),
      http_(std::make_unique<httplib::Server>()) {
  Routes();
}

Server::~Server() { Stop(); }

Status Server::Start() {
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  if (options_.port == 0) {
    port_ = http_->bind_to_any_port(options_.host);
    if (port_ < 0) return Unavailable("http server: cannot bind " + where);
  } else {
    if (!http_->bind_to_port(options_.host, options_.port)) {
      return Unavailable("http server: cannot bind " + where);
    }
    port_ = options_.port;
  }
  listen_done_ = false;
  thread_ = std::thread([this] {
    http_->listen_after_bind();
    listen_done_ = true;
  });
  // stop() is a no-op until the accept loop runs: wait for it so Stop() never hangs.
  while (!http_->is_running() && !listen_done_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  log::Get("server")->info("listening on {}:{}", options_.host, port_);
  return OkStatus();
}

void Server::Stop() {
  if (!thread_.joinable()) return;
  http_->stop();
  thread_.join();
}

void Server::Routes() {
  httplib::Server& s = *http_;
  s.set_payload_max_length(options_.max_body_bytes);
  // Waited syncs hold a worker each; keep enough for webhooks and probes.
  const size_t workers = options_.worker_threads;
  s.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };

  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 413 && req.path.rfind("/hooks/", 0) == 0) {
      Provider p;
      if (ParseProvider(req.path.substr(7), &p)) {
        metrics_.webhook_requests_total.With({ProviderName(p), "too_large"}).Inc();
      }
    }
    if (res.body.empty()) {
      res.set_content(Json{{"error", res.status == 413 ? "request body too large"
                                     : res.status == 404
                                         ? "not found"
                                         : "request failed with HTTP " + std::to_string(res.status)}}
                          .dump(),
                      kJson);
    }
  });

  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    bool ready = api_.Ready();
    std::string why = ready ? "" : api_.NotReadyReason();
    res.status = ready ? 200 : 503;
    res.set_content(ready ? "ready\n" : why.empty() ? "not ready\n" : "not ready: " + why + "\n", "text/plain");
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.registry.Render(), "text/plain; version=0.0.4; charset=utf-8");
  });

  s.Post(R"(/hooks/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    Provider p;
    if (!ParseProvider(req.matches[1], &p)) {
      return Reply(res, 404, Json{{"error", "unknown webhook provider"}});
    }
    const std::string provider = ProviderName(p);
    auto count = [&](const char* result) {
      metrics_.webhook_requests_total.With({provider, result}).Inc();
    };
    auto it = options_.webhook_secrets.find(provider);
    if (it == options_.webhook_secrets.end()) {
      count("disabled");
      return Reply(res, 404, Json{{"error", "webhook provider " + provider + " is not enabled"}});
    }
    HeaderFn header = [&req](const std::string& name) { return req.get_header_value(name); };
    if (!VerifyWebhook(p, it->second, header, req.body)) {
      count("unauthorized");
      return Reply(res, 401, Json{{"error", "invalid or missing webhook signature"}});
    }
    // GitHub and Gitea may send form-encoded deliveries ("payload=<json>"); the
    // signature covers the raw body, the JSON is the form field.
    const bool form = req.get_header_value("Content-Type").rfind(
                          "application/x-www-form-urlencoded", 0) == 0;
    const std::string payload = form ? req.get_param_value("payload") : req.body;
    Result<PushEvent> ev = ParseWebhook(p, header, payload);
    if (!ev.ok()) {
      count("bad_request");
      return Reply(res, 400, Json{{"error", ev.status().message()}});
    }
    if (ev->kind == EventKind::kPing) {
      count("ping");
      return Reply(res, 200, Json{{"status", "pong"}});
    }
    auto ignored = [&](const std::string& reason) {
      count("ignored");
      Reply(res, 202, Json{{"status", "ignored"}, {"reason", reason}});
    };
    if (ev->kind == EventKind::kOther) return ignored("event \"" + ev->event + "\" ignored");
    if (ev->deleted) return ignored("ref " + ev->ref + " deleted");
    std::vector<std::string> keys;
    for (const std::string& u : ev->repo_urls) keys.push_back(gitsource::RepoKey(u));
    Json matched = Json::array();
    for (const WatchedRepository& r : options_.repositories) {
      const std::string key = gitsource::RepoKey(r.url);
      if (std::find(keys.begin(), keys.end(), key) == keys.end() || !RefMatches(r, ev->ref)) {
        continue;
      }
      api_.OnPush(r.name, ev->commit);
      matched.push_back(r.name);
    }
    if (matched.empty()) return ignored("no configured repository watches " + ev->ref);
    count("accepted");
    log::Get("server")->info("{} push to {} at {}: {}", provider, ev->ref, ev->commit,
                             matched.dump());
    Reply(res, 202, Json{{"status", "accepted"}, {"repositories", matched}});
  });

  // CI API.
  auto authorized = [this](const httplib::Request& req, httplib::Response& res) {
    const std::string h = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    bool ok = !options_.api_token.empty() && h.size() > prefix.size() &&
              h.compare(0, prefix.size(), prefix) == 0 &&
              ConstantTimeEquals(Sha256Hex(h.substr(prefix.size())),
                                 Sha256Hex(options_.api_token));
    if (!ok) {
      res.set_header("WWW-Authenticate", "Bearer");
      ReplyError(res, Unauthenticated("missing or invalid bearer token"));
    }
    return ok;
  };
  auto reply_result = [](httplib::Response& res, const Result<Json>& r) {
    if (!r.ok()) return ReplyError(res, r.status());
    Reply(res, 200, *r);
  };

  s.Get("/api/v1/stacks", [=, this](const httplib::Request& req, httplib::Response& res) {
    if (authorized(req, res)) Reply(res, 200, api_.ListStacks());
  });
  s.Get(R"(/api/v1/stacks/([^/]+))", [=, this](const httplib::Request& req,
                                                 httplib::Response& res) {
    if (authorized(req, res)) reply_result(res, api_.GetStack(req.matches[1]));
  });
  s.Get(R"(/api/v1/stacks/([^/]+)/history)", [=, this](const httplib::Request& req,
                                                         httplib::Response& res) {
    if (authorized(req, res)) reply_result(res, api_.GetHistory(req.matches[1]));
  });
  s.Get(R"(/api/v1/operations/([^/]+))", [=, this](const httplib::Request& req,
                                                     httplib::Response& res) {
    if (authorized(req, res)) reply_result(res, api_.GetOperation(req.matches[1]));
  });
  s.Post(R"(/api/v1/stacks/([^/]+)/sync)", [=, this](const httplib::Request& req,
                                                       httplib::Response& res) {
    if (!authorized(req, res)) return;
    std::optional<std::string> revision;
    if (!req.body.empty()) {
      Result<Json> body = ParseJson(req.body, "request body");
      if (!body.ok()) return ReplyError(res, body.status());
      if (!body->is_object()) return ReplyError(res, InvalidArgument("request body: must be a JSON object"));
      for (auto& [k, v] : body->items()) {
        if (k != "revision") return ReplyError(res, InvalidArgument("request body: unknown field \"" + k + "\""));
        if (!v.is_string() || v.get<std::string>().empty()) {
          return ReplyError(res, InvalidArgument("request body: revision must be a non-empty string"));
        }
        revision = v.get<std::string>();
      }
    }
    std::chrono::milliseconds timeout = options_.default_wait;
    const bool wait = req.get_param_value("wait") == "true";
    if (req.has_param("timeout")) {
      Result<Duration> d = ParseDurationMs(req.get_param_value("timeout"));
      if (!d.ok()) return ReplyError(res, InvalidArgument("timeout: " + d.status().message()));
      timeout = std::min(*d, options_.max_wait);
    }
    Result<std::string> id = api_.Sync(req.matches[1], revision);
    if (!id.ok()) return ReplyError(res, id.status());
    if (!wait) return Reply(res, 202, Json{{"operation", *id}});
    Result<Json> op = api_.WaitOperation(*id, timeout);
    if (!op.ok()) return ReplyError(res, op.status());
    const std::string state =
        op->is_object() && (*op)["state"].is_string() ? (*op)["state"].get<std::string>() : "";
    if (state == "succeeded") return Reply(res, 200, *op);
    if (state == "failed") {
      Code code = Code::kUnknown;
      if (op->contains("error") && (*op)["error"].is_object()) {
        CodeFromName((*op)["error"].value("code", ""), &code);
      }
      return Reply(res, HttpStatus(code), *op);
    }
    Reply(res, 504, *op);
  });
}

}  // namespace stackctl::server
