#include "reconciler/history.h"

#include <zlib.h>

#include <algorithm>

#include "common/crypto.h"
#include "reconciler/live.h"

namespace stackctl::reconciler {
namespace {

constexpr char kSeqLabel[] = "io.stackctl.seq";
constexpr char kPinnedLabel[] = "io.stackctl.pinned";
constexpr char kPinnedByLabel[] = "io.stackctl.pinned-by";
constexpr char kPinnedRevisionLabel[] = "io.stackctl.pinned-revision";
constexpr char kPinnedAtLabel[] = "io.stackctl.pinned-at";

// zlib (the format compress2 writes) of the canonical text of `j`, deflated
// piece by piece as WriteCanonicalJson hands it over: the text of a
// 1,000-service record is megabytes and is never held whole.
Result<std::string> CompressCanonicalJson(const Json& j) {
  z_stream zs{};
  if (deflateInit(&zs, 6) != Z_OK) return Internal("history: deflateInit failed");
  std::string out;
  auto deflate_piece = [&](std::string_view in, int flush) {
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    for (;;) {
      unsigned char buf[16384];
      zs.next_out = buf;
      zs.avail_out = sizeof buf;
      int rc = deflate(&zs, flush);
      if (rc == Z_STREAM_ERROR) return false;
      out.append(reinterpret_cast<char*>(buf), sizeof buf - zs.avail_out);
      // Z_NO_FLUSH: all input taken once the output has room to spare.
      if (flush == Z_FINISH ? rc == Z_STREAM_END : zs.avail_out != 0) return true;
    }
  };
  // WriteCanonicalJson's pieces are small (a key, a number): gathered first.
  std::string pending;
  bool ok = true;
  WriteCanonicalJson(j, [&](std::string_view piece) {
    pending.append(piece);
    if (pending.size() >= 65536) {
      ok = ok && deflate_piece(pending, Z_NO_FLUSH);
      pending.clear();
    }
  });
  ok = ok && deflate_piece(pending, Z_FINISH);
  deflateEnd(&zs);
  if (!ok) return Internal("history: compression failed");
  return out;
}

Result<std::string> Decompress(const std::string& in, const std::string& what) {
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return Internal("history: inflateInit failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = in.size();
  std::string out;
  char buf[65536];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return InvalidArgument(what + ": corrupt history record");
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > (64u << 20)) {
      inflateEnd(&zs);
      return InvalidArgument(what + ": history record too large");
    }
  } while (rc != Z_STREAM_END);
  inflateEnd(&zs);
  return out;
}

Json BlobToJson(model::Blob* b) {
  return {{"key", b->key}, {"name", b->name}, {"external", b->external}, {"spec", std::move(b->spec)}};
}

}  // namespace

Json MoveStackSpecToJson(model::StackSpec* s) {
  Json j = {{"name", s->name}};
  j["networks"] = Json::array();
  for (auto& n : s->networks) {
    j["networks"].push_back(
        {{"key", n.key}, {"name", n.name}, {"external", n.external}, {"spec", std::move(n.spec)}});
  }
  j["secrets"] = Json::array();
  for (auto& b : s->secrets) j["secrets"].push_back(BlobToJson(&b));
  j["configs"] = Json::array();
  for (auto& b : s->configs) j["configs"].push_back(BlobToJson(&b));
  j["services"] = Json::array();
  for (auto& sv : s->services) {
    j["services"].push_back(
        {{"key", sv.key}, {"name", sv.name}, {"spec", sv.spec.TakeAsBinary()}, {"depends_on", sv.depends_on}});
  }
  return j;
}

Result<model::StackSpec> StackSpecFromJson(const Json& j) {
  try {
    model::StackSpec s;
    s.name = j.at("name").get<std::string>();
    for (const auto& n : j.at("networks")) {
      s.networks.push_back({n.at("key"), n.at("name"), n.at("external"), n.at("spec")});
    }
    for (const char* kind : {"secrets", "configs"}) {
      auto& dst = std::string(kind) == "secrets" ? s.secrets : s.configs;
      for (const auto& b : j.at(kind)) {
        dst.push_back({b.at("key"), b.at("name"), b.at("external"), b.at("spec"), ""});
      }
    }
    for (const auto& sv : j.at("services")) {
      s.services.push_back({sv.at("key"), sv.at("name"), PackedJson(sv.at("spec")),
                            sv.at("depends_on").get<std::vector<std::string>>()});
    }
    return s;
  } catch (const Json::exception& e) {
    return InvalidArgument(std::string("history record: malformed stack spec: ") + e.what());
  }
}

