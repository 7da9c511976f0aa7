// Engine: the seam between stackctl and a Docker Engine (a Swarm manager).
//
// Modelled on leveldb's Env: a small abstract interface, a real
// implementation (DockerEngine, libcurl over unix/tcp/TLS), an in-memory
// FakeEngine for unit tests, and EngineWrapper that forwards every call so
// tests can inject faults or count calls by overriding a few methods.
//
// Error codes (common/status.h) are chosen by what the caller should do:
//   kNotFound          unknown ID/name (engine 404)
//   kAlreadyExists     name conflict on create (engine 409)
//   kAborted           stale version: "update out of sequence" -> re-read, retry
//   kFailedPrecondition the request cannot succeed as is (e.g. changing the data
//                      of a secret, node is not a swarm manager) -> do not retry
//   kInvalidArgument   malformed request (engine 400) -> do not retry
//   kUnavailable       engine unreachable / 5xx transport failure -> retry later
//   kDeadlineExceeded  the call timed out
// Messages keep the engine's own text.
//
// Thread safety: implementations must be safe for concurrent calls.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace stackctl::engine {

// Engine API list filters: {"label": {"com.docker.stack.namespace=web"}, "name": {...}}.
using Filters = std::map<std::string, std::vector<std::string>>;

struct VersionInfo {
  std::string version;      // "20.10.24"
  std::string api_version;  // highest the engine speaks, "1.41"
  std::string min_api_version;
  std::string os, arch;
};

struct SwarmInfo {
  std::string node_id;
  std::string local_node_state;  // "active", "inactive", ...
  bool control_available = false;  // true on a manager
  std::string cluster_id;
  // "manager", "worker" or "none" (not in a swarm).
  std::string Role() const;
};

// One engine object of any kind, as the engine returns it.
struct Object {
  std::string id;
  uint64_t version = 0;  // Version.Index, sent back on update
  std::string name;      // Spec.Name (services, secrets, configs) or Name (networks)
  std::map<std::string, std::string> labels;  // Spec.Labels / Labels
  Json spec;  // the stored spec (networks: the inspect body minus runtime fields)
  std::string created_at;  // CreatedAt (networks: Created), RFC 3339
  // Nothing else of the engine's body is kept: a stackctld managing 1,000
  // services holds their live state, and each copy costs megabytes.
};

struct ServiceStatus {
  uint64_t running_tasks = 0;
  uint64_t desired_tasks = 0;
};

struct Service : Object {
  Json update_status;  // UpdateStatus, null when none
  ServiceStatus status;  // only filled by ListServices(..., /*with_status=*/true)
};

struct Task {
  std::string id, service_id, node_id;
  int64_t slot = 0;
  std::string desired_state;  // "running", "shutdown", ...
  std::string state;          // Status.State
  std::string message;        // Status.Message
  std::string error;          // Status.Err
  std::string timestamp;      // Status.Timestamp (RFC 3339)
  std::string created_at, updated_at;
  // Spec: the task template the task was created from. Packed: waiting for
  // a 1,000-service stack reads a task list as long, and only the health
  // check reads this, one task at a time. Nothing else of the body is kept.
  PackedJson spec;
};

struct Node {
  std::string id, hostname, role, availability, state, addr;
  std::map<std::string, std::string> labels;
  Json raw;
};

// Networks, secrets and configs share list/inspect/create/remove; secrets and
// configs can only have their labels updated (their data is immutable).
enum class Kind { kNetwork, kSecret, kConfig };
std::string_view KindName(Kind kind);  // "network", "secret", "config"

class Engine {
 public:
  virtual ~Engine() = default;

  virtual Status Ping() = 0;
  virtual Result<VersionInfo> Version() = 0;
  virtual Result<SwarmInfo> Info() = 0;

  // Services. `registry_auth` is the base64url X-Registry-Auth header value ("" for none).
  // Hands each listed service to `visit` as soon as it is read, so a caller
  // that keeps less than the whole Service (reconciler/live.h) never holds
  // every spec's DOM at once. `visit` must not call the engine. On an error
  // some services may have been visited already.
  virtual Status VisitServices(const Filters& filters, bool with_status,
                               const std::function<void(Service&&)>& visit) = 0;
  // VisitServices collected into a vector.
  Result<std::vector<Service>> ListServices(const Filters& filters, bool with_status);
  virtual Result<Service> InspectService(const std::string& id_or_name) = 0;
  // Returns the new service ID.
  virtual Result<std::string> CreateService(const Json& spec, const std::string& registry_auth) = 0;
  // Returns the engine's warnings. kAborted when `version` is stale.
  virtual Result<std::vector<std::string>> UpdateService(const std::string& id, uint64_t version,
                                                         const Json& spec,
                                                         const std::string& registry_auth) = 0;
  // Server-side rollback to PreviousSpec (like `docker service rollback`).
  virtual Status RollbackService(const std::string& id, uint64_t version) = 0;
  virtual Status RemoveService(const std::string& id) = 0;

  virtual Result<std::vector<Task>> ListTasks(const Filters& filters) = 0;
  virtual Result<std::vector<Node>> ListNodes(const Filters& filters) = 0;

  // Networks, secrets, configs. For secrets/configs `spec` carries base64 Data.
  virtual Result<std::vector<Object>> ListObjects(Kind kind, const Filters& filters) = 0;
  virtual Result<Object> InspectObject(Kind kind, const std::string& id_or_name) = 0;
  virtual Result<std::string> CreateObject(Kind kind, const Json& spec) = 0;
  // Secrets and configs only; the engine refuses any change but labels.
  virtual Status UpdateObject(Kind kind, const std::string& id, uint64_t version,
                              const Json& spec) = 0;
  virtual Status RemoveObject(Kind kind, const std::string& id) = 0;

  // Resolves an image reference to its manifest digest ("sha256:...") via the
  // engine's /distribution endpoint.
  virtual Result<std::string> DistributionDigest(const std::string& image,
                                                 const std::string& registry_auth) = 0;

  // Streams /events until `on_event` returns false, `*cancel` becomes true
  // (seen within a second; nullptr: never), `timeout_ms` (0 = none) passes,
  // or the stream fails. Returns OK when stopped by the callback, the cancel
  // flag or the timeout; a stream the engine ends is an error.
  // `since_nano` 0: only events after the call. Otherwise (Unix time in ns,
  // the `timeNano` of an event) the engine first replays the events it still
  // buffers from that time on, that time included (dockerd keeps the last
  // 256, in memory), then streams new ones; `until` is never sent, so the
  // stream stays open. Every event carries `time` (s) and `timeNano` (ns).
  virtual Status StreamEvents(const Filters& filters, int64_t since_nano,
                              const std::function<bool(const Json&)>& on_event, int64_t timeout_ms,
                              const std::atomic<bool>* cancel = nullptr) = 0;
};

// An event's time in ns since the Unix epoch: `timeNano`, else `time` * 1e9,
// else 0 (not an engine event).
int64_t EventTimeNano(const Json& event);

}  // namespace stackctl::engine
