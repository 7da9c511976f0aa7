#include "reconciler/normalize.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace stackctl::reconciler {
namespace {

namespace fs = std::filesystem;

Json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return Json::parse(ss.str());
}

// The project's full example (tests/data/compose/full-example/golden, recorded
// by tests/tools/make-compose-golden.sh): the service specs the docker CLI sent
// and the specs the engine stored must normalize equal. scripts/conformance.sh
// checks the same over an external corpus.
TEST(Normalize, RequestEqualsStoredSpecOfFullExample) {
  const fs::path golden = fs::path(STACKCTL_SOURCE_DIR) / "tests/data/compose/full-example/golden";
  Json stored = ReadJson(golden / "services.stored.json");
  NormalizeContext ctx;
  Json idmap = ReadJson(golden / "idmap.json");
  for (auto it = idmap["networks"].begin(); it != idmap["networks"].end(); ++it) {
    ctx.network_ids[it.value().get<std::string>()] = it.key();
  }
  std::ifstream in(golden / "api-requests.jsonl");
  std::string line;
  std::vector<std::string> compared;
  while (std::getline(in, line)) {
    Json r = Json::parse(line);
    if (r["req"].get<std::string>().find("/services/create") == std::string::npos) continue;
    const Json& body = r["body"];
    std::string name = body["Name"];
    ASSERT_TRUE(stored.contains(name)) << name;
    Json a = NormalizeServiceSpec(body, ctx);
    Json b = NormalizeServiceSpec(stored[name], ctx);
    EXPECT_EQ(ChangedPaths(a, b), std::vector<std::string>{}) << name << "\nsent:   " << a.dump()
                                                             << "\nstored: " << b.dump();
    compared.push_back(name);
  }
  EXPECT_EQ(compared, (std::vector<std::string>{"gold_web", "gold_worker", "gold_db"}));
}

TEST(Normalize, ChangedPathsNamesLeaves) {
  Json a = Json::parse(R"({"TaskTemplate":{"ContainerSpec":{"Image":"a:1","Env":["X=1"]}},"Labels":{"t":"1"}})");
  Json b = Json::parse(R"({"TaskTemplate":{"ContainerSpec":{"Image":"a:2","Env":["X=1"]}},"Labels":{"t":"1","u":"2"}})");
  EXPECT_EQ(ChangedPaths(a, b),
            (std::vector<std::string>{"Labels.u", "TaskTemplate.ContainerSpec.Image"}));
}

TEST(Normalize, ChangedPathsWalksKeysOfEitherSideInOrder) {
  // Keys only in a, only in b, in both; a null value counts as absent.
  Json a = Json::parse(R"({"A":1,"C":{"x":1,"y":[1]},"E":null,"G":{"k":"v"}})");
  Json b = Json::parse(R"({"B":2,"C":{"y":[2],"z":3},"D":null,"G":{"k":"v"}})");
  EXPECT_EQ(ChangedPaths(a, b), (std::vector<std::string>{"A", "B", "C.x", "C.y", "C.z"}));
  EXPECT_EQ(ChangedPaths(b, a), (std::vector<std::string>{"A", "B", "C.x", "C.y", "C.z"}));
  EXPECT_EQ(ChangedPaths(a, a), std::vector<std::string>{});
  EXPECT_EQ(ChangedPaths(Json::parse("[1]"), Json::parse("[2]")), std::vector<std::string>{"."});
}

TEST(Normalize, EmptiedObjectsAreDroppedAndArrayElementsKept) {
  // ContainerSpec is emptied by the defaults it held, then dropped itself;
  // an array keeps its elements even when they end up empty.
  Json spec = Json::parse(R"({"Name":"s_a","Labels":{},"TaskTemplate":{"ContainerSpec":{"Isolation":"default"},
    "Runtime":"container","Networks":[{"Target":"n","Aliases":[]}]},"Mode":{"Replicated":{"Replicas":0}}})");
  EXPECT_EQ(NormalizeServiceSpec(spec, {}),
            Json::parse(R"({"Mode":"replicated/0","TaskTemplate":{"Networks":[{"Target":"n"}]}})"));
}

TEST(Normalize, EngineDefaultsAndIgnoredLabels) {
  NormalizeContext ctx;
  ctx.network_ids = {{"s_default", "abc"}, {"abc", "abc"}};
  ctx.ignored_labels = {"io.stackctl.revision"};
  Json sent = Json::parse(R"({"Name":"s_web","Labels":{"io.stackctl.revision":"r1"},
    "TaskTemplate":{"ContainerSpec":{"Image":"x","Privileges":{"CredentialSpec":null}},
    "Networks":[{"Target":"s_default"}],"ForceUpdate":0},
    "EndpointSpec":{"Ports":[{"TargetPort":80,"PublishedPort":8080}]}})");
  Json stored = Json::parse(R"({"Name":"s_web","Labels":{"io.stackctl.revision":"r0"},
    "TaskTemplate":{"ContainerSpec":{"Image":"x","Isolation":"default"},"Runtime":"container",
    "Networks":[{"Target":"abc"}]},
    "EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]}})");
  EXPECT_EQ(NormalizeServiceSpec(sent, ctx), NormalizeServiceSpec(stored, ctx));
  stored["TaskTemplate"]["ContainerSpec"]["Image"] = "y";
  EXPECT_EQ(ChangedPaths(NormalizeServiceSpec(sent, ctx), NormalizeServiceSpec(stored, ctx)),
            std::vector<std::string>{"TaskTemplate.ContainerSpec.Image"});
}

TEST(Normalize, NetworkSubsetIgnoresEngineAdditions) {
  Json desired = NormalizeNetworkSpec(Json::parse(
      R"({"Name":"s_net","Driver":"overlay","Labels":{"a":"1"},"Options":{"encrypted":""},"Attachable":true})"));
  Json live = NormalizeNetworkSpec(Json::parse(
      R"({"Name":"s_net","Driver":"overlay","Labels":{"a":"1"},"Attachable":true,
          "Options":{"encrypted":"","com.docker.network.driver.overlay.vxlanid_list":"4097"},
          "IPAM":{"Driver":"default","Config":[{"Subnet":"10.0.1.0/24"}]}})"));
  EXPECT_TRUE(SubsetChangedPaths(desired, live).empty());
  desired["Internal"] = true;
  EXPECT_EQ(SubsetChangedPaths(desired, live), std::vector<std::string>{"Internal"});
}

}  // namespace
}  // namespace stackctl::reconciler
