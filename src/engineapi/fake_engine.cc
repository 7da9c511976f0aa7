#include "engineapi/fake_engine.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <ctime>

#include "common/crypto.h"

namespace stackctl::engine {
namespace {

// Base time of the fake clock: the index is added as seconds.
constexpr std::time_t kEpoch = 1704067200;  // 2024-01-01T00:00:00Z

bool HasPrefix(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

Status CheckFilterKeys(const Filters& filters, std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, values] : filters) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      return InvalidArgument("Invalid filter '" + key + "'");
  }
  return OkStatus();
}

const std::vector<std::string>* Get(const Filters& filters, const std::string& key) {
  auto it = filters.find(key);
  return it == filters.end() || it->second.empty() ? nullptr : &it->second;
}

// `label` filter: every value ("k" or "k=v") must match.
bool MatchLabels(const std::map<std::string, std::string>& labels, const Filters& filters) {
  const auto* want = Get(filters, "label");
  if (!want) return true;
  for (const auto& w : *want) {
    auto eq = w.find('=');
    std::string key = w.substr(0, eq);
    auto it = labels.find(key);
    if (it == labels.end()) return false;
    if (eq != std::string::npos && it->second != w.substr(eq + 1)) return false;
  }
  return true;
}

// Prefix filters (`name`, `id`): any value may match.
bool MatchPrefix(const std::string& value, const Filters& filters, const std::string& key) {
  const auto* want = Get(filters, key);
  if (!want) return true;
  return std::any_of(want->begin(), want->end(),
                     [&](const std::string& w) { return HasPrefix(value, w); });
}

bool MatchSubstring(const std::string& value, const Filters& filters, const std::string& key) {
  const auto* want = Get(filters, key);
  if (!want) return true;
  return std::any_of(want->begin(), want->end(), [&](const std::string& w) {
    return value.find(w) != std::string::npos;
  });
}

bool MatchExact(const std::string& value, const Filters& filters, const std::string& key) {
  const auto* want = Get(filters, key);
  if (!want) return true;
  return std::find(want->begin(), want->end(), value) != want->end();
}

std::map<std::string, std::string> LabelsOf(const Json& j) {
  std::map<std::string, std::string> out;
  if (j.is_object() && j.contains("Labels") && j["Labels"].is_object()) {
    for (const auto& [k, v] : j["Labels"].items())
      if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

std::string NameOf(const Json& spec) {
  if (spec.is_object() && spec.contains("Name") && spec["Name"].is_string())
    return spec["Name"].get<std::string>();
  return "";
}

std::string ImageOf(const Json& spec) {
  const Json* j = &spec;
  for (const char* k : {"TaskTemplate", "ContainerSpec", "Image"}) {
    if (!j->is_object() || !j->contains(k)) return "";
    j = &(*j)[k];
  }
  return j->is_string() ? j->get<std::string>() : "";
}

bool IsGlobal(const Json& spec) {
  return spec.contains("Mode") && spec["Mode"].is_object() && spec["Mode"].contains("Global");
}

uint64_t ReplicasOf(const Json& spec) {
  if (IsGlobal(spec)) return 1;  // one node
  if (spec.contains("Mode") && spec["Mode"].is_object() && spec["Mode"].contains("Replicated")) {
    const Json& r = spec["Mode"]["Replicated"];
    if (r.is_object() && r.contains("Replicas") && r["Replicas"].is_number_unsigned())
      return r["Replicas"].get<uint64_t>();
  }
  return 1;
}

std::string FailureAction(const Json& spec, const char* config) {
  if (spec.contains(config) && spec[config].is_object() && spec[config].contains("FailureAction") &&
      spec[config]["FailureAction"].is_string())
    return spec[config]["FailureAction"].get<std::string>();
  return "pause";
}

std::string NotFoundText(Kind kind, const std::string& ref) {
  return std::string(KindName(kind)) + " " + ref + " not found";
}

std::string Prefix(std::string_view verb, std::string_view kind, const std::string& ref) {
  return std::string(verb) + " " + std::string(kind) + " " + ref + ": ";
}

}  // namespace

FakeEngine::FakeEngine() {
  std::lock_guard<std::mutex> l(mu_);
  node_id_ = NewId("node");
}

FakeEngine::~FakeEngine() = default;

// ---- test controls ----

void FakeEngine::FailImage(const std::string& image, const std::string& err) {
  std::lock_guard<std::mutex> l(mu_);
  failing_images_[image] = err;
}

void FakeEngine::ClearFailedImages() {
  std::lock_guard<std::mutex> l(mu_);
  failing_images_.clear();
}

int64_t FakeEngine::Calls(std::string_view method) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = calls_.find(std::string(method));
  return it == calls_.end() ? 0 : it->second;
}

