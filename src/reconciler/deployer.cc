#include "reconciler/deployer.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <set>

#include "common/crypto.h"
#include "common/log.h"
#include "common/parallel.h"
#include "reconciler/lock.h"
#include "reconciler/plan.h"
#include "reconciler/removal.h"

namespace stackctl::reconciler {

std::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kInSync: return "in-sync";
    case Outcome::kSucceeded: return "succeeded";
    case Outcome::kFailed: return "failed";
    case Outcome::kRolledBack: return "rolled-back";
    case Outcome::kPinned: return "pinned";
  }
  return "?";
}

namespace {

constexpr int kMaxVersionRetries = 5;
// Engine writes of one wave (or of a stack's removal) in flight at once.
constexpr size_t kMaxWritesInFlight = 8;

// Removes a network, secret or config; one that is busy (still used by
// tasks that are going away) is retried for up to a minute. Counts attempts
// in *writes when given.
Status RemoveObjectWithRetry(engine::Engine& engine, Clock& clock, engine::Kind kind,
                             const std::string& id, const std::string& what, int* writes) {
  auto deadline = clock.Steady() + std::chrono::seconds(60);
  for (;;) {
    if (writes) ++*writes;
    Status st = engine.RemoveObject(kind, id);
    if (st.ok() || st.code() == Code::kNotFound) return OkStatus();
    if (clock.Steady() >= deadline) return st.WithPrefix(what);
    clock.SleepFor(std::chrono::milliseconds(500));
  }
}

// Overwrites the base64 content of a secret or config spec ("Data") in memory.
void WipeData(Json* spec) {
  auto data = spec->find("Data");
  if (data == spec->end() || !data->is_string()) return;
  SecureWipe(&data->get_ref<std::string&>());  // the bytes in the spec, not a copy
  *data = "";
}

// What one of the writes of WriteConcurrently did.
struct WriteOutcome {
  bool attempted = false;  // false: not started, an earlier write had failed
  Status status;
};

// Runs write(0) … write(n-1), up to kMaxWritesInFlight at once: the writes of
// one step of a rollout are independent of each other (the services of a
// wave, the networks, secrets and configs before them). Once one fails no
// further write starts, since the rollout is then undone; those already in
// flight finish. Each outcome says whether its write ran and how it ended, so
// the caller records every write that happened (for Undo) in plan order.
std::vector<WriteOutcome> WriteConcurrently(size_t n, const std::function<Status(size_t)>& write) {
  std::vector<WriteOutcome> out(n);
  std::atomic<bool> failed{false};
  ParallelFor(n, kMaxWritesInFlight, [&](size_t i) {
    if (failed) return;
    out[i].attempted = true;
    out[i].status = write(i);
    if (!out[i].status.ok()) failed = true;
  });
  return out;
}

engine::Kind EngineKind(ResourceKind k) {
  switch (k) {
    case ResourceKind::kNetwork: return engine::Kind::kNetwork;
    case ResourceKind::kSecret: return engine::Kind::kSecret;
    default: return engine::Kind::kConfig;
  }
}

std::string Describe(const Change& c) {
  std::string s = std::string(ResourceKindName(c.kind)) + " " + c.name + ": " +
                  std::string(ActionName(c.action));
  if (!c.paths.empty()) {
    s += " (";
    for (size_t i = 0; i < c.paths.size(); ++i) s += (i ? ", " : "") + c.paths[i];
    s += ")";
  }
  if (c.drift) s += " [drift]";
  return s;
}

// True when every path is a label of the service spec: such a change is
// written onto the live spec, so the engine sees the task template it already
// runs and restarts nothing.
bool LabelsOnly(const Change& c) {
  if (c.kind != ResourceKind::kService || c.paths.empty()) return false;
  for (const auto& p : c.paths) {
    if (p.rfind("Labels.", 0) != 0) return false;
  }
  return true;
}

std::vector<std::string> DescribeChanges(const StackDiff& d) {
  std::vector<std::string> out;
  for (const auto& c : d.changes) {
    if (c.action != Action::kNone) out.push_back(Describe(c));
  }
  return out;
}

// Whether a manual deploy/rollback must (re)write the stack's pin.
bool NeedsPin(const StackControl& c, const DeployOptions& o) {
  return o.pin && (!c.pinned || c.pinned_revision != o.revision || c.pinned_by != TriggerName(o.trigger));
}

// `c` pinned by this manual deploy/rollback; what else it records (adopted
// networks) stays.
void PinBy(const DeployOptions& o, const std::string& now, StackControl* c) {
  c->pinned = true;
  c->pinned_by = std::string(TriggerName(o.trigger));
  c->pinned_revision = o.revision;
  c->pinned_at = now;
}

// The result of an automatic deploy of a pinned stack: nothing written.
DeployResult Pinned(const std::string& stack, const StackControl& control, StackDiff diff,
                    const std::vector<std::string>& warnings) {
  DeployResult r;
  r.outcome = Outcome::kPinned;
  r.diff = std::move(diff);
  r.warnings = warnings;
  r.message = "stack " + stack + " is pinned by " + control.pinned_by + " (revision " +
              control.pinned_revision + "); stackctl resume " + stack + " hands it back";
  return r;
}

// A rollout reads the live spec of the services it writes (the version, the
// spec to undo to) and the IDs of those it removes, nothing of the others:
// their specs are dropped before it starts, for the whole wait for convergence.
void DropSpecsOfUntouchedServices(const StackDiff& diff, LiveState* live) {
  std::set<std::string> touched;
  for (const Change& c : diff.changes) {
    if (c.kind == ResourceKind::kService && c.action != Action::kNone) touched.insert(c.name);
  }
  for (auto& [name, service] : live->services) {
    if (!touched.count(name)) {
      service.spec = PackedJson();
      service.normalized.reset();
      service.update_status = Json();
    }
  }
}

}  // namespace

