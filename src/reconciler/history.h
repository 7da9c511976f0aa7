// Deploy history and per-stack controls, kept in the swarm itself.
//
// The swarm is the database (DESIGN.md): a record per deploy is a Swarm config
// named "stackctl-history-<stack>-<seq>", labelled io.stackctl.history=<stack>
// (deliberately *not* with the stack namespace label, so `docker stack rm`
// keeps history and the stack's config list stays small). Its data is the
// zlib-compressed canonical JSON of the record, including the fully resolved
// specs (digest-pinned images, content-hashed secret names, never secret
// values), so a rollback never re-resolves tags and works from any manager.
//
// The control record ("stackctl-control-<stack>", a config carrying the
// stack's namespace label so it is read with the stack's configs) holds
// labels only: whether the stack is pinned after a manual deploy/rollback, and
// the networks stackctl adopted (live.h, kAdoptedNetworkLabelPrefix).
//
// Thread safety: HistoryStore is not synchronized; callers hold the stack lock.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "engineapi/engine.h"
#include "model/stack.h"
#include "reconciler/policy.h"

namespace stackctl::reconciler {

inline constexpr char kHistoryLabel[] = "io.stackctl.history";

// How a deploy ended, as recorded ("succeeded", "failed", "rolled-back").
enum class HistoryResult { kSucceeded, kFailed, kRolledBack };
std::string_view HistoryResultName(HistoryResult r);
// kInvalidArgument naming the value for anything else.
Result<HistoryResult> ParseHistoryResult(const std::string& s);

struct HistoryRecord {
  int64_t seq = 0;
  std::string revision;  // git commit, "manual", or "rollback-of:<seq>"
  Trigger trigger = Trigger::kCli;  // who asked for the deploy
  std::string started_at, finished_at;  // RFC 3339
  HistoryResult result = HistoryResult::kSucceeded;
  std::string message;
  std::vector<std::string> changes;  // "service web: update (TaskTemplate.ContainerSpec.Image)"
  // Removed by the deploy but still listed by the engine when it stopped
  // waiting ("network web_default"); absent from records written before.
  std::vector<std::string> still_removing;
  // The desired state of this deploy, as StackSpecFromJson reads it. Append
  // with a Prepared record takes it from there instead.
  Json spec;
};

Json RecordToJson(HistoryRecord r);  // by value: the spec is moved in
Result<HistoryRecord> RecordFromJson(const Json& j);

// Text deflated apart from the rest of a record (raw deflate, ending on a
// byte boundary), with what joining it into one zlib stream needs.
struct DeflatedText {
  std::string raw;
  uint32_t adler = 1;   // Adler-32 of the text (1: of no text)
  uint64_t length = 0;  // of the text
};

// The canonical text of a stack as a record holds it, without any secret or
// config content, deflated; written from the packed service specs one at a
// time, never as one DOM (a 1,000-service stack is megabytes as a DOM).
Result<DeflatedText> DeflateStackSpec(const model::StackSpec& s);
Result<model::StackSpec> StackSpecFromJson(const Json& j);

class HistoryStore {
 public:
  HistoryStore(engine::Engine& engine, std::string stack) : engine_(engine), stack_(std::move(stack)) {}
  // What Append needs that does not depend on how a rollout ends: the
  // record's spec, deflated, and the stack's records as listed (sequence
  // number and ID only: their data is not kept while the rollout runs). A rollout
  // makes it while its writes are in flight (it holds the stack lock, so the
  // list stays true), leaving only the record's create for its end.
  struct Prepared {
    DeflatedText spec;
    std::vector<std::pair<int64_t, std::string>> existing;  // seq, config ID
  };
  Result<Prepared> Prepare(const model::StackSpec& spec);

  // Newest first.
  Result<std::vector<HistoryRecord>> List();
  // The revision of the newest record whose result is "succeeded", from the
  // records' labels only (no record is inflated); nullopt when there is none.
  Result<std::optional<std::string>> LastSucceededRevision();
  // Stores `record` with the next sequence number (returned) and removes all
  // but the newest `keep` records. The first form takes the spec from
  // record.spec; the second from `prepared` (record.spec is ignored).
  Result<int64_t> Append(HistoryRecord record, size_t keep);
  Result<int64_t> Append(HistoryRecord record, Prepared prepared, size_t keep);
  // Removes every record of the stack (stackctl rm).
  Status RemoveAll();

 private:
  Result<std::vector<engine::Object>> ListObjects();
  Result<std::vector<std::pair<int64_t, std::string>>> ListSeqs();  // seq, ID of each record
  engine::Engine& engine_;
  std::string stack_;
};

struct StackControl {
  bool pinned = false;
  std::string pinned_by;  // "deploy" | "rollback"
  std::string pinned_revision;
  std::string pinned_at;
  // Networks made outside stackctl that it took over: name -> network ID.
  std::map<std::string, std::string> adopted_networks{};  // initialized: brace lists may stop early
};

StackControl ControlFromObject(const std::optional<engine::Object>& obj);
// Creates or relabels the control record. `existing` as read in LiveState; a
// record created since (by another step of the same rollout) is relabelled.
Status WriteControl(engine::Engine& engine, const std::string& stack, const StackControl& control,
                    const std::optional<engine::Object>& existing);

}  // namespace stackctl::reconciler