int64_t FakeEngine::WriteCalls() const {
  std::lock_guard<std::mutex> l(mu_);
  int64_t n = 0;
  for (const char* m : {"CreateService", "UpdateService", "RollbackService", "RemoveService",
                        "CreateObject", "UpdateObject", "RemoveObject"}) {
    auto it = calls_.find(m);
    if (it != calls_.end()) n += it->second;
  }
  return n;
}

int64_t FakeEngine::AllCalls() const {
  std::lock_guard<std::mutex> l(mu_);
  int64_t n = 0;
  for (const auto& [method, count] : calls_) n += count;
  return n;
}

void FakeEngine::ResetCalls() {
  std::lock_guard<std::mutex> l(mu_);
  calls_.clear();
}

uint64_t FakeEngine::Index() const {
  std::lock_guard<std::mutex> l(mu_);
  return index_;
}

std::string FakeEngine::NodeId() const {
  std::lock_guard<std::mutex> l(mu_);
  return node_id_;
}

void FakeEngine::SetImageDigest(const std::string& image, const std::string& digest) {
  std::lock_guard<std::mutex> l(mu_);
  digests_[image] = digest;
}

std::vector<Json> FakeEngine::Events() const {
  std::lock_guard<std::mutex> l(mu_);
  return events_;
}

void FakeEngine::DropEventsBefore(size_t n) {
  std::lock_guard<std::mutex> l(mu_);
  if (n <= events_dropped_) return;
  size_t drop = std::min(n - events_dropped_, events_.size());
  events_.erase(events_.begin(), events_.begin() + static_cast<std::ptrdiff_t>(drop));
  events_dropped_ += drop;
}

void FakeEngine::SetRemovalDelay(Clock* clock, std::chrono::milliseconds delay, std::set<std::string> kinds) {
  std::lock_guard<std::mutex> l(mu_);
  removal_clock_ = clock;
  removal_delay_ = delay;
  removal_kinds_ = std::move(kinds);
}

// ---- helpers (mu_ held) ----

void FakeEngine::Count(std::string_view method) {
  ++calls_[std::string(method)];
  Reap();  // every Engine call counts first: removals due by now are over
}

void FakeEngine::Reap() {
  if (!removal_clock_) return;
  auto now = removal_clock_->Steady();
  std::erase_if(services_, [&](const auto& kv) { return kv.second.gone_at && *kv.second.gone_at <= now; });
  for (auto& [kind, m] : objects_)
    std::erase_if(m, [&](const auto& kv) { return kv.second.gone_at && *kv.second.gone_at <= now; });
}

std::optional<std::chrono::steady_clock::time_point> FakeEngine::RemovalEnd(std::string_view kind) const {
  if (!removal_clock_ || removal_delay_.count() <= 0 || !removal_kinds_.count(std::string(kind))) return std::nullopt;
  return removal_clock_->Steady() + removal_delay_;
}

Status FakeEngine::CheckReferences(const Json& spec, const std::string& prefix) {
  if (!removal_clock_) return OkStatus();
  // Whether `ref` (an ID or a name) is an object of `kind` that is being
  // removed, or was removed and not created again; its name in *name.
  auto vanished = [&](Kind kind, const std::string& ref, std::string* name) {
    if (ref.empty()) return false;
    for (const auto& [id, o] : objects_[kind]) {
      if (id == ref || NameOf(o.spec) == ref) {
        *name = NameOf(o.spec);
        return o.gone_at.has_value();
      }
    }
    for (const auto& [id, removed_name] : removed_ids_[kind]) {
      if (id == ref || removed_name == ref) {
        *name = removed_name;
        return true;
      }
    }
    return false;
  };
  std::string name;
  const Json& tt = spec.value("TaskTemplate", Json::object());
  for (const Json* nets : {&tt, &spec}) {
    for (const Json& n : nets->value("Networks", Json::array())) {
      std::string target = n.value("Target", "");
      if (vanished(Kind::kNetwork, target, &name)) return NotFound(prefix + "network " + target + " not found");
    }
  }
  const Json& cs = tt.value("ContainerSpec", Json::object());
  for (const Json& r : cs.value("Secrets", Json::array())) {
    if (vanished(Kind::kSecret, r.value("SecretID", ""), &name))
      return NotFound(prefix + "secret " + r.value("SecretName", name) + " not found");
  }
  for (const Json& r : cs.value("Configs", Json::array())) {
    if (vanished(Kind::kConfig, r.value("ConfigID", ""), &name))
      return NotFound(prefix + "config " + r.value("ConfigName", name) + " not found");
  }
  return OkStatus();
}