// The state of one rollout: what it created and changed, so it can be undone.
class Deployer::Run {
 public:
  Run(Deployer& d, model::StackSpec& desired, const DeployOptions& opts)
      : d_(d), e_(d.engine_), desired_(desired), opts_(opts) {}

  Result<DeployResult> Execute(const LiveState& live, const StackDiff& diff);

 private:
  struct Changed {
    std::string name, id;
    bool created = false;
    PackedJson previous_spec;  // for updates: the spec before this rollout
  };

  Status Prepare(const Plan& plan, const LiveState& live);
  // Creates the networks, configs and secrets of `steps` (plan.prepare order),
  // or adopts those `live` already has.
  Status CreateObjects(const std::vector<Step>& steps, const LiveState& live);
  Status Relabel(engine::Kind kind, const engine::Object& obj, const std::string& logical_name);
  void AnnounceAdoption(const StackDiff& diff);
  Status ApplyWave(const std::vector<Step>& wave, const LiveState& live);
  // A wave failed because a network, secret, config or service vanished
  // (`why`, IsMissingReference): waits (removal_wait) for those of the stack
  // the engine still lists but named in `why` (being removed), then reads the
  // live state again.
  Result<LiveState> ReadAfterVanished(const Status& why);
  // Waits (removal_wait) for everything removed so far to leave the engine's
  // lists; what is still listed.
  std::vector<std::string> WaitRemoved();
  // `wave`: the progress of the wave being waited for, told to the sink as
  // its services converge (null: the undo's wait, nobody is told).
  Status WaitConverged(const std::vector<std::string>& names, std::string* failed_service,
                       WaveProgress* wave = nullptr);
  void ReportWave(const WaveProgress& wave) {
    if (d_.progress_) d_.progress_->Wave(wave);
  }
  Status Cleanup(const Plan& plan, const LiveState& live);
  Status RetireSuperseded(const LiveState& live);
  void Undo();
  Result<Json> FinalizeSpec(const model::Service& s);
  Result<std::string> ConfigId(const std::string& name);
  Status RemoveWithRetry(engine::Kind kind, const std::string& id, const std::string& what);

  Deployer& d_;
  engine::Engine& e_;
  model::StackSpec& desired_;
  const DeployOptions& opts_;
  int writes_ = 0;
  std::map<std::string, std::string> secret_ids_, config_ids_;
  std::vector<std::pair<engine::Kind, std::string>> created_objects_;  // kind, id
  std::vector<Changed> changed_services_;
  std::map<std::string, std::string> created_names_;  // ID -> name of created_objects_
  std::vector<Removed> removed_;  // what this rollout removed, for WaitRemoved
  std::set<std::string> labels_only_;  // services whose change is to labels alone
  StackControl control_;               // the control record as this rollout leaves it
  bool control_changed_ = false;       // networks adopted or dropped: record to rewrite
};

Result<std::string> Deployer::Run::ConfigId(const std::string& name) {
  if (auto it = config_ids_.find(name); it != config_ids_.end()) return it->second;
  auto obj = e_.InspectObject(engine::Kind::kConfig, name);
  if (!obj.ok()) {
    if (obj.status().code() == Code::kNotFound) return NotFound("config not found: " + name);
    return obj.status();
  }
  config_ids_[name] = obj->id;
  return obj->id;
}

Result<Json> Deployer::Run::FinalizeSpec(const model::Service& s) {
  Json spec = s.spec.Unpack();
  spec["Labels"][model::kRevisionLabel] = opts_.revision;
  Json& cs = spec["TaskTemplate"]["ContainerSpec"];
  if (cs.contains("Secrets")) {
    for (auto& ref : cs["Secrets"]) {
      std::string name = ref.value("SecretName", "");
      auto it = secret_ids_.find(name);
      if (it == secret_ids_.end()) return NotFound("service " + s.key + ": secret not found: " + name);
      ref["SecretID"] = it->second;
    }
  }
  if (cs.contains("Configs")) {
    for (auto& ref : cs["Configs"]) {
      std::string name = ref.value("ConfigName", "");
      auto id = ConfigId(name);
      if (!id.ok()) return id.status().WithPrefix("service " + s.key);
      ref["ConfigID"] = *id;
    }
  }
  return spec;
}

Status Deployer::Run::Prepare(const Plan& plan, const LiveState& live) {
  secret_ids_ = live.all_secret_ids;
  config_ids_ = live.known_config_ids;
  return CreateObjects(plan.prepare, live);
}

