#include "reconciler/health.h"

#include "reconciler/normalize.h"

#include <algorithm>
#include <set>

namespace stackctl::reconciler {

std::string_view StackHealthName(StackHealth h) {
  switch (h) {
    case StackHealth::kUnknown: return "unknown";
    case StackHealth::kHealthy: return "healthy";
    case StackHealth::kDegraded: return "degraded";
  }
  return "unknown";
}

StackHealth StackHealthOf(const std::vector<HealthState>& services) {
  if (services.empty()) return StackHealth::kUnknown;
  for (HealthState s : services) {
    if (s != HealthState::kConverged) return StackHealth::kDegraded;
  }
  return StackHealth::kHealthy;
}

std::string_view HealthStateName(HealthState s) {
  switch (s) {
    case HealthState::kProgressing: return "progressing";
    case HealthState::kConverged: return "converged";
    case HealthState::kFailed: return "failed";
  }
  return "?";
}

namespace {

// The template a task is compared by. Placement is left out: Swarm keeps a
// task whose node still satisfies a changed placement (its Spec keeps the old
// one) and replaces only the others, so a running task with an older
// placement is as current as it will get.
Json ComparableTemplate(const Json& templ) {
  Json t = NormalizeTaskTemplate(templ, {});
  if (t.is_object()) t.erase("Placement");
  return t;
}

bool IsCurrent(const engine::Task& t, const Json& comparable_templ) {
  if (t.spec.empty()) return true;
  return ComparableTemplate(t.spec.Unpack()) == comparable_templ;
}

bool IsFailedState(const std::string& s) { return s == "failed" || s == "rejected"; }
bool IsPendingState(const std::string& s) {
  static const std::set<std::string> kPending = {"new",      "pending",   "assigned", "accepted",
                                                 "ready",    "preparing", "starting", "allocated"};
  return kPending.count(s) > 0;
}

}  // namespace

ServiceHealth EvaluateHealth(const LiveService& service, const std::vector<engine::Task>& tasks) {
  ServiceHealth h;
  const Json spec = service.spec.Unpack();
  const Json templ = spec.value("TaskTemplate", Json::object());
  if (service.update_status.is_object()) h.update_state = service.update_status.value("State", "");
  const Json mode = spec.value("Mode", Json::object());
  h.global = mode.contains("Global");
  if (h.global) {
    h.desired = service.status.desired_tasks;
  } else if (mode.contains("Replicated")) {
    h.desired = mode["Replicated"].value("Replicas", 1);
  } else if (mode.empty()) {
    h.desired = 1;
  } else {
    h.desired = service.status.desired_tasks;  // jobs
  }
  std::string condition = templ.value("RestartPolicy", Json::object()).value("Condition", "any");
  bool one_shot = condition == "none" || condition == "on-failure" || mode.contains("ReplicatedJob") ||
                  mode.contains("GlobalJob");

  uint64_t failed = 0, complete = 0, pending = 0;
  std::string last_error;
  std::string last_error_time;
  const Json normalized_templ = ComparableTemplate(templ);
  for (const auto& t : tasks) {
    if (!IsCurrent(t, normalized_templ)) continue;
    if (t.desired_state == "running" && t.state == "running") ++h.running;
    if (t.state == "complete") ++complete;
    if (IsPendingState(t.state) && t.desired_state == "running") ++pending;
    if (IsFailedState(t.state)) {
      ++failed;
      if (t.timestamp >= last_error_time) {
        last_error_time = t.timestamp;
        last_error = !t.error.empty() ? t.error : t.message;
      }
    }
  }

  auto fail = [&](std::string why) {
    h.state = HealthState::kFailed;
    h.message = std::move(why);
    if (!last_error.empty() && h.message.find(last_error) == std::string::npos) {
      h.message += h.message.empty() ? last_error : ": " + last_error;
    }
    return h;
  };

  if (h.update_state == "paused" || h.update_state == "rollback_started" ||
      h.update_state == "rollback_paused" || h.update_state == "rollback_completed") {
    std::string msg = service.update_status.value("Message", "");
    return fail("update " + h.update_state + (msg.empty() ? "" : " (" + msg + ")"));
  }
  if (h.update_state == "updating") return h;

  if (one_shot) {
    if (condition == "none" && failed > 0) return fail("task failed");
    if (pending == 0 && h.running + complete >= h.desired) h.state = HealthState::kConverged;
    return h;
  }
  // Two failures at least: one crash of a new task can be a fluke Swarm recovers from.
  if (h.desired > 0 && failed >= std::max<uint64_t>(h.desired, 2)) return fail("tasks failed");
  if (h.running >= h.desired) h.state = HealthState::kConverged;
  return h;
}

}  // namespace stackctl::reconciler