uint64_t FakeEngine::Bump() { return ++index_; }

std::string FakeEngine::NewId(std::string_view kind) {
  return Sha256Hex(std::string(kind) + "/" + std::to_string(++next_id_)).substr(0, 25);
}

std::string FakeEngine::Now() const {
  std::time_t t = kEpoch + static_cast<std::time_t>(index_);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S.000000000Z", &tm);
  return buf;
}

void FakeEngine::Emit(std::string_view type, std::string_view action, const std::string& id,
                      const std::string& name) {
  Json e = {{"Type", type},
            {"Action", action},
            {"Actor", {{"ID", id}, {"Attributes", {{"name", name}}}}},
            {"scope", "swarm"},
            {"time", kEpoch + static_cast<int64_t>(index_)},
            {"timeNano", (kEpoch + static_cast<int64_t>(index_)) * 1000000000LL}};
  events_.push_back(std::move(e));
  events_cv_.notify_all();
}

FakeEngine::FakeService* FakeEngine::FindService(const std::string& ref, bool removing) {
  auto it = services_.find(ref);
  if (it != services_.end()) return removing || !it->second.gone_at ? &it->second : nullptr;
  for (auto& [id, s] : services_)
    if (NameOf(s.spec) == ref && (removing || !s.gone_at)) return &s;
  // Unique ID prefix, like the engine.
  FakeService* found = nullptr;
  for (auto& [id, s] : services_) {
    if (!removing && s.gone_at) continue;
    if (!ref.empty() && HasPrefix(id, ref)) {
      if (found) return nullptr;
      found = &s;
    }
  }
  return found;
}

FakeEngine::FakeObject* FakeEngine::FindObject(Kind kind, const std::string& ref, bool removing) {
  auto& m = objects_[kind];
  auto it = m.find(ref);
  if (it != m.end()) return removing || !it->second.gone_at ? &it->second : nullptr;
  for (auto& [id, o] : m)
    if (NameOf(o.spec) == ref && (removing || !o.gone_at)) return &o;
  FakeObject* found = nullptr;
  for (auto& [id, o] : m) {
    if (!removing && o.gone_at) continue;
    if (!ref.empty() && HasPrefix(id, ref)) {
      if (found) return nullptr;
      found = &o;
    }
  }
  return found;
}

std::string FakeEngine::FailureOf(const Json& spec) const {
  std::string image = ImageOf(spec);
  for (const auto& [bad, err] : failing_images_) {
    if (image == bad || HasPrefix(image, bad + "@")) return err;
  }
  return "";
}

std::string FakeEngine::Deploy(const FakeService& s) {
  std::string now = Now();
  for (auto& t : tasks_) {
    if (t.service_id == s.id && t.desired_state == "running") {
      t.desired_state = "shutdown";
      if (t.state == "running") t.state = "shutdown";
      t.updated_at = now;
    }
  }
  std::string err = FailureOf(s.spec);
  std::string failed_task;
  uint64_t n = ReplicasOf(s.spec);
  bool global = IsGlobal(s.spec);
  for (uint64_t i = 0; i < n; ++i) {
    Task t;
    t.id = NewId("task");
    t.service_id = s.id;
    t.node_id = node_id_;
    t.slot = global ? 0 : static_cast<int64_t>(i + 1);
    t.desired_state = "running";
    t.state = err.empty() ? "running" : "failed";
    t.message = "started";
    t.error = err;
    t.timestamp = t.created_at = t.updated_at = now;
    t.spec = PackedJson(s.spec.contains("TaskTemplate") ? s.spec["TaskTemplate"] : Json::object());
    if (!err.empty() && failed_task.empty()) failed_task = t.id;
    tasks_.push_back(std::move(t));
  }
  return failed_task;
}