Status Deployer::Run::CreateObjects(const std::vector<Step>& steps, const LiveState& live) {
  std::map<std::string, const model::Network*> nets;
  for (const auto& n : desired_.networks) nets[n.name] = &n;
  std::map<std::string, const model::Blob*> secrets, configs;
  for (const auto& b : desired_.secrets) secrets[b.name] = &b;
  for (const auto& b : desired_.configs) configs[b.name] = &b;

  // Adoptions (rare: objects made outside stackctl) one by one, and the specs
  // of the creates, so that a precondition fails before any create; then the
  // creates, several in flight (no object of this step refers to another).
  struct Create {
    const Step* step;
    std::string what;
    Json spec;
    std::string id;
  };
  std::vector<Create> creates;
  // Secret and config content is wiped from every spec, written or not.
  struct WipeOnExit {
    std::vector<Create>* creates;
    ~WipeOnExit() {
      for (auto& c : *creates) WipeData(&c.spec);
    }
  } wipe_on_exit{&creates};
  for (const auto& step : steps) {
    std::string what = std::string(ResourceKindName(step.kind)) + " " + step.name;
    if (step.action == Action::kAdopt) {
      if (step.kind == ResourceKind::kNetwork) {
        // Recorded on the control record when the rollout succeeds.
        control_.adopted_networks[step.name] = live.networks.at(step.name).id;
        control_changed_ = true;
        continue;
      }
      const auto& objs = step.kind == ResourceKind::kSecret ? live.secrets : live.configs;
      const auto& wanted = step.kind == ResourceKind::kSecret ? secrets : configs;
      auto desired = wanted.find(step.name);
      // A desired object under this very name keeps its logical name; an
      // object under a plain name is that logical name.
      std::string logical = desired == wanted.end()
                                ? step.name
                                : desired->second->spec["Labels"].value(model::kLogicalNameLabel, step.name);
      d_.Info("Adopting " + what);
      RETURN_IF_ERROR(Relabel(EngineKind(step.kind), objs.at(step.name), logical).WithPrefix(what));
      continue;
    }
    Json spec;
    if (step.kind == ResourceKind::kNetwork) {
      spec = nets.at(step.name)->spec;
    } else {
      const model::Blob* b = step.kind == ResourceKind::kSecret ? secrets.at(step.name) : configs.at(step.name);
      spec = b->spec;
      if (b->data.empty() && !b->spec.is_null() && opts_.trigger == Trigger::kRollback) {
        return FailedPrecondition(what + " of this revision no longer exists and its content is not "
                                  "in the history record; deploy the revision from its source instead");
      }
      std::string data = Base64Encode(b->data);
      spec["Data"] = data;
      SecureWipe(&data);
    }
    spec["Labels"][model::kRevisionLabel] = opts_.revision;
    creates.push_back({&step, std::move(what), std::move(spec), ""});
  }
  for (const auto& c : creates) d_.Info("Creating " + c.what);
  auto outcomes = WriteConcurrently(creates.size(), [&](size_t i) -> Status {
    Create& c = creates[i];
    auto id = e_.CreateObject(EngineKind(c.step->kind), c.spec);
    WipeData(&c.spec);
    if (!id.ok()) return id.status().WithPrefix(c.what);
    c.id = std::move(*id);
    return OkStatus();
  });
  // Every object that was created is recorded (so Undo removes it), in plan
  // order; the first failure in plan order is the step's result.
  Status first_failure;
  for (size_t i = 0; i < creates.size(); ++i) {
    if (!outcomes[i].attempted) continue;
    ++writes_;
    if (!outcomes[i].status.ok()) {
      if (first_failure.ok()) first_failure = outcomes[i].status;
      continue;
    }
    const Step& step = *creates[i].step;
    const std::string& id = creates[i].id;
    created_objects_.emplace_back(EngineKind(step.kind), id);
    created_names_[id] = step.name;
    if (step.kind == ResourceKind::kSecret) secret_ids_[step.name] = id;
    if (step.kind == ResourceKind::kConfig) config_ids_[step.name] = id;
  }
  return first_failure;
}

// Adds stackctl's ownership labels to a secret or config made outside it
// (the engine allows a label change on these, nothing else).
Status Deployer::Run::Relabel(engine::Kind kind, const engine::Object& obj, const std::string& logical_name) {
  uint64_t version = obj.version;
  Json spec = obj.spec;
  spec.erase("Data");  // left out, the engine keeps it (a label change is all it allows)
  Json& labels = spec["Labels"];
  if (!labels.is_object()) labels = Json::object();
  labels[model::kManagedByLabel] = model::kManagedByValue;
  labels[model::kStackNamespaceLabel] = desired_.name;
  labels[model::kLogicalNameLabel] = logical_name;
  for (int attempt = 0;; ++attempt) {
    ++writes_;
    Status st = e_.UpdateObject(kind, obj.id, version, spec);
    if (st.code() != Code::kAborted || attempt >= kMaxVersionRetries) return st;
    ASSIGN_OR_RETURN(engine::Object fresh, e_.InspectObject(kind, obj.id));
    version = fresh.version;
  }
}

// Says, before any write, what an adoption does and which services restart.
void Deployer::Run::AnnounceAdoption(const StackDiff& diff) {
  std::vector<std::string> restarting;
  for (const Change& c : diff.changes) {
    if (c.action != Action::kAdopt) continue;
    d_.Info("Adopt " + std::string(ResourceKindName(c.kind)) + " " + c.name + ": " + c.note);
    if (c.kind == ResourceKind::kService && c.restarts) restarting.push_back(c.name);
  }
  if (restarting.empty()) return;
  std::string names;
  for (const auto& n : restarting) names += (names.empty() ? "" : ", ") + n;
  d_.Info("Services whose tasks restart: " + names);
}

Status Deployer::Run::ApplyWave(const std::vector<Step>& wave, const LiveState& live) {
  std::map<std::string, const model::Service*> by_name;
  for (const auto& s : desired_.services) by_name[s.name] = &s;
  // Specs first, one by one (ConfigId may read the engine and fills a cache),
  // so that a missing secret fails the wave before any write; then the
  // writes, several in flight. The specs wait packed: a first deploy of
  // 1,000 services is one wave, and their DOMs would double the desired state.
  std::vector<PackedJson> specs;
  specs.reserve(wave.size());
  for (const auto& step : wave) {
    ASSIGN_OR_RETURN(Json spec, FinalizeSpec(*by_name.at(step.name)));
    if (labels_only_.count(step.name)) {
      Json labels = std::move(spec["Labels"]);
      spec = live.services.at(step.name).spec.Unpack();
      spec["Labels"] = std::move(labels);
    }
    specs.emplace_back(spec);
    d_.Info((step.action == Action::kCreate   ? "Creating service "
             : step.action == Action::kAdopt ? "Adopting service "
                                             : "Updating service ") +
            step.name);
  }
  // What each write did, filled by its own task only.
  struct Written {
    int writes = 0;
    Changed changed;
  };
  std::vector<Written> written(wave.size());
  // One service's write; out of sequence ("update out of sequence": someone
  // else wrote in between) re-reads the version and retries.
  auto write = [&](const Step& step, const Json& spec, Written* w) -> Status {
    if (step.action == Action::kCreate) {
      ++w->writes;
      ASSIGN_OR_RETURN(std::string id, e_.CreateService(spec, opts_.registry_auth));
      w->changed = {step.name, id, true, PackedJson()};
      return OkStatus();
    }
    const LiveService& cur = live.services.at(step.name);
    uint64_t version = cur.version;
    for (int attempt = 0;; ++attempt) {
      ++w->writes;
      auto r = e_.UpdateService(cur.id, version, spec, opts_.registry_auth);
      if (r.ok()) break;
      if (r.status().code() != Code::kAborted || attempt >= kMaxVersionRetries) return r.status();
      ASSIGN_OR_RETURN(engine::Service fresh, e_.InspectService(cur.id));
      version = fresh.version;
    }
    w->changed = {step.name, cur.id, false, cur.spec};
    return OkStatus();
  };
  auto outcomes = WriteConcurrently(wave.size(), [&](size_t i) {
    return write(wave[i], specs[i].Unpack(), &written[i]).WithPrefix("service " + wave[i].name);
  });
  // Everything that was written is recorded (so Undo reverts it), in plan
  // order; the first failure in plan order is the wave's result.
  Status first_failure;
  for (size_t i = 0; i < wave.size(); ++i) {
    if (!outcomes[i].attempted) continue;
    writes_ += written[i].writes;
    if (outcomes[i].status.ok()) {
      changed_services_.push_back(std::move(written[i].changed));
    } else if (first_failure.ok()) {
      first_failure = outcomes[i].status;
    }
  }
  return first_failure;
}

