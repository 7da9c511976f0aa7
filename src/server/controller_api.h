// ControllerApi: what the HTTP server (server.h) needs from the controller.
//
// The controller implements it; tests use a fake. Every method must return
// promptly except WaitOperation, which blocks up to its timeout.
//
// JSON documents exchanged (the server passes them through unchanged):
//   stack:     {"name", "repository", "revision", "status", ...} (controller-defined)
//   operation: {"id": "...", "stack": "...", "revision": "...",
//               "state": "pending" | "running" | "succeeded" | "failed",
//               "error": {"code": "FAILED_PRECONDITION", "message": "..."}}  (when failed)
// The server reads only "state" and "error.code" of an operation, to choose
// the HTTP status of a waited sync.
//
// Thread safety: implementations must accept concurrent calls from the
// server's worker threads.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "common/json.h"
#include "common/status.h"

namespace stackctl::server {

class ControllerApi {
 public:
  virtual ~ControllerApi() = default;

  // True once the controller can serve (engine reachable, config loaded) and
  // while no repository has been failing for long (controller.h).
  virtual bool Ready() = 0;
  // Why Ready() is false, for /readyz ("" when unknown or ready).
  virtual std::string NotReadyReason() { return ""; }
  // A webhook announced a push of `commit` ("" when unknown) to the
  // configured repository `repository` (its name) on its configured branch or
  // tag. Queue a resolve/reconcile and return at once.
  virtual void OnPush(const std::string& repository, const std::string& commit) = 0;
  // Starts a sync of `stack` at `revision` (a commit id, branch or tag; none =
  // the repository's configured ref) and returns the operation id.
  // kNotFound for an unknown stack.
  virtual Result<std::string> Sync(const std::string& stack,
                                   const std::optional<std::string>& revision) = 0;
  // The operation record once it is finished, or as it is when `timeout`
  // passes. kNotFound for an unknown id.
  virtual Result<Json> WaitOperation(const std::string& id,
                                     std::chrono::milliseconds timeout) = 0;
  // {"stacks": [stack, ...]}
  virtual Json ListStacks() = 0;
  virtual Result<Json> GetStack(const std::string& name) = 0;
  // {"stack": name, "history": [{"revision", "time", "result", ...}, ...]}
  virtual Result<Json> GetHistory(const std::string& name) = 0;
  virtual Result<Json> GetOperation(const std::string& id) = 0;
};

}  // namespace stackctl::server