void FakeEngine::Rollout(FakeService& s, bool rollback) {
  std::string now = Now();
  std::string failed = Deploy(s);
  if (rollback) {
    if (failed.empty() || FailureAction(s.spec, "RollbackConfig") == "continue") {
      s.update_status = {{"State", "rollback_completed"},
                         {"StartedAt", now},
                         {"CompletedAt", now},
                         {"Message", "rollback completed"}};
    } else {
      s.update_status = {
          {"State", "rollback_paused"},
          {"StartedAt", now},
          {"Message", "rollback paused due to failure or early termination of task " + failed}};
    }
    return;
  }
  std::string action = FailureAction(s.spec, "UpdateConfig");
  if (failed.empty() || action == "continue") {
    s.update_status = {{"State", "completed"},
                       {"StartedAt", now},
                       {"CompletedAt", now},
                       {"Message", "update completed"}};
    return;
  }
  if (action == "rollback" && !s.previous_spec.is_null()) {
    // Swarm's automatic rollback: Spec <- PreviousSpec, PreviousSpec cleared.
    s.spec = s.previous_spec;
    s.previous_spec = Json();
    std::string failed_again = Deploy(s);
    if (failed_again.empty()) {
      s.update_status = {{"State", "rollback_completed"},
                         {"StartedAt", now},
                         {"CompletedAt", now},
                         {"Message", "rollback completed"}};
    } else {
      s.update_status = {{"State", "rollback_paused"},
                         {"StartedAt", now},
                         {"Message", "rollback paused due to failure or early termination of task " +
                                         failed_again}};
    }
    return;
  }
  s.update_status = {
      {"State", "paused"},
      {"StartedAt", now},
      {"Message", "update paused due to failure or early termination of task " + failed}};
}

Service FakeEngine::ToService(const FakeService& s) const {
  Service out;
  out.id = s.id;
  out.version = s.version;
  out.name = NameOf(s.spec);
  out.labels = LabelsOf(s.spec);
  out.created_at = s.created_at;
  out.spec = s.spec;
  out.update_status = s.update_status;
  return out;
}

Object FakeEngine::ToObject(Kind kind, const FakeObject& o) const {
  Object out;
  out.id = o.id;
  out.version = o.version;
  out.name = NameOf(o.spec);
  out.labels = LabelsOf(o.spec);
  out.created_at = o.created_at;
  out.spec = o.spec;
  if (kind == Kind::kNetwork) {
    // Same shape as DockerEngine: the inspect body minus runtime fields.
    out.version = 0;  // networks have no version
  } else if (kind == Kind::kSecret) {
    out.spec.erase("Data");  // the engine never returns it
  }
  return out;
}

// ---- Engine ----

Status FakeEngine::Ping() {
  std::lock_guard<std::mutex> l(mu_);
  Count("Ping");
  return OkStatus();
}

Result<VersionInfo> FakeEngine::Version() {
  std::lock_guard<std::mutex> l(mu_);
  Count("Version");
  return VersionInfo{"20.10.24", "1.41", "1.12", "linux", "amd64"};
}

Result<SwarmInfo> FakeEngine::Info() {
  std::lock_guard<std::mutex> l(mu_);
  Count("Info");
  SwarmInfo info;
  info.node_id = node_id_;
  info.local_node_state = "active";
  info.control_available = true;
  info.cluster_id = Sha256Hex("cluster").substr(0, 25);
  return info;
}

Status FakeEngine::VisitServices(const Filters& filters, bool with_status,
                                 const std::function<void(Service&&)>& visit) {
  std::vector<Service> out;
  {
    std::lock_guard<std::mutex> l(mu_);
    Count("ListServices");
    RETURN_IF_ERROR(CheckFilterKeys(filters, {"id", "name", "label", "mode"}).WithPrefix("list services"));
    for (const auto& [id, s] : services_) {
      if (!MatchPrefix(id, filters, "id") || !MatchPrefix(NameOf(s.spec), filters, "name") ||
          !MatchLabels(LabelsOf(s.spec), filters) ||
          !MatchExact(IsGlobal(s.spec) ? "global" : "replicated", filters, "mode"))
        continue;
      Service svc = ToService(s);
      if (with_status) {
        svc.status.desired_tasks = ReplicasOf(s.spec);
        for (const auto& t : tasks_)
          if (t.service_id == id && t.desired_state == "running" && t.state == "running")
            ++svc.status.running_tasks;
      }
      out.push_back(std::move(svc));
    }
  }
  for (auto& svc : out) visit(std::move(svc));
  return OkStatus();
}