// Most service names WaitConverged puts in one list filter.
constexpr size_t kMaxNameFilters = 50;

Status Deployer::Run::WaitConverged(const std::vector<std::string>& names, std::string* failed_service,
                                    WaveProgress* wave) {
  auto deadline = d_.clock_.Steady() + opts_.timeout;
  std::set<std::string> pending(names.begin(), names.end());
  engine::Filters by_stack{{"label", {std::string(model::kStackNamespaceLabel) + "=" + desired_.name}}};
  std::map<std::string, std::string> last_reported;
  for (;;) {
    // Only the services still converging: after a one-service change to a
    // 1,000-service stack one spec is read, not a thousand. The engine treats
    // names as prefixes (the pending set filters exactly below); past
    // kMaxNameFilters names the URL would grow long, so the whole stack is read.
    engine::Filters filters = by_stack;
    if (pending.size() <= kMaxNameFilters) filters["name"].assign(pending.begin(), pending.end());
    // Packed as read: a first deploy of 1,000 services waits for all of them.
    std::map<std::string, LiveService> by_id;
    RETURN_IF_ERROR(e_.VisitServices(filters, true, [&](engine::Service&& s) {
      if (!pending.count(s.name)) return;
      s.labels.clear();  // the health check reads none of them
      std::string id = s.id;
      by_id.emplace(std::move(id), LiveService::From(std::move(s)));
    }));
    engine::Filters task_filter;
    for (const auto& [id, s] : by_id) task_filter["service"].push_back(id);
    std::map<std::string, std::vector<engine::Task>> tasks;
    if (!task_filter.empty()) {
      ASSIGN_OR_RETURN(auto all, e_.ListTasks(task_filter));
      for (auto& t : all) tasks[t.service_id].push_back(std::move(t));
    }
    for (const auto& [id, s] : by_id) {
      ServiceHealth h = EvaluateHealth(s, tasks[id]);
      std::string summary = std::string(HealthStateName(h.state)) + std::to_string(h.running) + "/" +
                            std::to_string(h.desired) + h.update_state;
      if (d_.progress_ && last_reported[s.name] != summary) {
        d_.progress_->Service(s.name, h);
        last_reported[s.name] = summary;
      }
      if (h.state == HealthState::kFailed) {
        *failed_service = s.name;
        return Aborted("service " + s.name + ": " + h.message);
      }
      if (h.state == HealthState::kConverged) pending.erase(s.name);
    }
    if (wave) {
      size_t converged = 0;
      for (const auto& name : wave->services) converged += pending.count(name) ? 0 : 1;
      if (converged != wave->converged) {
        wave->converged = converged;
        ReportWave(*wave);
      }
    }
    if (pending.empty()) return OkStatus();
    if (d_.clock_.Steady() >= deadline) {
      *failed_service = *pending.begin();
      return DeadlineExceeded("service " + *pending.begin() + ": did not converge within " +
                              std::to_string(opts_.timeout.count() / 1000) + "s");
    }
    d_.clock_.SleepFor(opts_.poll_interval);
  }
}

Status Deployer::Run::RemoveWithRetry(engine::Kind kind, const std::string& id, const std::string& what) {
  RETURN_IF_ERROR(RemoveObjectWithRetry(e_, d_.clock_, kind, id, what, &writes_));
  removed_.push_back({kind, id, what});
  return OkStatus();
}

std::vector<std::string> Deployer::Run::WaitRemoved() {
  if (removed_.empty() || !opts_.wait) return {};
  auto still = WaitUntilGone(e_, d_.clock_, desired_.name, removed_, opts_.removal_wait, opts_.poll_interval);
  if (!still.ok()) {
    log::Get("reconciler")->warn("stack {}: waiting for removals: {}", desired_.name, still.status().ToString());
    std::vector<std::string> unknown;
    for (const auto& r : removed_) unknown.push_back(r.what);
    return unknown;  // not seen gone
  }
  for (const auto& w : *still) d_.Info("Still being removed by the engine: " + w);
  return *still;
}