std::string_view HistoryResultName(HistoryResult r) {
  switch (r) {
    case HistoryResult::kSucceeded: return "succeeded";
    case HistoryResult::kFailed: return "failed";
    case HistoryResult::kRolledBack: return "rolled-back";
  }
  return "failed";
}

Result<HistoryResult> ParseHistoryResult(const std::string& s) {
  for (HistoryResult r : {HistoryResult::kSucceeded, HistoryResult::kFailed, HistoryResult::kRolledBack}) {
    if (HistoryResultName(r) == s) return r;
  }
  return InvalidArgument("result: unknown value \"" + s + "\" (succeeded, failed or rolled-back)");
}

Json RecordToJson(HistoryRecord r) {
  Json j = {{"seq", r.seq},         {"revision", r.revision},     {"trigger", std::string(TriggerName(r.trigger))},
            {"started_at", r.started_at}, {"finished_at", r.finished_at}, {"result", std::string(HistoryResultName(r.result))},
            {"message", r.message}, {"changes", r.changes}, {"still_removing", r.still_removing}};
  // Moved, not copied: the spec of a 1,000-service stack is megabytes as a DOM.
  j["spec"] = std::move(r.spec);
  return j;
}

Result<HistoryRecord> RecordFromJson(const Json& j) {
  try {
    HistoryRecord r;
    r.seq = j.at("seq");
    r.revision = j.at("revision");
    Result<Trigger> trigger = ParseTrigger(j.at("trigger").get<std::string>());
    if (!trigger.ok()) return trigger.status().WithPrefix("history record " + std::to_string(r.seq));
    r.trigger = *trigger;
    r.started_at = j.at("started_at");
    r.finished_at = j.at("finished_at");
    Result<HistoryResult> result = ParseHistoryResult(j.at("result").get<std::string>());
    if (!result.ok()) return result.status().WithPrefix("history record " + std::to_string(r.seq));
    r.result = *result;
    r.message = j.at("message");
    r.changes = j.at("changes").get<std::vector<std::string>>();
    if (auto it = j.find("still_removing"); it != j.end()) r.still_removing = it->get<std::vector<std::string>>();
    r.spec = j.at("spec");
    return r;
  } catch (const Json::exception& e) {
    return InvalidArgument(std::string("history record: ") + e.what());
  }
}

Result<std::vector<engine::Object>> HistoryStore::ListObjects() {
  return engine_.ListObjects(engine::Kind::kConfig,
                             {{"label", {std::string(kHistoryLabel) + "=" + stack_}}});
}

Result<std::vector<HistoryRecord>> HistoryStore::List() {
  ASSIGN_OR_RETURN(auto objs, ListObjects());
  std::vector<HistoryRecord> out;
  for (const auto& o : objs) {
    std::string data;
    std::string b64 = o.spec.value("Data", "");
    if (!Base64Decode(b64, &data)) return InvalidArgument("config " + o.name + ": bad base64 data");
    ASSIGN_OR_RETURN(std::string text, Decompress(data, "config " + o.name));
    ASSIGN_OR_RETURN(Json j, ParseJson(text, "config " + o.name));
    ASSIGN_OR_RETURN(HistoryRecord r, RecordFromJson(j));
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.seq > b.seq; });
  return out;
}