Result<Service> FakeEngine::InspectService(const std::string& ref) {
  std::lock_guard<std::mutex> l(mu_);
  Count("InspectService");
  FakeService* s = FindService(ref, /*removing=*/true);
  if (!s) return NotFound(Prefix("inspect", "service", ref) + "service " + ref + " not found");
  return ToService(*s);
}

Result<std::string> FakeEngine::CreateService(const Json& spec, const std::string& registry_auth) {
  std::lock_guard<std::mutex> l(mu_);
  Count("CreateService");
  std::string name = NameOf(spec);
  std::string pre = Prefix("create", "service", name);
  if (!spec.is_object()) return InvalidArgument(pre + "spec must be a JSON object");
  if (ImageOf(spec).empty())
    return InvalidArgument(pre + "ContainerSpec: image reference must be provided");
  if (!name.empty() && FindService(name, true) && NameOf(FindService(name, true)->spec) == name)
    return AlreadyExists(pre + "name conflicts with an existing object: service " + name +
                         " already exists");
  RETURN_IF_ERROR(CheckReferences(spec, pre));
  FakeService s;
  s.id = NewId("service");
  s.spec = spec;
  if (name.empty()) s.spec["Name"] = "service-" + s.id.substr(0, 6);
  s.version = Bump();
  s.created_at = s.updated_at = Now();
  Deploy(s);
  std::string id = s.id;
  Emit("service", "create", id, NameOf(s.spec));
  services_[id] = std::move(s);
  return id;
}

Result<std::vector<std::string>> FakeEngine::UpdateService(const std::string& ref, uint64_t version,
                                                           const Json& spec,
                                                           const std::string& registry_auth) {
  std::lock_guard<std::mutex> l(mu_);
  Count("UpdateService");
  std::string pre = Prefix("update", "service", ref);
  FakeService* s = FindService(ref);
  if (!s) return NotFound(pre + "service " + ref + " not found");
  if (!spec.is_object()) return InvalidArgument(pre + "spec must be a JSON object");
  if (ImageOf(spec).empty())
    return InvalidArgument(pre + "ContainerSpec: image reference must be provided");
  if (version != s->version) return Aborted(pre + "update out of sequence");
  if (NameOf(spec) != NameOf(s->spec))
    return FailedPrecondition(pre + "renaming services is not supported");
  RETURN_IF_ERROR(CheckReferences(spec, pre));
  if (IsGlobal(spec) != IsGlobal(s->spec))
    return InvalidArgument(pre + "service mode change is not allowed");
  Json old = s->spec;
  s->previous_spec = old;
  s->spec = spec;
  s->version = Bump();
  s->updated_at = Now();
  bool tasks_changed = old.value("TaskTemplate", Json()) != spec.value("TaskTemplate", Json()) ||
                       ReplicasOf(old) != ReplicasOf(spec);
  if (tasks_changed) {
    Rollout(*s, /*rollback=*/false);
    s->version = Bump();  // the updater's UpdateStatus write
  } else {
    std::string now = Now();
    s->update_status = {{"State", "completed"},
                        {"StartedAt", now},
                        {"CompletedAt", now},
                        {"Message", "update completed"}};
  }
  Emit("service", "update", s->id, NameOf(s->spec));
  return std::vector<std::string>{};
}

Status FakeEngine::RollbackService(const std::string& ref, uint64_t version) {
  std::lock_guard<std::mutex> l(mu_);
  Count("RollbackService");
  std::string pre = Prefix("rollback", "service", ref);
  FakeService* s = FindService(ref);
  if (!s) return NotFound(pre + "service " + ref + " not found");
  if (version != s->version) return Aborted(pre + "update out of sequence");
  if (s->previous_spec.is_null())
    return FailedPrecondition(pre + "service " + s->id + " does not have a previous spec");
  std::swap(s->spec, s->previous_spec);
  s->version = Bump();
  s->updated_at = Now();
  Rollout(*s, /*rollback=*/true);
  s->version = Bump();  // the updater's UpdateStatus write
  Emit("service", "update", s->id, NameOf(s->spec));
  return OkStatus();
}