Result<LiveState> Deployer::Run::ReadAfterVanished(const Status& why) {
  ASSIGN_OR_RETURN(LiveState live, ReadLive(e_, desired_.name));
  const std::string& text = why.message();
  auto named = [&](const std::string& name, const std::string& id) {
    return text.find(name) != std::string::npos || text.find(id) != std::string::npos;
  };
  std::vector<Removed> going;
  auto scan = [&](std::optional<engine::Kind> kind, const std::string& name, const std::string& id) {
    if (named(name, id))
      going.push_back({kind, id, std::string(kind ? engine::KindName(*kind) : "service") + " " + name});
  };
  for (const auto& [name, s] : live.services) scan(std::nullopt, name, s.id);
  for (const auto& [name, o] : live.networks) scan(engine::Kind::kNetwork, name, o.id);
  for (const auto& [name, o] : live.secrets) scan(engine::Kind::kSecret, name, o.id);
  for (const auto& [name, o] : live.configs) scan(engine::Kind::kConfig, name, o.id);
  if (going.empty()) return live;
  for (const auto& g : going) d_.Info("Waiting for the engine to finish removing " + g.what);
  ASSIGN_OR_RETURN(auto still,
                   WaitUntilGone(e_, d_.clock_, desired_.name, going, opts_.removal_wait, opts_.poll_interval));
  if (!still.empty()) {
    std::string list;
    for (const auto& w : still) list += (list.empty() ? "" : ", ") + w;
    return Unavailable(text + "; still being removed by the engine after " +
                       std::to_string(opts_.removal_wait.count() / 1000) + "s: " + list);
  }
  return ReadLive(e_, desired_.name);
}

void Deployer::Run::Undo() {
  auto log = log::Get("reconciler");
  for (auto it = changed_services_.rbegin(); it != changed_services_.rend(); ++it) {
    if (it->created) {
      d_.Info("Rolling back: removing service " + it->name);
      ++writes_;
      Status st = e_.RemoveService(it->id);
      if (!st.ok() && st.code() != Code::kNotFound) {
        log->error("rollback of {}: {}", it->name, st.ToString());
      } else {
        removed_.push_back({std::nullopt, it->id, "service " + it->name});
      }
      continue;
    }
    d_.Info("Rolling back service " + it->name);
    for (int attempt = 0; attempt <= kMaxVersionRetries; ++attempt) {
      auto cur = e_.InspectService(it->id);
      if (!cur.ok()) {
        log->error("rollback of {}: {}", it->name, cur.status().ToString());
        break;
      }
      ++writes_;
      auto r = e_.UpdateService(it->id, cur->version, it->previous_spec.Unpack(), opts_.registry_auth);
      if (r.ok() || r.status().code() != Code::kAborted) {
        if (!r.ok()) log->error("rollback of {}: {}", it->name, r.status().ToString());
        break;
      }
    }
  }
  if (opts_.wait) {
    std::vector<std::string> updated;
    for (const auto& c : changed_services_) {
      if (!c.created) updated.push_back(c.name);
    }
    std::string ignored;
    if (!updated.empty()) {
      Status st = WaitConverged(updated, &ignored);
      if (!st.ok()) log->warn("stack {}: after rollback: {}", desired_.name, st.message());
    }
  }
  for (auto it = created_objects_.rbegin(); it != created_objects_.rend(); ++it) {
    std::string what = std::string(engine::KindName(it->first)) + " " + it->second;
    if (auto name = created_names_.find(it->second); name != created_names_.end())
      what = std::string(engine::KindName(it->first)) + " " + name->second;
    Status st = RemoveWithRetry(it->first, it->second, what);
    if (!st.ok()) log->error("rollback cleanup: {}", st.ToString());
  }
}

Status Deployer::Run::Cleanup(const Plan& plan, const LiveState& live) {
  for (const auto& step : plan.cleanup) {
    std::string what = std::string(ResourceKindName(step.kind)) + " " + step.name;
    d_.Info("Removing " + what);
    if (step.kind == ResourceKind::kService) {
      ++writes_;
      const std::string& id = live.services.at(step.name).id;
      Status st = e_.RemoveService(id);
      if (!st.ok() && st.code() != Code::kNotFound) return st.WithPrefix(what);
      removed_.push_back({std::nullopt, id, what});
      continue;
    }
    const auto& objs = step.kind == ResourceKind::kNetwork  ? live.networks
                       : step.kind == ResourceKind::kSecret ? live.secrets
                                                            : live.configs;
    RETURN_IF_ERROR(RemoveWithRetry(EngineKind(step.kind), objs.at(step.name).id, what));
    if (step.kind == ResourceKind::kNetwork && control_.adopted_networks.erase(step.name)) control_changed_ = true;
  }
  return OkStatus();
}

Status Deployer::Run::RetireSuperseded(const LiveState& live) {
  // Names still referenced by any desired service stay, whatever the retention.
  std::set<std::string> in_use;
  for (const auto& s : desired_.services) {
    const Json cs = s.spec.Unpack().value("TaskTemplate", Json::object()).value("ContainerSpec", Json::object());
    for (const auto& r : cs.value("Secrets", Json::array())) in_use.insert(r.value("SecretName", ""));
    for (const auto& r : cs.value("Configs", Json::array())) in_use.insert(r.value("ConfigName", ""));
  }
  auto retire = [&](const std::vector<model::Blob>& blobs, const std::map<std::string, engine::Object>& live_objs,
                    engine::Kind kind) -> Status {
    std::map<std::string, std::string> wanted;  // logical name -> current name
    for (const auto& b : blobs) {
      if (!b.external) wanted[b.spec["Labels"].value(model::kLogicalNameLabel, b.name)] = b.name;
    }
    std::map<std::string, std::vector<const engine::Object*>> old_by_key;
    for (const auto& [name, obj] : live_objs) {
      if (!IsManaged(obj.labels)) continue;
      auto k = obj.labels.find(model::kLogicalNameLabel);
      if (k == obj.labels.end() || !wanted.count(k->second)) continue;
      if (wanted[k->second] == name || in_use.count(name)) continue;
      old_by_key[k->second].push_back(&obj);
    }
    for (auto& [key, objs] : old_by_key) {
      // Newest first (CreatedAt is RFC 3339, so it sorts as text).
      std::sort(objs.begin(), objs.end(), [](const engine::Object* a, const engine::Object* b) {
        return a->created_at > b->created_at;
      });
      for (size_t i = static_cast<size_t>(std::max(0, opts_.secret_retention)); i < objs.size(); ++i) {
        std::string what = std::string(engine::KindName(kind)) + " " + objs[i]->name;
        d_.Info("Removing superseded " + what);
        RETURN_IF_ERROR(RemoveWithRetry(kind, objs[i]->id, what));
      }
    }
    return OkStatus();
  };
  RETURN_IF_ERROR(retire(desired_.secrets, live.secrets, engine::Kind::kSecret));
  return retire(desired_.configs, live.configs, engine::Kind::kConfig);
}

