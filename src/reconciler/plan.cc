#include "reconciler/plan.h"

#include <algorithm>
#include <functional>
#include <map>

namespace stackctl::reconciler {

Result<Plan> BuildPlan(const model::StackSpec& desired, const StackDiff& diff, const PlanOptions& options) {
  Plan plan;
  // Dependency level of every desired service (by compose key).
  std::map<std::string, const model::Service*> by_key;
  for (const auto& s : desired.services) by_key[s.key] = &s;
  std::map<std::string, int> level;  // key -> level
  std::map<std::string, int> visiting;
  std::vector<std::string> path;
  std::function<Result<int>(const std::string&)> depth = [&](const std::string& key) -> Result<int> {
    if (auto it = level.find(key); it != level.end()) return it->second;
    if (visiting[key]) {
      std::string cycle;
      auto start = std::find(path.begin(), path.end(), key);
      for (auto it = start; it != path.end(); ++it) cycle += *it + " -> ";
      return InvalidArgument("services." + *start + ".depends_on: dependency cycle " + cycle + key);
    }
    visiting[key] = 1;
    path.push_back(key);
    int d = 0;
    for (const auto& dep : by_key.at(key)->depends_on) {
      if (!by_key.count(dep)) {
        return InvalidArgument("services." + key + ".depends_on: undefined service " + dep);
      }
      ASSIGN_OR_RETURN(int dd, depth(dep));
      d = std::max(d, dd + 1);
    }
    path.pop_back();
    visiting[key] = 0;
    level[key] = d;
    return d;
  };
  std::map<std::string, std::string> key_of_name;
  for (const auto& s : desired.services) {
    ASSIGN_OR_RETURN(int unused, depth(s.key));
    (void)unused;
    key_of_name[s.name] = s.key;
  }

  std::map<int, std::vector<Step>> levels;
  std::vector<Step> deletions[4];  // indexed by cleanup order
  std::vector<Step> creations[3];  // networks, configs, secrets
  for (const auto& c : diff.changes) {
    if (c.action == Action::kNone) continue;
    Step step{c.kind, c.action, c.name};
    if (c.action == Action::kDelete) {
      int order = c.kind == ResourceKind::kService   ? 0
                  : c.kind == ResourceKind::kNetwork ? 1
                  : c.kind == ResourceKind::kConfig  ? 2
                                                     : 3;
      deletions[order].push_back(step);
      continue;
    }
    switch (c.kind) {
      case ResourceKind::kNetwork:
        if (c.action == Action::kRecreate) {
          std::string paths;
          for (const auto& p : c.paths) paths += (paths.empty() ? "" : ", ") + p;
          return FailedPrecondition("network " + c.name + " changed (" + paths +
                                    "): networks cannot be updated in place; remove the services "
                                    "attached to it (or rename the network) and deploy again");
        }
        creations[0].push_back(step);
        break;
      case ResourceKind::kConfig: creations[1].push_back(step); break;
      case ResourceKind::kSecret: creations[2].push_back(step); break;
      case ResourceKind::kService: levels[level[key_of_name[c.name]]].push_back(step); break;
    }
  }
  for (auto& v : creations) {
    std::sort(v.begin(), v.end(), [](const Step& a, const Step& b) { return a.name < b.name; });
    plan.prepare.insert(plan.prepare.end(), v.begin(), v.end());
  }
  for (auto& [lvl, steps] : levels) {
    std::sort(steps.begin(), steps.end(), [](const Step& a, const Step& b) { return a.name < b.name; });
    size_t chunk = options.parallelism > 0 ? static_cast<size_t>(options.parallelism) : steps.size();
    for (size_t i = 0; i < steps.size(); i += chunk) {
      plan.waves.emplace_back(steps.begin() + i, steps.begin() + std::min(steps.size(), i + chunk));
    }
  }
  for (auto& v : deletions) {
    std::sort(v.begin(), v.end(), [](const Step& a, const Step& b) { return a.name < b.name; });
    plan.cleanup.insert(plan.cleanup.end(), v.begin(), v.end());
  }
  return plan;
}

}  // namespace stackctl::reconciler