Status FakeEngine::RemoveService(const std::string& ref) {
  std::lock_guard<std::mutex> l(mu_);
  Count("RemoveService");
  FakeService* s = FindService(ref);
  if (!s) return NotFound(Prefix("remove", "service", ref) + "service " + ref + " not found");
  std::string id = s->id, name = NameOf(s->spec);
  Bump();
  std::erase_if(tasks_, [&](const Task& t) { return t.service_id == id; });
  if (auto end = RemovalEnd("service")) {
    s->gone_at = end;
  } else {
    services_.erase(id);
  }
  Emit("service", "remove", id, name);
  return OkStatus();
}

Result<std::vector<Task>> FakeEngine::ListTasks(const Filters& filters) {
  std::lock_guard<std::mutex> l(mu_);
  Count("ListTasks");
  RETURN_IF_ERROR(
      CheckFilterKeys(filters, {"id", "service", "node", "desired-state"}).WithPrefix("list tasks"));
  // `service` accepts IDs and names; resolve names to IDs first.
  std::vector<std::string> service_ids;
  if (const auto* want = Get(filters, "service")) {
    for (const auto& w : *want) {
      FakeService* s = FindService(w);
      if (!s) return NotFound("list tasks: service " + w + " not found");
      service_ids.push_back(s->id);
    }
  }
  std::vector<Task> out;
  for (const auto& t : tasks_) {
    if (!MatchPrefix(t.id, filters, "id") || !MatchExact(t.node_id, filters, "node") ||
        !MatchExact(t.desired_state, filters, "desired-state"))
      continue;
    if (!service_ids.empty() &&
        std::find(service_ids.begin(), service_ids.end(), t.service_id) == service_ids.end())
      continue;
    out.push_back(t);
  }
  return out;
}

Result<std::vector<Node>> FakeEngine::ListNodes(const Filters& filters) {
  std::lock_guard<std::mutex> l(mu_);
  Count("ListNodes");
  RETURN_IF_ERROR(CheckFilterKeys(filters, {"id", "role", "label"}).WithPrefix("list nodes"));
  Node n;
  n.id = node_id_;
  n.hostname = "fake-node";
  n.role = "manager";
  n.availability = "active";
  n.state = "ready";
  n.addr = "127.0.0.1";
  n.raw = {{"ID", n.id},
           {"Spec", {{"Role", n.role}, {"Availability", n.availability}, {"Labels", Json::object()}}},
           {"Description", {{"Hostname", n.hostname}}},
           {"Status", {{"State", n.state}, {"Addr", n.addr}}},
           {"ManagerStatus", {{"Leader", true}, {"Reachability", "reachable"}}}};
  std::vector<Node> out;
  if (MatchPrefix(n.id, filters, "id") && MatchExact(n.role, filters, "role") &&
      MatchLabels(n.labels, filters))
    out.push_back(std::move(n));
  return out;
}

Result<std::vector<Object>> FakeEngine::ListObjects(Kind kind, const Filters& filters) {
  std::lock_guard<std::mutex> l(mu_);
  Count("ListObjects");
  RETURN_IF_ERROR(CheckFilterKeys(filters, {"id", "name", "label"})
                      .WithPrefix("list " + std::string(KindName(kind)) + "s"));
  std::vector<Object> out;
  for (const auto& [id, o] : objects_[kind]) {
    // The engine matches network names as substrings, secret/config names as prefixes.
    bool name_ok = kind == Kind::kNetwork ? MatchSubstring(NameOf(o.spec), filters, "name")
                                          : MatchPrefix(NameOf(o.spec), filters, "name");
    if (!MatchPrefix(id, filters, "id") || !name_ok ||
        !MatchLabels(LabelsOf(o.spec), filters))
      continue;
    out.push_back(ToObject(kind, o));
  }
  return out;
}

Result<Object> FakeEngine::InspectObject(Kind kind, const std::string& ref) {
  std::lock_guard<std::mutex> l(mu_);
  Count("InspectObject");
  FakeObject* o = FindObject(kind, ref, /*removing=*/true);
  if (!o) return NotFound(Prefix("inspect", KindName(kind), ref) + NotFoundText(kind, ref));
  return ToObject(kind, *o);
}

