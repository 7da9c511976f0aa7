#include "cli/stack_view.h"

#include <iomanip>

namespace stackctl::cli {

namespace {

// One cell of a text table: `text` padded to `width`, or followed by one
// space when it is wider (a long service name or "rollback_completed" must
// not run into the next column).
struct Cell {
  std::string text;
  size_t width;
};
std::ostream& operator<<(std::ostream& out, const Cell& c) {
  out << c.text;
  return out << std::string(c.text.size() < c.width ? c.width - c.text.size() : 1, ' ');
}

std::string Str(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t Int(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

// The stack's health from its services' (reconciler::StackHealthOf), given
// as their names (HealthStateName) by a controller.
std::string StackHealth(const std::vector<reconciler::HealthState>& services) {
  return std::string(reconciler::StackHealthName(reconciler::StackHealthOf(services)));
}

reconciler::HealthState HealthFromName(const std::string& name) {
  for (auto s : {reconciler::HealthState::kConverged, reconciler::HealthState::kFailed}) {
    if (reconciler::HealthStateName(s) == name) return s;
  }
  return reconciler::HealthState::kProgressing;
}

}  // namespace

Json StatusJson(const reconciler::StackStatus& st) {
  Json j = {{"stack", st.stack},
            {"pinned", st.control.pinned},
            {"pinned_by", st.control.pinned_by},
            {"pinned_revision", st.control.pinned_revision},
            {"services", Json::array()}};
  if (st.last) {
    j["revision"] = st.last->revision;
    j["last_result"] = std::string(reconciler::HistoryResultName(st.last->result));
    j["last_message"] = st.last->message;
    j["last_finished"] = st.last->finished_at;
  }
  std::vector<reconciler::HealthState> health;
  for (const auto& s : st.services) {
    health.push_back(s.health.state);
    j["services"].push_back(reconciler::ServiceStatusJson(s));
  }
  j["health"] = StackHealth(health);
  return j;
}

Json StatusJsonFromController(const Json& stack) {
  Json j = {{"stack", Str(stack, "name")},
            {"pinned", stack.value("pinned", false)},
            {"pinned_by", Str(stack, "pinned_by")},
            {"pinned_revision", Str(stack, "pinned_revision")},
            {"revision", Str(stack, "revision")},
            {"services", Json::array()}};
  // The newest history record is what the local status reports as "last".
  auto hist = stack.find("history");
  if (hist != stack.end() && hist->is_array() && !hist->empty()) {
    const Json& last = hist->front();
    j["last_result"] = Str(last, "result");
    j["last_message"] = Str(last, "message");
    j["last_finished"] = Str(last, "finished_at");
  }
  std::vector<reconciler::HealthState> service_health;
  auto services = stack.find("services");
  if (services != stack.end() && services->is_array()) {
    for (const auto& s : *services) {
      std::string health = Str(s, "health");
      service_health.push_back(HealthFromName(health));
      j["services"].push_back({{"name", Str(s, "name")},
                               {"image", Str(s, "image")},
                               {"mode", Str(s, "mode")},
                               {"running", Int(s, "running")},
                               {"desired", Int(s, "desired")},
                               {"health", health},
                               {"update_state", Str(s, "update_state")},
                               {"message", Str(s, "message")}});
    }
  }
  j["health"] = StackHealth(service_health);
  for (const char* key : {"sync", "target_revision", "failed_revision", "last_error", "live_error",
                          "repository", "repository_error", "repository_failing_since"}) {
    if (!Str(stack, key).empty()) j[key] = Str(stack, key);
  }
  for (const char* key : {"out_of_sync", "auto_sync", "repository_stale"}) {
    if (stack.contains(key) && stack[key].is_boolean()) j[key] = stack[key];
  }
  return j;
}

void PrintStatusText(const Json& j, std::ostream& out) {
  const std::string stack = Str(j, "stack");
  out << "Stack:     " << stack << "\n";
  if (!Str(j, "revision").empty() || !Str(j, "last_result").empty()) {
    out << "Revision:  " << OrDash(Str(j, "revision"));
    if (!Str(j, "last_result").empty()) {
      out << " (" << Str(j, "last_result") << " at " << Str(j, "last_finished") << ")";
    }
    out << "\n";
  }
  if (j.contains("sync")) {
    out << "Sync:      " << Str(j, "sync");
    std::string target = Str(j, "target_revision");
    if (!target.empty() && target != Str(j, "revision")) out << " (target " << target << ")";
    out << "\n";
  }
  if (!Str(j, "failed_revision").empty() && Str(j, "failed_revision") != Str(j, "revision")) {
    out << "Failed:    " << Str(j, "failed_revision") << " (not tried again until a new commit)\n";
  }
  if (!Str(j, "last_error").empty()) out << "Error:     " << Str(j, "last_error") << "\n";
  if (!Str(j, "live_error").empty()) out << "Live:      " << Str(j, "live_error") << "\n";
  // The stack's repository cannot be resolved or fetched (stale: for longer
  // than three poll intervals, which also makes /readyz answer 503).
  if (!Str(j, "repository_error").empty()) {
    out << "Remote:    failing";
    if (!Str(j, "repository_failing_since").empty())
      out << " since " << Str(j, "repository_failing_since");
    if (j.value("repository_stale", false)) out << " (stale)";
    out << ": " << Str(j, "repository_error") << "\n";
  }
  std::string pinned = "no";
  if (j.value("pinned", false)) {
    std::string by = Str(j, "pinned_by");
    pinned = (by.empty() ? std::string("yes") : "yes, by " + by) + " (stackctl resume " + stack +
             " to hand it back to the controller)";
  }
  out << "Pinned:    " << pinned << "\n";
  out << "Health:    " << Str(j, "health") << "\n\n";
  out << std::left << std::setw(32) << "SERVICE" << std::setw(11) << "MODE" << std::setw(10) << "REPLICAS"
      << std::setw(13) << "HEALTH" << std::setw(11) << "UPDATE" << "IMAGE\n";
  for (const auto& s : j.value("services", Json::array())) {
    out << Cell{Str(s, "name"), 32} << Cell{OrDash(Str(s, "mode")), 11}
        << Cell{std::to_string(Int(s, "running")) + "/" + std::to_string(Int(s, "desired")), 10}
        << Cell{Str(s, "health"), 13} << Cell{OrDash(Str(s, "update_state")), 11} << Str(s, "image")
        << "\n";
  }
}

void PrintStackListText(const Json& stacks, std::ostream& out) {
  out << std::left << std::setw(24) << "STACK" << std::setw(16) << "REPOSITORY" << std::setw(14) << "REVISION"
      << std::setw(13) << "SYNC" << std::setw(11) << "HEALTH" << std::setw(22) << "LAST SYNC" << "LAST RESULT\n";
  for (const auto& s : stacks.value("stacks", Json::array())) {
    out << Cell{Str(s, "name"), 24} << Cell{OrDash(Str(s, "repository")), 16}
        << Cell{OrDash(Str(s, "revision").substr(0, 12)), 14} << Cell{OrDash(Str(s, "sync")), 13}
        << Cell{OrDash(Str(s, "health")), 11} << Cell{OrDash(Str(s, "last_sync_time")), 22}
        << OrDash(Str(s, "last_result")) << "\n";
  }
}

Json HistoryJson(const std::vector<reconciler::HistoryRecord>& records) {
  Json arr = Json::array();
  for (auto r : records) {
    r.spec = Json();
    Json j = reconciler::RecordToJson(r);
    j.erase("spec");
    arr.push_back(j);
  }
  return arr;
}

Result<std::vector<reconciler::HistoryRecord>> HistoryFromController(const Json& doc) {
  auto it = doc.find("history");
  if (it == doc.end() || !it->is_array()) {
    return InvalidArgument("history answer without a \"history\" array");
  }
  std::vector<reconciler::HistoryRecord> out;
  for (Json r : *it) {
    if (!r.is_object()) return InvalidArgument("history answer: a record is not an object");
    if (!r.contains("spec")) r["spec"] = nullptr;  // the API never sends specs
    ASSIGN_OR_RETURN(reconciler::HistoryRecord rec, reconciler::RecordFromJson(r));
    out.push_back(std::move(rec));
  }
  return out;
}

void PrintHistoryText(const std::vector<reconciler::HistoryRecord>& records, std::ostream& out) {
  out << std::left << std::setw(5) << "SEQ" << std::setw(22) << "FINISHED" << std::setw(13) << "RESULT"
      << std::setw(10) << "TRIGGER" << std::setw(14) << "REVISION" << "MESSAGE\n";
  for (const auto& r : records) {
    out << Cell{std::to_string(r.seq), 5} << Cell{r.finished_at, 22}
        << Cell{std::string(reconciler::HistoryResultName(r.result)), 13}
        << Cell{std::string(reconciler::TriggerName(r.trigger)), 10}
        << Cell{r.revision.substr(0, 12), 14} << r.message << "\n";
  }
}

}  // namespace stackctl::cli
