#include "common/yaml_tree.h"

#include <gtest/gtest.h>

namespace stackctl {
namespace {

TEST(YamlTreeTest, TypesScalarsLikeYaml12) {
  auto doc = ParseYaml(
      "f.yml",
      "a: true\nb: yes\nc: 0440\nd: 0x1f\ne: 1.5\nf: ~\ng: '42'\nh: 42\ni: n\nj: 1e3\nk:\n");
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  EXPECT_EQ(doc->root, Json::parse(R"({"a":true,"b":"yes","c":288,"d":31,"e":1.5,"f":null,
                                       "g":"42","h":42,"i":"n","j":1000.0,"k":null})"));
}

TEST(YamlTreeTest, AppliesMergeKeysExplicitKeysWin) {
  auto doc = ParseYaml("f.yml", R"(
base: &b {x: 1, y: 2}
other: &o {y: 3, z: 4}
s:
  <<: [*b, *o]
  x: 9
)");
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  EXPECT_EQ(doc->root["s"], Json::parse(R"({"x":9,"y":2,"z":4})"));
}

TEST(YamlTreeTest, PacksTheValuesOfTheNamedSection) {
  auto doc = ParseYaml("f.yml", R"(
x-base: &base {image: busybox, environment: {A: "1"}}
services:
  web: {<<: *base, command: [sleep, "1"]}
  db: *base
  <<: {extra: {image: merged}}
networks:
  front: {driver: overlay}
)",
                       kDefaultMaxYamlNodes, "services");
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  const Json& services = doc->root["services"];
  ASSERT_TRUE(services["web"].is_binary());
  EXPECT_EQ(PackedJson::UnpackNode(services["web"]),
            Json::parse(R"({"image":"busybox","environment":{"A":"1"},"command":["sleep","1"]})"));
  ASSERT_TRUE(services["db"].is_binary());  // an alias, packed like any value
  EXPECT_EQ(PackedJson::UnpackNode(services["db"]),
            Json::parse(R"({"image":"busybox","environment":{"A":"1"}})"));
  // Merged into the section: not packed, and read the same way.
  EXPECT_EQ(PackedJson::UnpackNode(services["extra"]), Json::parse(R"({"image":"merged"})"));
  EXPECT_FALSE(doc->root["x-base"].is_binary());  // the anchor outside the section: a DOM
  EXPECT_EQ(doc->root["networks"], Json::parse(R"({"front":{"driver":"overlay"}})"));
  EXPECT_EQ(PackedJson::FromNode(Json(services["web"])),
            PackedJson(PackedJson::UnpackNode(services["web"])));

  // Errors inside a packed value keep their path.
  auto dup = ParseYaml("f.yml", "services:\n  web:\n    image: a\n    image: b\n",
                       kDefaultMaxYamlNodes, "services");
  EXPECT_EQ(dup.status().message(),
            "f.yml:4:5: services.web: mapping key \"image\" already defined");
}

TEST(YamlTreeTest, RecordsPositionsByKeyPath) {
  auto doc = ParseYaml("f.yml", "services:\n  web:\n    image: x\n    ports:\n      - 80\n");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->marks.Find("services.web.image")->line, 3);
  EXPECT_EQ(doc->marks.Find("services.web.image")->column, 5);
  EXPECT_EQ(doc->marks.Find("services.web.ports.0")->line, 5);
  EXPECT_EQ(doc->marks.Find("services.web.ports.0")->column, 9);
  EXPECT_FALSE(doc->marks.Contains("services.web.ports.1"));
  EXPECT_FALSE(doc->marks.Contains("services.db"));
}

TEST(YamlTreeTest, PositionsThroughDottedKeysAliasesAndMergeKeys) {
  auto doc = ParseYaml("f.yml", R"(x-base: &base
  labels:
    com.example.tier: web
services:
  web:
    <<: *base
    image: x
  db: *base
)");
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  // A key with dots, reached through a merge key: the position is in x-base.
  auto label = doc->marks.Find("services.web.labels.com.example.tier");
  ASSERT_TRUE(label.has_value());
  EXPECT_EQ(label->line, 3);
  EXPECT_EQ(label->column, 5);
  // Through an alias.
  ASSERT_TRUE(doc->marks.Find("services.db.labels").has_value());
  EXPECT_EQ(doc->marks.Find("services.db.labels")->line, 2);
  EXPECT_EQ(doc->marks.Find("services.web.image")->line, 7);
  EXPECT_EQ(doc->marks.Find("")->line, 1);
}

TEST(YamlTreeTest, RejectsBillionLaughs) {
  std::string y = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  std::string prev = "a";
  for (int i = 0; i < 8; ++i) {
    std::string n = "l" + std::to_string(i);
    y += n + ": &" + n + " [";
    for (int k = 0; k < 10; ++k) y += std::string(k ? ", " : "") + "*" + prev;
    y += "]\n";
    prev = n;
  }
  auto doc = ParseYaml("bomb.yml", y, 100000);
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(
      doc.status().message(),
      "bomb.yml: document expands to more than 100000 nodes (YAML aliases); refusing to load it");
}