Result<std::string> FakeEngine::CreateObject(Kind kind, const Json& spec) {
  std::lock_guard<std::mutex> l(mu_);
  Count("CreateObject");
  std::string name = NameOf(spec);
  std::string kind_name(KindName(kind));
  std::string pre = Prefix("create", kind_name, name);
  if (!spec.is_object()) return InvalidArgument(pre + "spec must be a JSON object");
  if (name.empty()) return InvalidArgument(pre + "name must be valid as a DNS name component");
  for (const auto& [id, o] : objects_[kind]) {
    if (NameOf(o.spec) == name) {
      if (kind == Kind::kNetwork)
        return AlreadyExists(pre + "network with name " + name + " already exists");
      return AlreadyExists(pre + kind_name + " " + name + " already exists");
    }
  }
  FakeObject o;
  o.id = NewId(kind_name);
  o.spec = spec;
  if (kind == Kind::kNetwork) {
    // Fill what the engine fills, so specs look like DockerEngine's.
    o.spec.erase("CheckDuplicate");
    if (!o.spec.contains("Driver")) o.spec["Driver"] = "overlay";
    for (const char* k : {"EnableIPv6", "Internal", "Attachable", "Ingress", "ConfigOnly"})
      if (!o.spec.contains(k)) o.spec[k] = false;
    o.spec["Scope"] = "swarm";
    if (!o.spec.contains("ConfigFrom")) o.spec["ConfigFrom"] = {{"Network", ""}};
    if (!o.spec.contains("Labels")) o.spec["Labels"] = Json::object();
    if (!o.spec.contains("Options") || o.spec["Options"].is_null()) o.spec["Options"] = Json::object();
    if (!o.spec.contains("IPAM") || o.spec["IPAM"].is_null())
      o.spec["IPAM"] = {{"Driver", "default"}, {"Options", nullptr}, {"Config", Json::array()}};
    if (o.spec["Driver"] == "overlay") {
      uint64_t n = objects_[kind].size() + 1;
      o.spec["Options"]["com.docker.network.driver.overlay.vxlanid_list"] =
          std::to_string(4096 + n);
      if (o.spec["IPAM"]["Config"].empty()) {
        std::string net = "10.0." + std::to_string(n) + ".";
        o.spec["IPAM"]["Config"] = Json::array({{{"Subnet", net + "0/24"}, {"Gateway", net + "1"}}});
      }
    }
  } else {
    std::string data = spec.value("Data", std::string());
    std::string decoded;
    if (!Base64Decode(data, &decoded)) return InvalidArgument(pre + "Data: illegal base64 data");
    if (kind == Kind::kSecret && decoded.empty())
      return InvalidArgument(pre + "secret data must be larger than 0 and less than 500KB");
    if (!o.spec.contains("Labels")) o.spec["Labels"] = Json::object();
  }
  o.version = Bump();
  o.created_at = o.updated_at = Now();
  std::string id = o.id;
  Emit(kind_name, "create", id, name);
  objects_[kind][id] = std::move(o);
  return id;
}

Status FakeEngine::UpdateObject(Kind kind, const std::string& ref, uint64_t version,
                                const Json& spec) {
  std::lock_guard<std::mutex> l(mu_);
  Count("UpdateObject");
  std::string kind_name(KindName(kind));
  std::string pre = Prefix("update", kind_name, ref);
  if (kind == Kind::kNetwork) return FailedPrecondition(pre + "networks cannot be updated");
  FakeObject* o = FindObject(kind, ref);
  if (!o) return NotFound(pre + NotFoundText(kind, ref));
  if (version != o->version) return Aborted(pre + "update out of sequence");
  // As swarmkit: name change, or Data present and different, is refused.
  bool data_changed = spec.contains("Data") && !spec["Data"].is_null() &&
                      spec["Data"] != o->spec.value("Data", Json());
  if (NameOf(spec) != NameOf(o->spec) || data_changed)
    return FailedPrecondition(pre + "only updates to Labels are allowed");
  o->spec["Labels"] = spec.contains("Labels") && spec["Labels"].is_object() ? spec["Labels"]
                                                                           : Json::object();
  o->version = Bump();
  o->updated_at = Now();
  Emit(kind_name, "update", o->id, NameOf(o->spec));
  return OkStatus();
}

