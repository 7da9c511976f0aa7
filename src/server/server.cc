#include "server/server.h"

#include <httplib.h>

#include "common/crypto.h"
#include "common/duration.h"
#include "common/log.h"
#include "server/ui_assets.h"
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

Json SignatureJson(const std::optional<reconciler::ImageVerdict>& verdict, const std::string& running_image) {
  if (!verdict) {
    return Json{{"verdict", "unknown"}, {"detail", "not deployed by this controller since it started"}};
  }
  const std::string& digest = verdict->digest;
  const bool runs_it = digest.empty() || (running_image.size() > digest.size() &&
                                          running_image.compare(running_image.size() - digest.size() - 1,
                                                                std::string::npos, "@" + digest) == 0);
  if (!runs_it) {
    return Json{{"verdict", "unknown"},
                {"detail", "the service no longer runs the digest this controller deployed (" + digest + ")"}};
  }
  return Json{{"verdict", std::string(reconciler::VerdictKindName(verdict->kind))},
              {"detail", verdict->detail},
              {"image", verdict->image},
              {"digest", digest}};
}

Json ProgressJson(const reconciler::WaveProgress& p) {
  return Json{{"wave", p.wave},
              {"waves", p.waves},
              {"services", p.services},
              {"converged", p.converged},
              {"total", p.services.size()}};
}

Json StackJson(const StackView& s) {
  Json j = {{"name", s.name},
            {"repository", s.repository},
            {"repository_url", s.repository_url},
            {"path", s.path},
            {"revision", s.revision},
            {"revision_summary", s.revision_summary},
            {"revision_author", s.revision_author},
            {"revision_time", s.revision_time},
            {"target_revision", s.target_revision},
            {"failed_revision", s.failed_revision},
            {"repository_error", s.repository_error},
            {"repository_failing_since", s.repository_failing_since},
            {"repository_stale", s.repository_stale},
            {"sync", std::string(reconciler::SyncStateName(s.sync))},
            {"health", std::string(reconciler::StackHealthName(s.health))},
            {"last_result", std::string(reconciler::ReconcileResultName(s.last_result))},
            {"last_error", s.last_error},
            {"last_failed_service", s.last_failed_service},
            {"last_sync_time", s.last_sync_time},
            {"out_of_sync", s.out_of_sync},
            {"auto_sync", s.auto_sync},
            {"self_heal", s.self_heal},
            {"prune", s.prune},
            {"pinned", s.pinned}};
  if (s.live) {
    j["pinned_by"] = s.live->control.pinned_by;
    j["pinned_revision"] = s.live->control.pinned_revision;
    j["services"] = Json::array();
    for (const auto& svc : s.live->services) {
      Json line = reconciler::ServiceStatusJson(svc);
      auto verdict = s.image_verdicts.find(svc.name);
      line["signature"] = SignatureJson(
          verdict == s.image_verdicts.end() ? std::nullopt : std::optional(verdict->second), svc.image);
      j["services"].push_back(std::move(line));
    }
  }
  if (!s.live_error.empty()) j["live_error"] = s.live_error;
  if (s.history) j["history"] = HistoryJson(s.name, *s.history)["history"];
  if (s.rollout) j["rollout"] = ProgressJson(*s.rollout);
  if (!s.operations.empty()) {
    j["operations"] = Json::array();
    for (const Operation& op : s.operations) j["operations"].push_back(OperationJson(op));
  }
  return j;
}

Json OperationJson(const Operation& op) {
  Json j = {{"id", op.id},
            {"stack", op.stack},
            {"revision", op.revision},
            {"state", std::string(OperationStateName(op.state))},
            {"created_at", op.created_at}};
  if (!op.finished_at.empty()) j["finished_at"] = op.finished_at;
  if (op.report) {
    j["result"] = std::string(reconciler::ReconcileResultName(op.report->result));
    j["message"] = op.report->message;
    j["history_seq"] = op.report->history_seq;
    j["changes"] = op.report->changes;
    j["still_removing"] = op.report->still_removing;
  }
  if (op.progress) j["progress"] = ProgressJson(*op.progress);
  if (op.error) {
    j["error"] = {{"code", std::string(CodeName(op.error->code()))}, {"message", op.error->message()}};
    if (!op.failed_service.empty()) j["error"]["service"] = op.failed_service;
  }
  return j;
}