TEST(YamlTreeTest, SyntaxErrorHasLineAndColumn) {
  auto doc = ParseYaml("f.yml", "a: [1, 2\nb: 3\n");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().message(),
            "f.yml:2:2: yaml: did not find expected ',' or ']' (while parsing a flow sequence at "
            "line 1)");
  doc = ParseYaml("f.yml", "a:\n  b: 1\n c: 2\n");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().message(),
            "f.yml:3:2: yaml: did not find expected key (while parsing a block mapping at line 1)");
  doc = ParseYaml("f.yml", "a: \xff\n");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().message(), "f.yml: yaml: invalid leading UTF-8 octet at byte 3");
}

TEST(YamlTreeTest, AnAliasNeedsAnAnchorDefinedBeforeItAndOutsideIt) {
  auto doc = ParseYaml("f.yml", "a: *x\nb: &x 1\n");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().message(), "f.yml:1:4: alias *x refers to no anchor &x defined before it");
  doc = ParseYaml("f.yml", "a: &x [1, *x]\n");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().message(),
            "f.yml:1:11: an alias inside the node it refers to (recursive alias *x)");
}

TEST(YamlTreeTest, OneDocumentOnly) {
  auto doc = ParseYaml("f.yml", "a: 1\n---\nb: [\n");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().message(), "f.yml: expected one YAML document, found more");
  // One document with its markers, and no document at all, are fine.
  doc = ParseYaml("f.yml", "---\na: 1\n...\n");
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  EXPECT_EQ(doc->root, Json::parse(R"({"a":1})"));
  doc = ParseYaml("f.yml", "# nothing\n");
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  EXPECT_TRUE(doc->root.is_null());
}

TEST(YamlTreeTest, AnchoredKeysAndNullKeys) {
  auto doc = ParseYaml("f.yml", "&k name: 1\nother: {*k : 2, ref: *k}\n~: 3\n!!str ~: 4\n");
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  EXPECT_EQ(doc->root, Json::parse(R"({"name":1,"other":{"name":2,"ref":"name"},"null":3,"~":4})"));
  EXPECT_EQ(doc->marks.Find("other.ref")->line, 2);
  EXPECT_EQ(doc->marks.Find("null")->line, 3);
}

TEST(YamlTreeTest, DuplicateKeyIsAnError) {
  auto doc = ParseYaml("f.yml", "a: 1\na: 2\n");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().message(), "f.yml:2:1: mapping key \"a\" already defined");
}

TEST(YamlTreeTest, ErrorsNameThePathOfTheMap) {
  auto dup = ParseYaml("f.yml", "services:\n  web:\n    image: a\n    image: b\n");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().message(),
            "f.yml:4:5: services.web: mapping key \"image\" already defined");
  auto merge = ParseYaml("f.yml", "x:\n  a:\n    <<: 3\n");
  ASSERT_FALSE(merge.ok());
  EXPECT_EQ(merge.status().message(),
            "f.yml:3:9: x.a.<<: merge key value must be a mapping or a list of mappings");
  auto merge_list = ParseYaml("f.yml", "b: &b {k: 1}\nx:\n  <<: [*b, [1]]\n");
  ASSERT_FALSE(merge_list.ok());
  EXPECT_EQ(merge_list.status().message(),
            "f.yml:3:7: x.<<: merge key value must be a mapping or a list of mappings");
}

TEST(YamlTreeTest, NestingIsBoundedThroughAliases) {
  // 150 levels, then an alias of it 60 levels down: 210 in all.
  std::string deep = "a: &a " + std::string(150, '[') + "1" + std::string(150, ']') + "\n";
  std::string y = deep + "b: " + std::string(60, '[') + "*a" + std::string(60, ']') + "\n";
  auto doc = ParseYaml("f.yml", y);
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().message(), "f.yml:2:64: nesting deeper than 200 levels");
  // 150 + 40 is within bounds, and the alias is a full copy.
  y = deep + "b: " + std::string(40, '[') + "*a" + std::string(40, ']') + "\n";
  doc = ParseYaml("f.yml", y);
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  const Json* v = &doc->root["b"];
  for (int i = 0; i < 190; ++i) v = &(*v)[0];
  EXPECT_EQ(*v, 1);
}

TEST(YamlTreeTest, AnchorsKeepTheirValueAndComplexKeysAreNamed) {
  auto doc = ParseYaml("f.yml", R"(
x: &x {a: 1, b: [2, 3]}
y: *x
z: {<<: *x, a: 5}
? [k]
: v
)");
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  EXPECT_EQ(doc->root["y"], Json::parse(R"({"a":1,"b":[2,3]})"));
  EXPECT_EQ(doc->root["z"], Json::parse(R"({"a":5,"b":[2,3]})"));
  EXPECT_EQ(doc->root["<complex key>"], "v");
  // Positions are found after the fact, from the text.
  EXPECT_EQ(doc->marks.Find("z.b")->line, 2);
  EXPECT_EQ(doc->marks.Find("y.a")->line, 2);  // through the alias, in x
  EXPECT_EQ(doc->marks.Find("y.a")->column, 8);
}

}  // namespace
}  // namespace stackctl