Status FakeEngine::RemoveObject(Kind kind, const std::string& ref) {
  std::lock_guard<std::mutex> l(mu_);
  Count("RemoveObject");
  std::string kind_name(KindName(kind));
  std::string pre = Prefix("remove", kind_name, ref);
  FakeObject* o = FindObject(kind, ref);
  if (!o) return NotFound(pre + NotFoundText(kind, ref));
  // The engine refuses to remove what a service still uses.
  for (const auto& [sid, s] : services_) {
    if (s.gone_at) continue;  // out of the store already
    const Json& tt = s.spec.value("TaskTemplate", Json::object());
    bool used = false;
    if (kind == Kind::kNetwork) {
      for (const Json& n : tt.value("Networks", Json::array()))
        used |= n.value("Target", "") == o->id || n.value("Target", "") == NameOf(o->spec);
      for (const Json& n : s.spec.value("Networks", Json::array()))
        used |= n.value("Target", "") == o->id || n.value("Target", "") == NameOf(o->spec);
    } else {
      const char* key = kind == Kind::kSecret ? "Secrets" : "Configs";
      const Json& cs = tt.value("ContainerSpec", Json::object());
      for (const Json& r : cs.value(key, Json::array()))
        used |= r.value(kind == Kind::kSecret ? "SecretID" : "ConfigID", "") == o->id;
    }
    if (used) {
      if (kind == Kind::kNetwork)
        return FailedPrecondition(pre + "network " + NameOf(o->spec) +
                                  " is in use by service " + sid);
      return FailedPrecondition(pre + kind_name + " '" + NameOf(o->spec) +
                                "' is in use by the following service: " + NameOf(s.spec));
    }
  }
  std::string id = o->id, name = NameOf(o->spec);
  Bump();
  removed_ids_[kind][id] = name;
  if (auto end = RemovalEnd(kind_name)) {
    o->gone_at = end;
  } else {
    objects_[kind].erase(id);
  }
  Emit(kind_name, "remove", id, name);
  return OkStatus();
}

Result<std::string> FakeEngine::DistributionDigest(const std::string& image,
                                                   const std::string& registry_auth) {
  std::lock_guard<std::mutex> l(mu_);
  Count("DistributionDigest");
  auto it = digests_.find(image);
  if (it == digests_.end())
    return NotFound("distribution " + image + ": manifest unknown: manifest unknown");
  return it->second;
}

Status FakeEngine::StreamEvents(const Filters& filters, int64_t since_nano,
                                const std::function<bool(const Json&)>& on_event,
                                int64_t timeout_ms, const std::atomic<bool>* cancel) {
  std::unique_lock<std::mutex> l(mu_);
  Count("StreamEvents");
  RETURN_IF_ERROR(CheckFilterKeys(filters, {"type", "event", "scope"}).WithPrefix("events"));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  // `next` counts events from the first ever emitted (some may be dropped).
  // Without `since` only events after the call, like the engine; with it,
  // the buffered ones from that time on, that time included.
  size_t next = events_dropped_ + events_.size();
  if (since_nano > 0) {
    next = events_dropped_;
    while (next < events_dropped_ + events_.size() &&
           EventTimeNano(events_[next - events_dropped_]) < since_nano)
      ++next;
  }
  for (;;) {
    next = std::max(next, events_dropped_);
    while (next < events_dropped_ + events_.size()) {
      Json e = events_[next++ - events_dropped_];
      if (!MatchExact(e["Type"].get<std::string>(), filters, "type") ||
          !MatchExact(e["Action"].get<std::string>(), filters, "event"))
        continue;
      l.unlock();
      bool more = on_event(e);
      l.lock();
      if (!more) return OkStatus();
    }
    if (cancel && *cancel) return OkStatus();
    // Wakes for new events, and every 50 ms to look at the cancel flag.
    auto wake = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
    if (timeout_ms > 0 && deadline < wake) wake = deadline;
    events_cv_.wait_until(l, wake);
    if (timeout_ms > 0 && std::chrono::steady_clock::now() >= deadline &&
        next == events_dropped_ + events_.size())
      return OkStatus();
  }
}

}  // namespace stackctl::engine