Result<DeployResult> Deployer::Run::Execute(const LiveState& first_live, const StackDiff& diff) {
  DeployResult result;
  result.diff = diff;
  ASSIGN_OR_RETURN(Plan plan, BuildPlan(desired_, diff, PlanOptions{opts_.parallelism}));
  const LiveState* live_ptr = &first_live;
  std::optional<LiveState> reread;  // the live state read again after something vanished
  std::string started = FormatRfc3339(d_.clock_.Now());
  control_ = ControlFromObject(first_live.control);
  for (const Change& c : diff.changes) {
    if (LabelsOnly(c)) labels_only_.insert(c.name);
  }
  AnnounceAdoption(diff);
  // The history record's spec (deflated) and the stack's records as listed do
  // not depend on how the rollout ends: prepared on a thread while the
  // rollout's writes are in flight, so that its end only creates the record.
  // desired_ is only read from here on; we hold the stack lock, so the list
  // stays true.
  std::future<Result<HistoryStore::Prepared>> history_ahead =
      std::async(std::launch::async, [this] { return HistoryStore(e_, desired_.name).Prepare(desired_); });

  auto record = [&](HistoryResult outcome, const std::string& message) -> Status {
    HistoryRecord rec;
    rec.revision = opts_.revision;
    rec.trigger = opts_.trigger;
    rec.started_at = started;
    rec.finished_at = FormatRfc3339(d_.clock_.Now());
    rec.result = outcome;
    rec.message = message;
    rec.changes = DescribeChanges(diff);
    rec.still_removing = result.still_removing;
    if (!history_ahead.valid()) return Internal("stack " + desired_.name + ": history recorded twice");
    Result<HistoryStore::Prepared> prepared = history_ahead.get();
    if (!prepared.ok()) return prepared.status().WithPrefix("history of stack " + desired_.name);
    ++writes_;
    auto seq = HistoryStore(e_, desired_.name)
                   .Append(std::move(rec), std::move(*prepared), opts_.history_keep);
    if (!seq.ok()) return seq.status();
    result.history_seq = *seq;
    return OkStatus();
  };

  auto fail = [&](Status why, std::string failed_service) -> Result<DeployResult> {
    d_.Info("Rollout failed: " + why.message());
    Undo();
    result.still_removing = WaitRemoved();
    result.outcome = Outcome::kRolledBack;
    result.failed_service = std::move(failed_service);
    result.message = why.message();
    Status st = record(HistoryResult::kRolledBack, result.message);
    if (!st.ok()) log::Get("reconciler")->error("stack {}: recording history: {}", desired_.name, st.ToString());
    result.writes = writes_;
    return result;
  };

  if (Status st = Prepare(plan, *live_ptr); !st.ok()) return fail(st, "");
  bool retried_missing = false;
  std::vector<std::string> unwaited;  // written in a wave that then hit a vanished object
  for (size_t w = 0; w < plan.waves.size(); ++w) {
    if (w > 0 && opts_.delay.count() > 0) d_.clock_.SleepFor(opts_.delay);
    size_t written_before = changed_services_.size();
    WaveProgress progress{w + 1, plan.waves.size(), {}, 0};
    for (const auto& step : plan.waves[w]) progress.services.push_back(step.name);
    ReportWave(progress);
    Status applied = ApplyWave(plan.waves[w], *live_ptr);
    if (!applied.ok() && IsMissingReference(applied) && !retried_missing) {
      // Once per rollout, and no rollback for it: an object of the stack
      // vanished under us (the engine was still removing it, or someone
      // removed it). Level-triggered: read the stack again and plan what is
      // left from there; what this rollout wrote is in sync now and stays
      // recorded for Undo.
      retried_missing = true;
      d_.Info("Re-reading stack " + desired_.name + ": " + applied.message());
      for (size_t i = written_before; i < changed_services_.size(); ++i)
        unwaited.push_back(changed_services_[i].name);
      auto fresh = ReadAfterVanished(applied);
      if (!fresh.ok()) return fail(fresh.status(), "");
      reread = std::move(*fresh);
      live_ptr = &*reread;
      auto again = Compare(desired_, *reread, DiffOptions{opts_.prune});
      if (!again.ok()) return fail(again.status(), "");
      DropSpecsOfUntouchedServices(*again, &*reread);
      auto replan = BuildPlan(desired_, *again, PlanOptions{opts_.parallelism});
      if (!replan.ok()) return fail(replan.status(), "");
      plan = std::move(*replan);
      if (Status st = Prepare(plan, *live_ptr); !st.ok()) return fail(st, "");
      w = static_cast<size_t>(-1);  // from the new plan's first wave
      continue;
    }
    if (!applied.ok()) return fail(applied, "");
    if (!opts_.wait) continue;
    std::vector<std::string> names = std::move(unwaited);
    unwaited.clear();
    for (const auto& s : plan.waves[w]) names.push_back(s.name);
    std::string failed;
    if (Status st = WaitConverged(names, &failed, &progress); !st.ok()) return fail(st, failed);
  }
  if (opts_.wait && !unwaited.empty()) {
    std::string failed;
    if (Status st = WaitConverged(unwaited, &failed); !st.ok()) return fail(st, failed);
  }
  const LiveState& live = *live_ptr;
  Status cleanup = Cleanup(plan, live);
  if (cleanup.ok() && opts_.wait) cleanup = RetireSuperseded(live);
  result.still_removing = WaitRemoved();
  result.outcome = cleanup.ok() ? Outcome::kSucceeded : Outcome::kFailed;
  result.message = cleanup.ok() ? (opts_.wait ? "rollout complete" : "submitted") : cleanup.message();
  RETURN_IF_ERROR(record(cleanup.ok() ? HistoryResult::kSucceeded : HistoryResult::kFailed, result.message));
  // One write of the control record: the networks adopted (or pruned) and the pin.
  if (NeedsPin(control_, opts_)) {
    PinBy(opts_, FormatRfc3339(d_.clock_.Now()), &control_);
    control_changed_ = true;
  }
  if (control_changed_) {
    ++writes_;
    RETURN_IF_ERROR(WriteControl(e_, desired_.name, control_, live.control));
  }
  result.writes = writes_;
  return result;
}