Json HistoryJson(const std::string& stack, const std::vector<reconciler::HistoryRecord>& records) {
  Json arr = Json::array();
  for (const auto& r : records) {
    Json j = reconciler::RecordToJson(r);  // the controller dropped the specs
    j.erase("spec");
    arr.push_back(std::move(j));
  }
  return Json{{"stack", stack}, {"history", std::move(arr)}};
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
    const std::vector<std::string> queued = api_.OnPush({ev->repo_urls, ev->ref, ev->commit});
    const Json matched = queued;
    if (matched.empty()) return ignored("no configured repository watches " + ev->ref);
    count("accepted");
    log::Get("server")->info("{} push to {} at {}: {}", provider, ev->ref, ev->commit,
                             matched.dump());
    Reply(res, 202, Json{{"status", "accepted"}, {"repositories", matched}});
  });

  // The dashboard: static files; the data comes from the API below.
  if (options_.ui_enabled) {
    for (const UiAsset& asset : UiAssets()) {
      s.Get(std::string(asset.url), [&asset](const httplib::Request&, httplib::Response& res) {
        for (const auto& [name, value] : kUiSecurityHeaders) res.set_header(name, value);
        res.set_content(asset.body.data(), asset.body.size(), std::string(asset.content_type).c_str());
      });
    }
  }

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
  // The read calls: the dashboard's views work without a token only when
  // anonymous_read allows it.
  auto readable = [=, this](const httplib::Request& req, httplib::Response& res) {
    return options_.anonymous_read || authorized(req, res);
  };

  s.Get("/api/v1/stacks", [=, this](const httplib::Request& req, httplib::Response& res) {
    if (!readable(req, res)) return;
    Json stacks = Json::array();
    for (const StackView& v : api_.ListStacks()) stacks.push_back(StackJson(v));
    Reply(res, 200, Json{{"stacks", std::move(stacks)}});
  });
  s.Get(R"(/api/v1/stacks/([^/]+))", [=, this](const httplib::Request& req,
                                                 httplib::Response& res) {
    if (!readable(req, res)) return;
    Result<StackView> stack = api_.GetStack(req.matches[1]);
    if (!stack.ok()) return ReplyError(res, stack.status());
    Reply(res, 200, StackJson(*stack));
  });
  s.Get(R"(/api/v1/stacks/([^/]+)/history)", [=, this](const httplib::Request& req,
                                                         httplib::Response& res) {
    if (!readable(req, res)) return;
    auto history = api_.GetHistory(req.matches[1]);
    if (!history.ok()) return ReplyError(res, history.status());
    Reply(res, 200, HistoryJson(req.matches[1], *history));
  });
  s.Get(R"(/api/v1/operations/([^/]+))", [=, this](const httplib::Request& req,
                                                     httplib::Response& res) {
    if (!readable(req, res)) return;
    Result<Operation> op = api_.GetOperation(req.matches[1]);
    if (!op.ok()) return ReplyError(res, op.status());
    Reply(res, 200, OperationJson(*op));
  });
  // Pin and resume answer with the stack as it is then.
  auto set_pinned = [=, this](bool pinned) {
    return [=, this](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      Status st = api_.SetPinned(req.matches[1], pinned);
      if (!st.ok()) return ReplyError(res, st);
      Result<StackView> stack = api_.GetStack(req.matches[1]);
      if (!stack.ok()) return ReplyError(res, stack.status());
      Reply(res, 200, StackJson(*stack));
    };
  };
  s.Post(R"(/api/v1/stacks/([^/]+)/rollback)", [=, this](const httplib::Request& req,
                                                           httplib::Response& res) {
    if (!authorized(req, res)) return;
    Result<Json> body = ParseJson(req.body.empty() ? "{}" : req.body, "request body");
    if (!body.ok()) return ReplyError(res, body.status());
    if (!body->is_object()) return ReplyError(res, InvalidArgument("request body: must be a JSON object"));
    int64_t to = 0;
    for (auto& [k, v] : body->items()) {
      if (k != "to") return ReplyError(res, InvalidArgument("request body: unknown field \"" + k + "\""));
      if (!v.is_number_integer() || v.get<int64_t>() < 1) {
        return ReplyError(res, InvalidArgument("request body: to must be a history record number (1 or more)"));
      }
      to = v.get<int64_t>();
    }
    if (to == 0) return ReplyError(res, InvalidArgument("request body: to is required"));
    Result<std::string> id = api_.Rollback(req.matches[1], to);
    if (!id.ok()) return ReplyError(res, id.status());
    Reply(res, 202, Json{{"operation", *id}});
  });
  s.Post(R"(/api/v1/stacks/([^/]+)/pin)", set_pinned(true));
  s.Post(R"(/api/v1/stacks/([^/]+)/resume)", set_pinned(false));
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
      Result<std::chrono::milliseconds> d = ParseDurationMs(req.get_param_value("timeout"));
      if (!d.ok()) return ReplyError(res, InvalidArgument("timeout: " + d.status().message()));
      timeout = std::min(*d, options_.max_wait);
    }
    Result<std::string> id = api_.Sync(req.matches[1], revision);
    if (!id.ok()) return ReplyError(res, id.status());
    if (!wait) return Reply(res, 202, Json{{"operation", *id}});
    Result<Operation> op = api_.WaitOperation(*id, timeout);
    if (!op.ok()) return ReplyError(res, op.status());
    switch (op->state) {
      case OperationState::kSucceeded: return Reply(res, 200, OperationJson(*op));
      case OperationState::kFailed:
        return Reply(res, HttpStatus(op->error ? op->error->code() : Code::kUnknown), OperationJson(*op));
      case OperationState::kPending:
      case OperationState::kRunning: break;
    }
    Reply(res, 504, OperationJson(*op));
  });
}

}  // namespace stackctl::server
