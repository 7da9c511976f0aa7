// How `stackctl status` and `stackctl history` present a stack, whether the
// data comes from the engine (reconciler::Deployer) or from a running
// stackctld (apiclient::Client, `stackctl --server URL ...`). One home for both
// formats: each source is first turned into the same JSON document, and the
// text tables are printed from that document only.
//
//   status:  {"stack", "pinned", "pinned_by", "pinned_revision", "revision",
//             "last_result", "last_message", "last_finished", "health",
//             "services": [{"name", "image", "mode", "running", "desired",
//                           "health", "update_state", "message"}]}
//            from a controller also "sync", "target_revision", "failed_revision", "out_of_sync",
//            "last_error", "auto_sync", and while the stack's repository is
//            failing "repository_error", "repository_failing_since",
//            "repository_stale" (printed when present).
//   history: [{"seq", "revision", "trigger", "started_at", "finished_at",
//              "result", "message", "changes"}]  (newest first, no specs)
//
// Thread safety: plain functions.
#pragma once

#include <ostream>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "reconciler/deployer.h"
#include "reconciler/history.h"

namespace stackctl::cli {

// The status document of a stack read from the engine.
Json StatusJson(const reconciler::StackStatus& st);
// The status document of a stack from a controller's GET /api/v1/stacks/{name}.
Json StatusJsonFromController(const Json& stack);
void PrintStatusText(const Json& status, std::ostream& out);

// The table of GET /api/v1/stacks ({"stacks": [...]}), one line per stack.
void PrintStackListText(const Json& stacks, std::ostream& out);

// History records without their specs.
Json HistoryJson(const std::vector<reconciler::HistoryRecord>& records);
// The records of a controller's GET /api/v1/stacks/{name}/history.
Result<std::vector<reconciler::HistoryRecord>> HistoryFromController(const Json& doc);
void PrintHistoryText(const std::vector<reconciler::HistoryRecord>& records, std::ostream& out);

}  // namespace stackctl::cli