Result<LiveState> Deployer::Render(model::StackSpec* desired, const PinOptions& pin,
                                   std::optional<LiveState> read, std::vector<std::string>* warnings,
                                   ImageVerdicts* verdicts,
                                   std::vector<std::string>* refused_services) {
  if (read && read->stack != desired->name) {
    return Internal("stack " + desired->name + ": given the live state of stack " + read->stack);
  }
  if (!read) {
    ASSIGN_OR_RETURN(read, ReadLive(engine_, desired->name));
  }
  LiveState live = std::move(*read);
  if (images_) {
    ASSIGN_OR_RETURN(*warnings,
                     PinImages(desired, live, *images_, pin, verdicts, refused_services));
  } else if (verdicts) {
    *verdicts = UncheckedVerdicts(*desired, "not checked: deployed as recorded");
  }
  const bool pin_kept_specs = !images_ || PinLeavesSpecsAlone(pin);
  if (!desired->prepared || !pin_kept_specs) PrepareDesired(desired);
  desired->prepared = false;
  return live;
}

Result<StackDiff> Deployer::Diff(model::StackSpec desired, const DiffOptions& options,
                                 const PinOptions& pin, std::optional<LiveState> read,
                                 std::vector<std::string>* refused_services) {
  std::vector<std::string> warnings;
  ASSIGN_OR_RETURN(LiveState live,
                   Render(&desired, pin, std::move(read), &warnings, nullptr, refused_services));
  for (const auto& w : warnings) Info("Warning: " + w);
  return Compare(desired, live, options);
}

Result<DeployResult> Deployer::Deploy(model::StackSpec desired, const DeployOptions& options,
                                      std::optional<LiveState> read,
                                      std::vector<std::string>* refused_services) {
  DiffOptions dopts{options.prune};
  std::vector<std::string> warnings;
  ImageVerdicts verdicts;
  auto with_verdicts = [&](DeployResult r) {
    r.image_verdicts = std::move(verdicts);
    return r;
  };
  {
    // Fast path: nothing to do means no lock and no write at all.
    // The warnings are the result's (the CLI prints them once), not progress.
    ASSIGN_OR_RETURN(LiveState live,
                     Render(&desired, options.images, std::move(read), &warnings,
                            options.image_verdicts ? &verdicts : nullptr, refused_services));
    ASSIGN_OR_RETURN(StackDiff diff, Compare(desired, live, dopts));
    StackControl control = ControlFromObject(live.control);
    if (options.respect_pin && control.pinned) {
      return with_verdicts(Pinned(desired.name, control, std::move(diff), warnings));
    }
    bool pin_needed = NeedsPin(control, options);
    if (diff.InSync() && !pin_needed) {
      DeployResult r;
      r.diff = std::move(diff);
      r.warnings = warnings;
      r.message = "stack " + desired.name + " is in sync";
      return with_verdicts(std::move(r));
    }
  }
  ASSIGN_OR_RETURN(auto lock, StackLock::Acquire(engine_, clock_, desired.name, options.lock_wait,
                                                 options.timeout * 4 + std::chrono::minutes(10)));
  // Level-triggered: read everything again under the lock.
  ASSIGN_OR_RETURN(LiveState live, ReadLive(engine_, desired.name));
  ASSIGN_OR_RETURN(StackDiff diff, Compare(desired, live, dopts));
  // A manual deploy that held the lock while we waited may have pinned the stack.
  if (StackControl control = ControlFromObject(live.control); options.respect_pin && control.pinned) {
    return with_verdicts(Pinned(desired.name, control, std::move(diff), warnings));
  }
  if (diff.InSync()) {
    DeployResult r;
    r.diff = std::move(diff);
    r.warnings = std::move(warnings);
    r.message = "stack " + desired.name + " is in sync";
    StackControl control = ControlFromObject(live.control);
    if (NeedsPin(control, options)) {
      PinBy(options, FormatRfc3339(clock_.Now()), &control);
      RETURN_IF_ERROR(WriteControl(engine_, desired.name, control, live.control));
      r.writes = 1;
    }
    return with_verdicts(std::move(r));
  }
  DropSpecsOfUntouchedServices(diff, &live);
  Run run(*this, desired, options);
  ASSIGN_OR_RETURN(DeployResult result, run.Execute(live, diff));
  result.warnings = std::move(warnings);
  return with_verdicts(std::move(result));
}

