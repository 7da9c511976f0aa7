#include "reconciler/removal.h"

#include <map>
#include <regex>
#include <set>

#include "model/stack.h"

namespace stackctl::reconciler {

Result<std::vector<std::string>> WaitUntilGone(engine::Engine& engine, Clock& clock, const std::string& stack,
                                               const std::vector<Removed>& removed,
                                               std::chrono::milliseconds wait, std::chrono::milliseconds poll) {
  const engine::Filters by_stack{{"label", {std::string(model::kStackNamespaceLabel) + "=" + stack}}};
  const auto deadline = clock.Steady() + wait;
  std::vector<const Removed*> pending;
  for (const auto& r : removed) pending.push_back(&r);
  for (;;) {
    // The IDs still listed, per kind (services under nullopt).
    std::map<std::optional<engine::Kind>, std::set<std::string>> listed;
    std::set<std::optional<engine::Kind>> kinds;
    for (const Removed* r : pending) kinds.insert(r->kind);
    for (const auto& kind : kinds) {
      auto& ids = listed[kind];
      if (!kind) {
        RETURN_IF_ERROR(engine.VisitServices(by_stack, false, [&](engine::Service&& s) { ids.insert(s.id); }));
        continue;
      }
      ASSIGN_OR_RETURN(auto objs, engine.ListObjects(*kind, by_stack));
      for (const auto& o : objs) ids.insert(o.id);
    }
    std::erase_if(pending, [&](const Removed* r) { return !listed[r->kind].count(r->id); });
    if (pending.empty() || clock.Steady() >= deadline) break;
    clock.SleepFor(poll);
  }
  std::vector<std::string> still;
  for (const Removed* r : pending) still.push_back(r->what);
  return still;
}

bool IsMissingReference(const Status& st) {
  if (st.code() != Code::kNotFound && st.code() != Code::kInvalidArgument) return false;
  static const std::regex kMissing(R"((network|secret|config|service)s? (\S+ )?not found)");
  return std::regex_search(st.message(), kMissing);
}

}  // namespace stackctl::reconciler
