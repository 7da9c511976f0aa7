// FakeEngine: an in-memory Engine that behaves like a one-node Swarm manager
// where the reconciler cares, for unit tests.
//
// What it models (checked against Docker 20.10 / swarmkit behaviour):
//   * IDs are generated (25 lowercase hex chars); every write bumps one global
//     version index (like swarm's raft index) and stamps it on the object.
//     A service update/rollback that replaces tasks bumps twice: the spec
//     write, then the updater's UpdateStatus write (swarm does the same, and
//     more than once while a rollout runs), so never predict a version: re-read.
//   * Update with a stale version -> kAborted "update out of sequence".
//     Secret/config data or name change -> kFailedPrecondition "only updates
//     to Labels are allowed". Create with a taken name -> kAlreadyExists.
//     Unknown ID/name -> kNotFound. Rollback without PreviousSpec ->
//     kFailedPrecondition "service X does not have a previous spec".
//   * Services keep PreviousSpec on update; RollbackService swaps Spec and
//     PreviousSpec (as swarm's rollback=previous does). Rollouts converge
//     instantly: UpdateStatus becomes "completed" / "rollback_completed".
//   * Tasks: replicated services get Spec.Mode.Replicated.Replicas tasks
//     (default 1), global ones one task on the single fake node. A new spec
//     shuts the old tasks down ("shutdown") and starts new ones ("running").
//     FailImage(image, err) makes tasks of that image "failed" with Err = err;
//     an update to such an image then ends "paused" (UpdateConfig.FailureAction
//     "pause", the default), "rollback_completed" ("rollback": Spec goes back
//     to PreviousSpec, PreviousSpec cleared, as swarm's automatic rollback
//     does; "rollback_paused" if that image fails too) or "completed"
//     ("continue").
//   * Secrets are returned without Spec.Data (like the engine); configs with it.
//   * List filters: `label` (key or key=value, all must match), `name` (prefix,
//     any value matches; substring for networks, as the engine does), `id` (prefix); tasks also `service` (ID or name),
//     `desired-state`, `node`; nodes also `role`. Unknown filter keys ->
//     kInvalidArgument.
//   * Calls("UpdateService") counts calls per Engine method name (also failed
//     ones); WriteCalls() sums every create/update/rollback/remove, AllCalls()
//     every call.
//   * Events carry `time` / `timeNano`: the fake epoch plus the version index
//     in seconds, so they are unique and ordered. StreamEvents with a
//     `since_nano` replays the events from that time on (included), as dockerd
//     replays its buffer; DropEventsBefore(n) forgets old events as dockerd's
//     bounded buffer does.
//   * SetRemovalDelay(clock, d, kinds): a removed service, network, secret or
//     config (of `kinds`) stays listed (and inspectable) for `d` of `clock`'s time, as the real
//     engine keeps a network while the tasks attached to it are torn down.
//     Meanwhile it cannot be removed again (kNotFound), its name cannot be
//     taken (kAlreadyExists), and a service create or update that references
//     it, or any removed network/secret/config (by ID, or by name until one
//     of that name is created again), fails kNotFound
//     "network X not found" / "secret X not found" / "config X not found".
// Error messages have the DockerEngine shape: "<verb> <kind> <ref>: <engine text>".
//
// Thread safety: every method (Engine and test controls) is safe to call
// concurrently; one mutex guards the state.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "engineapi/engine.h"

namespace stackctl::engine {

class FakeEngine : public Engine {
 public:
  FakeEngine();
  ~FakeEngine() override;

  // --- test controls ---
  // Tasks whose image is `image` (exactly, or `image@sha256:...`) fail with `err`.
  // Applies to services (re)deployed after the call.
  void FailImage(const std::string& image, const std::string& err);
  void ClearFailedImages();
  // Number of calls of one Engine method ("UpdateService", "CreateObject", ...).
  int64_t Calls(std::string_view method) const;
  // Sum of calls to CreateService, UpdateService, RollbackService, RemoveService,
  // CreateObject, UpdateObject, RemoveObject.
  int64_t WriteCalls() const;
  // Every Engine call (reads, writes, pings, event streams) since ResetCalls.
  int64_t AllCalls() const;
  void ResetCalls();
  // Current global version index (bumped by every write).
  uint64_t Index() const;
  // The single fake node's ID (tasks run there).
  std::string NodeId() const;
  // Registers `digest` for DistributionDigest(image); unknown images -> kNotFound.
  void SetImageDigest(const std::string& image, const std::string& digest);
  // Every event emitted so far. Each write emits one engine-shaped event
  // ({"Type":"service","Action":"update","Actor":{"ID":..,"Attributes":{"name":..}}});
  // StreamEvents delivers those emitted after it starts (filters `type`, `event`).
  std::vector<Json> Events() const;
  // Forgets the first `n` events (dockerd keeps only its last 256).
  void DropEventsBefore(size_t n);
  // Removals of the `kinds` ("service", "network", "secret", "config")
  // complete `delay` of `clock` time after the call (0: at once).
  void SetRemovalDelay(Clock* clock, std::chrono::milliseconds delay,
                       std::set<std::string> kinds = {"service", "network", "secret", "config"});

