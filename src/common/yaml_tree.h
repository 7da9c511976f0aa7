// The project's one YAML reader, on libyaml's event parser (the parser that
// go-yaml, and so the docker CLI, is a port of; 7x faster than yaml-cpp on a
// 1,000-service compose file, whose parse had been most of a render).
//
// ReadYamlEvents hands the events of one document to a YamlEventHandler;
// ParseYaml builds a JSON tree from them (compose files, the stackctld
// configuration); the SOPS reader builds its own ordered tree.
//
// ParseYaml turns one YAML document into a JSON tree typed like the YAML 1.2
// core schema that the current docker CLI uses (plain `true`/`false` are
// booleans, `yes`/`on`/`y` are strings; integers in decimal, 0x, 0o and
// leading-zero octal; floats; null/~/empty), resolves anchors and aliases and
// applies YAML merge keys (`<<: *anchor`, `<<: [*a, *b]`), which libyaml
// leaves to its user. Positions stay available by dotted key path (Marks) so later
// stages can report file:line:col.
//
// Alias expansion is bounded (billion-laughs guard): a document that expands
// to more than max_nodes nodes, or nests deeper than 200 levels, is rejected.
//
// Thread safety: pure function.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/status.h"

namespace stackctl {

struct Mark {
  int line = 0;  // 1-based
  int column = 0;
};

struct MarksSource;  // a document's text, and its tree once parsed for positions (yaml_tree.cc)

// Positions in a YAML document by dotted key path ("services.web.ports.0"):
// a map entry's is its key's, a list item's the item's. Only errors need
// positions, so the document's text is parsed for them again on the first
// Find, and its tree kept; ParseYaml itself only builds the JSON. Found
// through aliases and merge keys. Keys may contain dots
// ("labels.com.example.x"): every split is tried. Cheap to copy (shares the
// text and tree); Find may be called from several threads.
class Marks {
 public:
  Marks() = default;
  explicit Marks(std::shared_ptr<MarksSource> source) : source_(std::move(source)) {}
  std::optional<Mark> Find(std::string_view path) const;
  bool Contains(std::string_view path) const { return Find(path).has_value(); }

 private:
  std::shared_ptr<MarksSource> source_;
};

struct YamlDocument {
  Json root;  // null for an empty document
  Marks marks;
};

// The nodes of one YAML document, in document order. A node's tag is "?"
// for a plain scalar or a collection without one, "!" for a quoted or block
// scalar without one, else resolved ("tag:yaml.org,2002:str" for !!str); a
// plain untagged null (~, null, empty) is OnNull. `anchor` is empty when the
// node has none. Map entries come as key node, value node.
class YamlEventHandler {
 public:
  virtual ~YamlEventHandler() = default;
  virtual bool ok() const = 0;  // false stops the reading (the handler keeps its error)
  virtual void OnNull(const Mark& mark, std::string_view anchor) = 0;
  virtual void OnAlias(const Mark& mark, std::string_view anchor) = 0;
  virtual void OnScalar(const Mark& mark, std::string_view tag, std::string_view anchor,
                        std::string_view value) = 0;
  virtual void OnSequenceStart(const Mark& mark, std::string_view tag, std::string_view anchor) = 0;
  virtual void OnSequenceEnd() = 0;
  virtual void OnMapStart(const Mark& mark, std::string_view tag, std::string_view anchor) = 0;
  virtual void OnMapEnd() = 0;
};

// Reads the first document of `text`, reading it where it lies. Returns
// whether there was a document (an empty text or one of comments has none).
// A syntax error is "filename:line:col: yaml: problem (context)"; a second
// document is an error, found before its content is parsed. Aliases are
// passed on as they are: checking that they name an anchor is the handler's.
Result<bool> ReadYamlEvents(const std::string& filename, std::string_view text,
                            YamlEventHandler* handler);

inline constexpr size_t kDefaultMaxYamlNodes = 1000000;

// `filename` only names the document in errors ("a.yml:3:5: ...").
//
// When `packed_section` names a top-level mapping ("services"), each of its
// values is stored packed, as a binary node (PackedJson::TakeAsBinary), as
// soon as it is complete: a large document is then never whole as a DOM
// (1,000 services: 4.3 MB as a DOM, 0.4 MB packed). Values that mapping
// receives through a merge key stay unpacked; PackedJson::UnpackNode reads both.
Result<YamlDocument> ParseYaml(const std::string& filename, const std::string& content,
                               size_t max_nodes = kDefaultMaxYamlNodes,
                               std::string_view packed_section = {});

// Joins a key path the way the marks are keyed ("services" + "web" -> "services.web").
inline std::string JoinKey(const std::string& base, const std::string& key) {
  return base.empty() ? key : base + "." + key;
}

}  // namespace stackctl