Result<int64_t> HistoryStore::Append(HistoryRecord record, size_t keep) {
  ASSIGN_OR_RETURN(auto objs, ListObjects());
  std::vector<std::pair<int64_t, std::string>> existing;  // seq, id
  int64_t next = 1;
  for (const auto& o : objs) {
    auto it = o.labels.find(kSeqLabel);
    int64_t seq = it == o.labels.end() ? 0 : std::atoll(it->second.c_str());
    existing.emplace_back(seq, o.id);
    next = std::max(next, seq + 1);
  }
  const std::string result(HistoryResultName(record.result));
  const std::string revision = record.revision;
  Json record_json = RecordToJson(std::move(record));
  for (int attempt = 0; attempt < 5; ++attempt, ++next) {
    record_json["seq"] = next;
    ASSIGN_OR_RETURN(std::string packed, CompressCanonicalJson(record_json));
    Json spec = {{"Name", "stackctl-history-" + stack_ + "-" + std::to_string(next)},
                 {"Labels",
                  {{kHistoryLabel, stack_},
                   {kSeqLabel, std::to_string(next)},
                   {model::kManagedByLabel, model::kManagedByValue},
                   {kKindLabel, "history"},
                   {"io.stackctl.result", result},
                   {model::kRevisionLabel, revision}}},
                 {"Data", Base64Encode(packed)}};
    auto created = engine_.CreateObject(engine::Kind::kConfig, spec);
    if (created.ok()) break;
    if (created.status().code() != Code::kAlreadyExists || attempt == 4) {
      return created.status().WithPrefix("history of stack " + stack_);
    }
  }
  const int64_t stored = next;
  record_json = Json();
  // Retention: drop the oldest beyond `keep` (the new one counts).
  std::sort(existing.begin(), existing.end(), std::greater<>());
  for (size_t i = keep > 0 ? keep - 1 : 0; i < existing.size(); ++i) {
    Status st = engine_.RemoveObject(engine::Kind::kConfig, existing[i].second);
    if (!st.ok() && st.code() != Code::kNotFound) return st.WithPrefix("history retention");
  }
  return stored;
}

Status HistoryStore::RemoveAll() {
  ASSIGN_OR_RETURN(auto objs, ListObjects());
  for (const auto& o : objs) {
    Status st = engine_.RemoveObject(engine::Kind::kConfig, o.id);
    if (!st.ok() && st.code() != Code::kNotFound) return st;
  }
  return OkStatus();
}

StackControl ControlFromObject(const std::optional<engine::Object>& obj) {
  StackControl c;
  if (!obj) return c;
  auto get = [&](const char* k) {
    auto it = obj->labels.find(k);
    return it == obj->labels.end() ? std::string() : it->second;
  };
  c.pinned = get(kPinnedLabel) == "true";
  c.pinned_by = get(kPinnedByLabel);
  c.pinned_revision = get(kPinnedRevisionLabel);
  c.pinned_at = get(kPinnedAtLabel);
  c.adopted_networks = AdoptedNetworksOf(obj->labels);
  return c;
}

Status WriteControl(engine::Engine& engine, const std::string& stack, const StackControl& control,
                    const std::optional<engine::Object>& existing) {
  Json labels = {{model::kStackNamespaceLabel, stack},
                 {model::kManagedByLabel, model::kManagedByValue},
                 {kKindLabel, "control"},
                 {kPinnedLabel, control.pinned ? "true" : "false"},
                 {kPinnedByLabel, control.pinned_by},
                 {kPinnedRevisionLabel, control.pinned_revision},
                 {kPinnedAtLabel, control.pinned_at}};
  for (const auto& [name, id] : control.adopted_networks) labels[kAdoptedNetworkLabelPrefix + name] = id;
  std::string name = "stackctl-control-" + stack;
  std::string ref = existing ? existing->id : name;
  if (!existing) {
    Json spec = {{"Name", name}, {"Labels", labels}, {"Data", Base64Encode("stackctl control record\n")}};
    auto r = engine.CreateObject(engine::Kind::kConfig, spec);
    if (r.ok()) return OkStatus();
    if (r.status().code() != Code::kAlreadyExists) return r.status().WithPrefix("control record of stack " + stack);
  }
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(engine::Object cur, engine.InspectObject(engine::Kind::kConfig, ref));
    Json spec = cur.spec;
    spec["Labels"] = labels;
    Status st = engine.UpdateObject(engine::Kind::kConfig, cur.id, cur.version, spec);
    if (st.code() == Code::kAborted && attempt < 5) continue;
    return st.ok() ? st : st.WithPrefix("control record of stack " + stack);
  }
}

}  // namespace stackctl::reconciler
