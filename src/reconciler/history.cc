#include "reconciler/history.h"

#include <zlib.h>

#include <algorithm>

#include "common/crypto.h"
#include "reconciler/live.h"

namespace stackctl::reconciler {
namespace {

constexpr char kSeqLabel[] = "io.stackctl.seq";
constexpr char kResultLabel[] = "io.stackctl.result";
constexpr char kPinnedLabel[] = "io.stackctl.pinned";
constexpr char kPinnedByLabel[] = "io.stackctl.pinned-by";
constexpr char kPinnedRevisionLabel[] = "io.stackctl.pinned-revision";
constexpr char kPinnedAtLabel[] = "io.stackctl.pinned-at";

// Raw deflate (no zlib header or trailer) of text handed over in pieces,
// with the length and Adler-32 of the text, so that pieces deflated apart can
// be joined into one zlib stream (ZlibOf). WriteCanonicalJson's pieces are
// small (a key, a number): they are gathered first.
class RawDeflater {
 public:
  RawDeflater() {
    ok_ = deflateInit2(&zs_, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~RawDeflater() {
    if (ok_) deflateEnd(&zs_);
  }
  RawDeflater(const RawDeflater&) = delete;
  RawDeflater& operator=(const RawDeflater&) = delete;

  void Add(std::string_view piece) {
    pending_.append(piece);
    if (pending_.size() >= 65536) Deflate(Z_NO_FLUSH);
  }
  // Z_SYNC_FLUSH: ends on a byte boundary without a last block, so more
  // deflated text may follow; Z_FINISH: ends with the last block.
  Result<DeflatedText> Finish(int flush) {
    Deflate(flush);
    if (!ok_) return Internal("history: compression failed");
    return std::move(out_);
  }

 private:
  void Deflate(int flush) {
    if (!ok_) return;
    out_.length += pending_.size();
    out_.adler = adler32(static_cast<uLong>(out_.adler), reinterpret_cast<const Bytef*>(pending_.data()),
                         static_cast<uInt>(pending_.size()));
    zs_.next_in = reinterpret_cast<Bytef*>(pending_.data());
    zs_.avail_in = static_cast<uInt>(pending_.size());
    for (;;) {
      unsigned char buf[16384];
      zs_.next_out = buf;
      zs_.avail_out = sizeof buf;
      int rc = deflate(&zs_, flush);
      if (rc == Z_STREAM_ERROR) {
        ok_ = false;
        return;
      }
      out_.raw.append(reinterpret_cast<char*>(buf), sizeof buf - zs_.avail_out);
      // Until the end: all input taken once the output has room to spare.
      if (flush == Z_FINISH ? rc == Z_STREAM_END : zs_.avail_out != 0) break;
    }
    pending_.clear();
  }

  z_stream zs_{};
  bool ok_ = false;
  std::string pending_;
  DeflatedText out_;
};

// One zlib stream (the format compress2 writes) of raw deflate parts, each
// ending on a byte boundary and the last with the last block.
std::string ZlibOf(std::initializer_list<const DeflatedText*> parts) {
  std::string out = "\x78\x9c";  // deflate, 32 KiB window, default level
  uLong adler = adler32(0L, Z_NULL, 0);
  for (const DeflatedText* p : parts) {
    out += p->raw;
    adler = adler32_combine(adler, p->adler, static_cast<z_off_t>(p->length));
  }
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((adler >> shift) & 0xff));
  return out;
}

// The record's text, canonical, compressed: the record `j` (whose "spec" is
// null) around the spec deflated apart.
Result<std::string> CompressRecord(const Json& j, const DeflatedText& spec) {
  std::string text;
  WriteCanonicalJson(j, [&](std::string_view piece) { text.append(piece); });
  // "seq" sorts before "spec" and "started_at" after it, so the key is
  // always between two others; inside a string a quote would be escaped.
  constexpr std::string_view kHole = ",\"spec\":null,";
  size_t at = text.find(kHole);
  if (at == std::string::npos || text.find(kHole, at + 1) != std::string::npos) {
    return Internal("history: record text without its spec");
  }
  RawDeflater head, tail;
  head.Add(std::string_view(text).substr(0, at + kHole.size() - 5));  // up to "spec":
  tail.Add(std::string_view(text).substr(at + kHole.size() - 1));     // from the comma on
  ASSIGN_OR_RETURN(DeflatedText h, head.Finish(Z_SYNC_FLUSH));
  ASSIGN_OR_RETURN(DeflatedText t, tail.Finish(Z_FINISH));
  return ZlibOf({&h, &spec, &t});
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

Json BlobToJson(const model::Blob& b) {
  return {{"key", b.key}, {"name", b.name}, {"external", b.external}, {"spec", b.spec}};
}

// The canonical text of the stack as a record holds it (StackSpecFromJson
// reads it back), without any secret or config content, handed over in
// pieces: the services one at a time, so that only one service's spec is
// ever copied (a 1,000-service stack is megabytes as a DOM).
Status WriteStackSpec(const model::StackSpec& s, const std::function<void(std::string_view)>& out) {
  Json j = {{"name", s.name}};
  j["networks"] = Json::array();
  for (const auto& n : s.networks) {
    j["networks"].push_back({{"key", n.key}, {"name", n.name}, {"external", n.external}, {"spec", n.spec}});
  }
  j["secrets"] = Json::array();
  for (const auto& b : s.secrets) j["secrets"].push_back(BlobToJson(b));
  j["configs"] = Json::array();
  for (const auto& b : s.configs) j["configs"].push_back(BlobToJson(b));
  j["services"] = Json::array();
  std::string text;
  WriteCanonicalJson(j, [&](std::string_view piece) { text.append(piece); });
  // "services" sorts last: the text ends with the empty list and the brace.
  constexpr std::string_view kEnd = "\"services\":[]}";
  if (!std::string_view(text).ends_with(kEnd)) return Internal("history: unexpected stack text");
  out(std::string_view(text).substr(0, text.size() - 2));
  for (size_t i = 0; i < s.services.size(); ++i) {
    const model::Service& sv = s.services[i];
    if (i > 0) out(",");
    PackedJson spec = sv.spec;  // a copy of its bytes, written as the value they pack
    WriteCanonicalJson(Json{{"key", sv.key}, {"name", sv.name}, {"spec", spec.TakeAsBinary()},
                            {"depends_on", sv.depends_on}},
                       out);
  }
  out("]}");
  return OkStatus();
}

}  // namespace

Result<DeflatedText> DeflateStackSpec(const model::StackSpec& s) {
  RawDeflater d;
  RETURN_IF_ERROR(WriteStackSpec(s, [&](std::string_view piece) { d.Add(piece); }));
  return d.Finish(Z_SYNC_FLUSH);
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

Result<std::vector<std::pair<int64_t, std::string>>> HistoryStore::ListSeqs() {
  ASSIGN_OR_RETURN(auto objs, ListObjects());
  std::vector<std::pair<int64_t, std::string>> out;
  for (const auto& o : objs) {
    auto it = o.labels.find(kSeqLabel);
    out.emplace_back(it == o.labels.end() ? 0 : std::atoll(it->second.c_str()), o.id);
  }
  return out;
}

Result<std::optional<std::string>> HistoryStore::LastSucceededRevision() {
  ASSIGN_OR_RETURN(auto objs, ListObjects());
  std::optional<std::string> revision;
  int64_t newest = 0;
  for (const auto& o : objs) {
    auto result = o.labels.find(kResultLabel);
    if (result == o.labels.end() || result->second != HistoryResultName(HistoryResult::kSucceeded)) continue;
    auto seq = o.labels.find(kSeqLabel);
    const int64_t n = seq == o.labels.end() ? 0 : std::atoll(seq->second.c_str());
    if (revision && n <= newest) continue;
    auto rev = o.labels.find(model::kRevisionLabel);
    revision = rev == o.labels.end() ? "" : rev->second;
    newest = n;
  }
  return revision;
}

Result<HistoryStore::Prepared> HistoryStore::Prepare(const model::StackSpec& spec) {
  Prepared p;
  ASSIGN_OR_RETURN(p.spec, DeflateStackSpec(spec));
  ASSIGN_OR_RETURN(p.existing, ListSeqs());
  return p;
}

Result<int64_t> HistoryStore::Append(HistoryRecord record, size_t keep) {
  Prepared p;
  RawDeflater d;
  WriteCanonicalJson(record.spec, [&](std::string_view piece) { d.Add(piece); });
  record.spec = Json();
  ASSIGN_OR_RETURN(p.spec, d.Finish(Z_SYNC_FLUSH));
  ASSIGN_OR_RETURN(p.existing, ListSeqs());
  return Append(std::move(record), std::move(p), keep);
}

Result<int64_t> HistoryStore::Append(HistoryRecord record, Prepared prepared, size_t keep) {
  std::vector<std::pair<int64_t, std::string>>& existing = prepared.existing;
  int64_t next = 1;
  for (const auto& [seq, id] : existing) next = std::max(next, seq + 1);
  const std::string result(HistoryResultName(record.result));
  const std::string revision = record.revision;
  record.spec = Json();  // the spec is prepared.spec's: deflated already
  Json record_json = RecordToJson(std::move(record));
  for (int attempt = 0; attempt < 5; ++attempt, ++next) {
    record_json["seq"] = next;
    ASSIGN_OR_RETURN(std::string packed, CompressRecord(record_json, prepared.spec));
    Json spec = {{"Name", "stackctl-history-" + stack_ + "-" + std::to_string(next)},
                 {"Labels",
                  {{kHistoryLabel, stack_},
                   {kSeqLabel, std::to_string(next)},
                   {model::kManagedByLabel, model::kManagedByValue},
                   {kKindLabel, "history"},
                   {kResultLabel, result},
                   {model::kRevisionLabel, revision}}},
                 {"Data", Base64Encode(packed)}};
    auto created = engine_.CreateObject(engine::Kind::kConfig, spec);
    if (created.ok()) break;
    if (created.status().code() != Code::kAlreadyExists || attempt == 4) {
      return created.status().WithPrefix("history of stack " + stack_);
    }
  }
  const int64_t stored = next;
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