Result<DeployResult> Deployer::Rollback(const std::string& stack, std::optional<int64_t> to_seq,
                                        DeployOptions options) {
  ASSIGN_OR_RETURN(auto records, HistoryStore(engine_, stack).List());
  const HistoryRecord* target = nullptr;
  if (to_seq) {
    for (const auto& r : records) {
      if (r.seq == *to_seq) target = &r;
    }
    if (!target) return NotFound("stack " + stack + ": no history record " + std::to_string(*to_seq));
    if (target->result != HistoryResult::kSucceeded) {
      return FailedPrecondition("stack " + stack + ": record " + std::to_string(*to_seq) + " is a " +
                                std::string(HistoryResultName(target->result)) +
                                " deploy; roll back to a succeeded one");
    }
  } else {
    int seen = 0;
    for (const auto& r : records) {
      if (r.result == HistoryResult::kSucceeded && ++seen == 2) {
        target = &r;
        break;
      }
    }
    if (!target) return FailedPrecondition("stack " + stack + ": no earlier successful deploy to roll back to");
  }
  ASSIGN_OR_RETURN(model::StackSpec spec, StackSpecFromJson(target->spec));
  Info("Rolling back stack " + stack + " to record " + std::to_string(target->seq) + " (revision " +
       target->revision + ")");
  options.revision = target->revision;
  options.trigger = Trigger::kRollback;
  options.prune = true;  // what the bad revision added goes too
  options.pin = true;
  return Deploy(std::move(spec), options);
}

Result<std::vector<HistoryRecord>> Deployer::History(const std::string& stack) {
  return HistoryStore(engine_, stack).List();
}

Json ServiceStatusJson(const ServiceStatusLine& s) {
  return {{"name", s.name},
          {"image", s.image},
          {"mode", s.mode},
          {"running", s.health.running},
          {"desired", s.health.desired},
          {"health", HealthStateName(s.health.state)},
          {"update_state", s.health.update_state},
          {"message", s.health.message}};
}

Result<StackStatus> Deployer::GetStatus(const std::string& stack) {
  StackStatus st;
  st.stack = stack;
  ASSIGN_OR_RETURN(LiveState live, ReadLive(engine_, stack, /*with_status=*/true));
  st.control = ControlFromObject(live.control);
  ASSIGN_OR_RETURN(auto records, HistoryStore(engine_, stack).List());
  if (!records.empty()) {
    st.last = records.front();
    st.last->spec = Json();
  }
  st.exists = !live.services.empty() || !live.networks.empty() || !records.empty();
  engine::Filters tf;
  for (const auto& [name, s] : live.services) tf["service"].push_back(s.id);
  std::map<std::string, std::vector<engine::Task>> tasks;
  if (!tf.empty()) {
    ASSIGN_OR_RETURN(auto all, engine_.ListTasks(tf));
    for (auto& t : all) tasks[t.service_id].push_back(std::move(t));
  }
  for (const auto& [name, s] : live.services) {
    ServiceStatusLine line;
    line.name = name;
    line.image = s.image;
    line.health = EvaluateHealth(s, tasks[s.id]);
    line.mode = line.health.global ? "global" : "replicated";
    st.services.push_back(std::move(line));
  }
  return st;
}

Result<RemoveResult> Deployer::Remove(const std::string& stack, const RemoveOptions& options) {
  // Under the lock a rollout of the same stack (the controller's, another
  // deploy) neither creates services behind the removal nor is removed halfway.
  ASSIGN_OR_RETURN(auto lock,
                   StackLock::Acquire(engine_, clock_, stack, options.lock_wait, std::chrono::minutes(10)));
  ASSIGN_OR_RETURN(LiveState live, ReadLive(engine_, stack));
  RemoveResult result;
  std::vector<Removed> removed;
  std::vector<const LiveService*> services;
  for (const auto& [name, s] : live.services) {
    Info("Removing service " + name);
    services.push_back(&s);
  }
  std::vector<Status> results(services.size());
  ParallelFor(services.size(), kMaxWritesInFlight, [&](size_t i) {
    Status st = engine_.RemoveService(services[i]->id);
    if (!st.ok() && st.code() != Code::kNotFound) results[i] = st.WithPrefix("service " + services[i]->name);
  });
  for (size_t i = 0; i < services.size(); ++i) {
    RETURN_IF_ERROR(results[i]);
    removed.push_back({std::nullopt, services[i]->id, "service " + services[i]->name});
  }
  auto remove_all = [&](engine::Kind kind, const std::map<std::string, engine::Object>& objs) -> Status {
    for (const auto& [name, o] : objs) {
      std::string what = std::string(engine::KindName(kind)) + " " + name;
      Info("Removing " + what);
      RETURN_IF_ERROR(RemoveObjectWithRetry(engine_, clock_, kind, o.id, what, nullptr));
      removed.push_back({kind, o.id, what});
    }
    return OkStatus();
  };
  RETURN_IF_ERROR(remove_all(engine::Kind::kSecret, live.secrets));
  RETURN_IF_ERROR(remove_all(engine::Kind::kConfig, live.configs));
  RETURN_IF_ERROR(remove_all(engine::Kind::kNetwork, live.networks));
  if (live.control) {
    auto st = engine_.RemoveObject(engine::Kind::kConfig, live.control->id);
    if (!st.ok() && st.code() != Code::kNotFound) return st.WithPrefix("control record");
  }
  RETURN_IF_ERROR(HistoryStore(engine_, stack).RemoveAll());
  // Still under the lock: a deploy of the stack waits for the teardown to end.
  if (!removed.empty()) {
    ASSIGN_OR_RETURN(result.still_removing, WaitUntilGone(engine_, clock_, stack, removed, options.removal_wait,
                                                          options.poll_interval));
  }
  for (auto& r : removed) result.removed.push_back(std::move(r.what));
  return result;
}

Status Deployer::SetPinned(const std::string& stack, bool pinned, const std::string& by,
                           const std::string& revision) {
  ASSIGN_OR_RETURN(LiveState live, ReadLive(engine_, stack));
  StackControl c = ControlFromObject(live.control);  // adopted networks stay
  c.pinned = pinned;
  c.pinned_by = pinned ? by : "";
  c.pinned_revision = pinned ? revision : "";
  c.pinned_at = pinned ? FormatRfc3339(clock_.Now()) : "";
  return WriteControl(engine_, stack, c, live.control);
}

}  // namespace stackctl::reconciler
