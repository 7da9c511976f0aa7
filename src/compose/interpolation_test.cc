#include "compose/interpolation.h"

#include <gtest/gtest.h>

namespace stackctl::compose {
namespace {

Lookup Env() {
  return [](const std::string& k) -> std::optional<std::string> {
    static const std::map<std::string, std::string> env = {{"SET", "hello"}, {"EMPTY", ""}};
    auto it = env.find(k);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

struct Row {
  std::string in, out;
};

TEST(InterpolationTest, Table) {
  const Row rows[] = {
      {"$SET", "hello"},
      {"${SET}", "hello"},
      {"x${SET}y", "xhelloy"},
      {"${UNSET:-d}", "d"},
      {"${EMPTY:-d}", "d"},
      {"${EMPTY-d}", ""},
      {"${UNSET-d}", "d"},
      {"${SET:-d}", "hello"},
      {"${SET:?boom}", "hello"},
      {"${EMPTY?boom}", ""},
      {"$$SET", "$SET"},
      {"$${SET}", "${SET}"},
      {"${UNSET}", ""},
      {"${UNSET:-$2y$05$abc}", "$2y$05$abc"},
      {"${UNSET:-${SET}}", "hello"},
      {"price $", "price $"},
  };
  for (const auto& r : rows) {
    auto out = Substitute(r.in, Env());
    ASSERT_TRUE(out.ok()) << r.in << ": " << out.status().message();
    EXPECT_EQ(*out, r.out) << r.in;
  }
}

TEST(InterpolationTest, Errors) {
  EXPECT_EQ(Substitute("${UNSET:?set it}", Env()).status().message(),
            "required variable UNSET is missing a value: set it");
  EXPECT_EQ(Substitute("${EMPTY:?e}", Env()).status().message(),
            "required variable EMPTY is missing a value: e");
  EXPECT_EQ(Substitute("${UNSET?e}", Env()).status().message(),
            "required variable UNSET is missing a value: e");
  EXPECT_EQ(Substitute("X=${BAD", Env()).status().message(), "invalid interpolation format \"X=${BAD\"");
  EXPECT_EQ(Substitute("${1x}", Env()).status().message(), "invalid interpolation format \"${1x}\"");
  EXPECT_EQ(Substitute("$-", Env()).status().message(), "invalid interpolation format \"$-\"");
}

TEST(InterpolationTest, TreeCastsTypedPathsAndLocatesErrors) {
  Json root = Json::parse(R"({"services":{"a":{"deploy":{"replicas":"${N}"},"tty":"yes",
                              "environment":["X=${UNSET:?need}"]}}})");
  // The same document as YAML, so that the item has a position (7:9).
  auto doc = ParseYaml("f.yml", "services:\n  a:\n    deploy:\n      replicas: ${N}\n    tty: yes\n"
                                "    environment:\n      - X=${UNSET:?need}\n");
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  const Marks& marks = doc->marks;
  std::vector<std::string> errors;
  Lookup env = [](const std::string& k) -> std::optional<std::string> {
    if (k == "N") return "3";
    return std::nullopt;
  };
  InterpolateTree(&root, "f.yml", marks, env, &errors, nullptr);
  EXPECT_EQ(root["services"]["a"]["deploy"]["replicas"], 3);
  EXPECT_EQ(root["services"]["a"]["tty"], true);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "f.yml:7:9: services.a.environment.0: required variable UNSET is missing a value: need");
}

TEST(InterpolationTest, EnvFile) {
  auto lines = ParseEnvFile("# c\nA=1\n\nB=\"q\"\nSET\nNOPE\n", "e.env", Env());
  ASSERT_TRUE(lines.ok());
  EXPECT_EQ(*lines, (std::vector<std::string>{"A=1", "B=\"q\"", "SET=hello", "NOPE"}));
  EXPECT_EQ(ParseEnvFile("OK=1\nBAD KEY=2\n", "e.env", Env()).status().message(),
            "e.env:2: poorly formatted environment: variable 'BAD KEY' contains whitespaces");
}

}  // namespace
}  // namespace stackctl::compose