  // --- Engine ---
  Status Ping() override;
  Result<VersionInfo> Version() override;
  Result<SwarmInfo> Info() override;

  Status VisitServices(const Filters& filters, bool with_status,
                       const std::function<void(Service&&)>& visit) override;
  Result<Service> InspectService(const std::string& id_or_name) override;
  Result<std::string> CreateService(const Json& spec, const std::string& registry_auth) override;
  Result<std::vector<std::string>> UpdateService(const std::string& id, uint64_t version,
                                                 const Json& spec,
                                                 const std::string& registry_auth) override;
  Status RollbackService(const std::string& id, uint64_t version) override;
  Status RemoveService(const std::string& id) override;

  Result<std::vector<Task>> ListTasks(const Filters& filters) override;
  Result<std::vector<Node>> ListNodes(const Filters& filters) override;

  Result<std::vector<Object>> ListObjects(Kind kind, const Filters& filters) override;
  Result<Object> InspectObject(Kind kind, const std::string& id_or_name) override;
  Result<std::string> CreateObject(Kind kind, const Json& spec) override;
  Status UpdateObject(Kind kind, const std::string& id, uint64_t version,
                      const Json& spec) override;
  Status RemoveObject(Kind kind, const std::string& id) override;

  Result<std::string> DistributionDigest(const std::string& image,
                                         const std::string& registry_auth) override;
  Status StreamEvents(const Filters& filters, int64_t since_nano,
                      const std::function<bool(const Json&)>& on_event, int64_t timeout_ms,
                      const std::atomic<bool>* cancel = nullptr) override;

 private:
  struct FakeService {
    std::string id;
    uint64_t version = 0;
    std::string created_at, updated_at;
    Json spec, previous_spec, update_status;
    std::optional<std::chrono::steady_clock::time_point> gone_at;  // set: being removed
  };
  struct FakeObject {
    std::string id;
    uint64_t version = 0;
    std::string created_at, updated_at;
    Json spec;
    std::optional<std::chrono::steady_clock::time_point> gone_at;  // set: being removed
  };

  // All REQUIRES: mu_ held.
  void Count(std::string_view method);
  uint64_t Bump();
  std::string NewId(std::string_view kind);
  std::string Now() const;
  void Emit(std::string_view type, std::string_view action, const std::string& id,
            const std::string& name);
  // `removing`: also objects being removed (lists and inspect show them).
  FakeService* FindService(const std::string& id_or_name, bool removing = false);
  FakeObject* FindObject(Kind kind, const std::string& id_or_name, bool removing = false);
  // Drops the objects whose removal delay has passed.
  void Reap();
  // When set, `gone_at` of an object removed now; otherwise it goes at once.
  std::optional<std::chrono::steady_clock::time_point> RemovalEnd(std::string_view kind) const;
  // kNotFound when `spec` references a network, secret or config being
  // removed, or one already removed (by ID).
  Status CheckReferences(const Json& spec, const std::string& prefix);
  std::string FailureOf(const Json& spec) const;  // "" when the image runs
  // Replaces the service's tasks by fresh ones for its current spec; returns
  // the ID of a failed task ("" if all run).
  std::string Deploy(const FakeService& s);
  // Runs the rollout after an update: sets UpdateStatus, maybe rolls back.
  void Rollout(FakeService& s, bool rollback);
  Service ToService(const FakeService& s) const;
  Object ToObject(Kind kind, const FakeObject& o) const;

  mutable std::mutex mu_;
  uint64_t index_ = 0;
  uint64_t next_id_ = 0;
  std::string node_id_;
  std::map<std::string, int64_t> calls_;
  std::map<std::string, std::string> failing_images_;
  std::map<std::string, std::string> digests_;
  std::map<std::string, FakeService> services_;              // by ID
  std::map<Kind, std::map<std::string, FakeObject>> objects_;  // by kind, ID
  std::vector<Task> tasks_;
  std::vector<Json> events_;
  size_t events_dropped_ = 0;  // events_[0] is event number events_dropped_
  Clock* removal_clock_ = nullptr;
  std::chrono::milliseconds removal_delay_{0};
  std::set<std::string> removal_kinds_;
  std::map<Kind, std::map<std::string, std::string>> removed_ids_;  // kind -> ID -> name (removed objects)
  std::condition_variable events_cv_;  // signalled by Emit()
};

}  // namespace stackctl::engine
