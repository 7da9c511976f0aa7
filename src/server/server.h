// Server: the controller's HTTP endpoint (cpp-httplib).
//
//   POST /hooks/{github,gitlab,gitea,generic}  webhooks (webhook.h); 401 on a
//        bad or missing signature, 404 for a provider without a secret, 413
//        over max_body_bytes, 200 {"status":"pong"} for pings, otherwise 202 at
//        once: {"status":"accepted","repositories":[...]} with the names
//        ControllerApi::OnPush queued (the controller knows which configured
//        repositories a URL and ref concern), or {"status":"ignored","reason":...}.
//   CI API, "Authorization: Bearer <token>" (constant-time; 401 otherwise,
//   also when no token is configured; the GET calls need none with
//   `anonymous_read`):
//     GET  /api/v1/stacks                  ListStacks()
//     GET  /api/v1/stacks/{name}           GetStack()
//     GET  /api/v1/stacks/{name}/history   GetHistory()
//     POST /api/v1/stacks/{name}/rollback  body {"to": N} -> Rollback(): 202
//          {"operation": id}
//     POST /api/v1/stacks/{name}/pin       SetPinned(true)  -> 200 the stack
//     POST /api/v1/stacks/{name}/resume    SetPinned(false) -> 200 the stack
//     POST /api/v1/stacks/{name}/sync      body {} or {"revision": "..."} ->
//          202 {"operation": id}; with ?wait=true[&timeout=5m] blocks: 200
//          and the operation when it succeeded, the status of its error code
//          when it failed, 504 and the operation when the wait timed out.
//     GET  /api/v1/operations/{id}         GetOperation()
//   Errors are {"error": message, "code": "NOT_FOUND"} with the status of
//   HttpStatus(code). The documents are the JSON of the ControllerApi's
//   typed values (StackJson, OperationJson, HistoryJson below).
//   GET /metrics (Prometheus text), /healthz (200 while serving), /readyz
//   (ControllerApi::Ready(): 200 "ready", or 503 "not ready: " and
//   NotReadyReason()).
//   With `ui_enabled`, the dashboard (ui_assets.h): GET / and /ui/*, static
//   files compiled in, sent with kUiSecurityHeaders. The page holds no stack
//   data of its own: it reads the API above with the token the user typed
//   (or none with `anonymous_read`), so without either it shows nothing.
//
// Ownership: the Server references the ControllerApi and metrics, which must
// outlive it. Thread safety: Start/Stop from one thread; requests are served
// on httplib's worker threads.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <utility>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "common/status.h"
#include "common/json.h"
#include "server/controller_api.h"

namespace httplib {
class Server;
}

namespace stackctl::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port (see Server::port())
  uint64_t max_body_bytes = 1 << 20;
  std::string api_token;                               // empty: API always 401
  std::map<std::string, std::string> webhook_secrets;  // provider name -> secret
  std::chrono::milliseconds default_wait = std::chrono::minutes(10);
  std::chrono::milliseconds max_wait = std::chrono::hours(1);
  // Request workers; each `?wait=true` sync holds one until it finishes.
  size_t worker_threads = 16;
  bool ui_enabled = true;       // serve the dashboard at /
  bool anonymous_read = false;  // the API's GET calls without a token
};

// Sent with every dashboard file: scripts and styles from this origin only
// (no inline script, no eval), API calls to this origin only, no framing,
// no plugins, no referrer (a stack URL carries no secret, but no need to
// tell), and no MIME sniffing.
inline const std::vector<std::pair<std::string, std::string>> kUiSecurityHeaders = {
    {"Content-Security-Policy",
     "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
     "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
    {"Cache-Control", "no-cache"}};

// The API's documents. A stack: name, repository, repository_url, path,
// revision, revision_summary, revision_author, revision_time,
// target_revision, failed_revision, repository_error,
// repository_failing_since, repository_stale, sync, health, last_result,
// last_error, last_failed_service, last_sync_time, out_of_sync, auto_sync,
// self_heal, prune, pinned, rollout (while one runs); GetStack adds
// pinned_by, pinned_revision and services (or live_error), each with its
// signature (SignatureJson), history and operations (those not finished).
Json StackJson(const StackView& stack);
// A service's image verdict: {verdict, detail, image, digest} with verdict
// "verified" | "warned" | "not-checked" (reconciler::VerdictKindName), or
// {verdict: "unknown", detail} when this controller has none or the service
// (`running_image`) no longer runs the digest the verdict is about.
Json SignatureJson(const std::optional<reconciler::ImageVerdict>& verdict, const std::string& running_image);
// {wave, waves, services, converged, total}: wave `wave` of `waves` rolls
// out `services`, `converged` of `total` done.
Json ProgressJson(const reconciler::WaveProgress& progress);
// id, stack, revision, state, created_at; once finished finished_at; after a
// reconcile result, message, history_seq, changes; progress once a rollout
// started; when failed error: {code, message[, service]}.
Json OperationJson(const Operation& op);
// {"stack": name, "history": [record without its spec, ...]}
Json HistoryJson(const std::string& stack, const std::vector<reconciler::HistoryRecord>& records);

// HTTP status for a Status code (kNotFound -> 404, kUnavailable -> 503, ...).
int HttpStatus(Code code);

class Server {
 public:
  Server(ControllerApi& api, metrics::ControllerMetrics& metrics, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts serving on a background thread. kUnavailable when the
  // address cannot be bound.
  Status Start();
  // Stops serving and joins the thread. Idempotent.
  void Stop();
  // The bound port (after Start).
  int port() const { return port_; }

 private:
  void Routes();

  ControllerApi& api_;
  metrics::ControllerMetrics& metrics_;
  const ServerOptions options_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::atomic<bool> listen_done_{false};
  int port_ = 0;
};

}  // namespace stackctl::server
