// Table tests for content-hash naming of secrets and configs.
#include "secrets/materialize.h"

#include <gtest/gtest.h>

namespace stackctl::secrets {
namespace {

model::Blob MakeBlob(const std::string& key, const std::string& name, const std::string& data,
                     bool external = false) {
  model::Blob b;
  b.key = key;
  b.name = name;
  b.external = external;
  b.data = data;
  b.spec =
      external ? Json() : Json{{"Name", name}, {"Labels", {{"com.docker.stack.namespace", "st"}}}};
  return b;
}

model::Service MakeService(const std::string& name, const std::vector<std::string>& secrets,
                           const std::vector<std::string>& configs) {
  model::Service s;
  s.key = name;
  s.name = "st_" + name;
  Json cs = {{"Image", "busybox"}};
  for (const auto& n : secrets)
    cs["Secrets"].push_back({{"SecretName", n}, {"File", {{"Name", n}}}});
  for (const auto& n : configs) cs["Configs"].push_back({{"ConfigName", n}});
  s.spec = PackedJson(Json{{"Name", s.name}, {"TaskTemplate", {{"ContainerSpec", cs}}}});
  return s;
}

TEST(HashedNameTest, Table) {
  // sha256("hello") = 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
  struct Case {
    std::string logical, data, want;
  } cases[] = {
      {"st_db_pass", "hello", "st_db_pass-2cf24dba5fb0"},
      {"st_db_pass", "", "st_db_pass-e3b0c44298fc"},
      {std::string(51, 'a'), "hello", std::string(51, 'a') + "-2cf24dba5fb0"},  // exactly 64
      {std::string(52, 'a'), "hello", std::string(51, 'a') + "-2cf24dba5fb0"},  // cut to 64
      {std::string(100, 'b'), "hello", std::string(51, 'b') + "-2cf24dba5fb0"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(HashedName(c.logical, c.data), c.want) << c.logical;
    EXPECT_LE(HashedName(c.logical, c.data).size(), kMaxSwarmNameLength);
  }
}

TEST(MaterializeTest, RenamesLabelsAndRepointsServices) {
  model::StackSpec st;
  st.name = "st";
  st.secrets = {MakeBlob("db_pass", "st_db_pass", "hello"),
                MakeBlob("ext", "shared_ext", "", /*external=*/true)};
  st.configs = {MakeBlob("nginx", "st_nginx", "server {}\n")};
  st.services = {MakeService("web", {"st_db_pass", "shared_ext"}, {"st_nginx"}),
                 MakeService("worker", {"st_db_pass"}, {})};
  ASSERT_TRUE(Materialize(st).ok());

  EXPECT_EQ(st.secrets[0].name, "shared_ext");  // external untouched, sorted first
  EXPECT_EQ(st.secrets[0].spec, Json());
  const model::Blob& s = st.secrets[1];
  EXPECT_EQ(s.name, "st_db_pass-2cf24dba5fb0");
  EXPECT_EQ(
      s.spec,
      (Json{{"Name", "st_db_pass-2cf24dba5fb0"},
            {"Labels",
             {{"com.docker.stack.namespace", "st"},
              {"io.stackctl.logical-name", "st_db_pass"},
              {"io.stackctl.content-hash",
               "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"}}}}));
  const std::string cfg = HashedName("st_nginx", "server {}\n");
  EXPECT_EQ(st.configs[0].name, cfg);

  const Json web = st.services[0].spec.Unpack()["TaskTemplate"]["ContainerSpec"];
  EXPECT_EQ(web["Secrets"][0]["SecretName"], "st_db_pass-2cf24dba5fb0");
  EXPECT_EQ(web["Secrets"][0]["File"]["Name"], "st_db_pass");  // target file name unchanged
  EXPECT_EQ(web["Secrets"][1]["SecretName"], "shared_ext");
  EXPECT_EQ(web["Configs"][0]["ConfigName"], cfg);
  EXPECT_EQ(st.services[1].spec.Unpack()["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretName"],
            "st_db_pass-2cf24dba5fb0");
}

TEST(MaterializeTest, DeterministicAndIdempotent) {
  auto build = [] {
    model::StackSpec st;
    st.secrets = {MakeBlob("a", "st_a", "1"), MakeBlob("b", "st_b", "2")};
    st.services = {MakeService("web", {"st_a", "st_b"}, {})};
    return st;
  };
  model::StackSpec a = build(), b = build();
  ASSERT_TRUE(Materialize(a).ok());
  ASSERT_TRUE(Materialize(b).ok());
  EXPECT_EQ(a, b);
  model::StackSpec twice = a;
  ASSERT_TRUE(Materialize(twice).ok());
  EXPECT_EQ(twice, a);
}

TEST(MaterializeTest, ContentChangeChangesOnlyThatName) {
  model::StackSpec v1, v2;
  v1.secrets = {MakeBlob("a", "st_a", "one"), MakeBlob("b", "st_b", "same")};
  v2.secrets = {MakeBlob("a", "st_a", "two"), MakeBlob("b", "st_b", "same")};
  ASSERT_TRUE(Materialize(v1).ok());
  ASSERT_TRUE(Materialize(v2).ok());
  EXPECT_NE(v1.secrets[0].name, v2.secrets[0].name);
  EXPECT_EQ(v1.secrets[1].name, v2.secrets[1].name);
}

TEST(MaterializeTest, Errors) {
  model::StackSpec big;
  big.secrets = {MakeBlob("huge", "st_huge", std::string(kMaxSecretSize, 'x'))};
  EXPECT_EQ(
      Materialize(big),
      InvalidArgument("secret huge: content is 512000 bytes; Swarm accepts less than 512000"));
  model::StackSpec clash;
  const std::string long_a = std::string(60, 'n') + "_a", long_b = std::string(60, 'n') + "_b";
  clash.configs = {MakeBlob("a", long_a, "same"), MakeBlob("b", long_b, "same")};
  EXPECT_EQ(Materialize(clash),
            InvalidArgument("config b: materializes to the same name as config a (" +
                            HashedName(long_a, "same") + ")"));
}

}  // namespace
}  // namespace stackctl::secrets
