#include "model/from_compose.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "dab/bundle.h"

namespace stackctl::model {
namespace {

// Golden full example: tests/data/compose/full-example must render to exactly
// the bodies the docker CLI sent for it (golden/api-requests.jsonl, recorded
// by tests/tools/make-compose-golden.sh; golden/cli.txt names the CLI), minus
// the secret and config IDs the CLI looked up.
TEST(FromComposeTest, FullExampleMatchesDockerRequestBodies) {
  const std::string dir = STACKCTL_SOURCE_DIR "/tests/data/compose/full-example";
  DiskFileSource fs("/");
  compose::LoadOptions o;
  o.files = {dir + "/docker-compose.yml"};
  o.env = {{"HOME", "/root"}, {"PATH", "/usr/bin:/bin"}};
  o.working_dir = dir;
  auto project = compose::LoadProject(o, fs);
  ASSERT_TRUE(project.ok()) << project.status().message();
  auto spec = FromCompose(*project, "gold", fs);
  ASSERT_TRUE(spec.ok()) << spec.status().message();

  std::ifstream in(dir + "/golden/api-requests.jsonl");
  ASSERT_TRUE(in) << dir << "/golden/api-requests.jsonl";
  std::string line;
  std::map<std::string, Json> networks, services, secrets, configs;
  while (std::getline(in, line)) {
    std::string text = line;
    for (size_t p; (p = text.find("${CASE_DIR}")) != std::string::npos;) text.replace(p, 11, dir);
    Json r = Json::parse(text);
    std::string req = r["req"];
    Json body = r["body"];
    if (req.find("/networks/create") != std::string::npos) networks[body["Name"]] = body;
    if (req.find("/services/create") != std::string::npos) {
      auto& cs = body["TaskTemplate"]["ContainerSpec"];
      for (auto& s : cs["Secrets"]) s.erase("SecretID");
      for (auto& c : cs["Configs"]) c.erase("ConfigID");
      // Go marshals a service's nil secret and config lists as null; we leave
      // them out. The engine stores both alike (golden/services.stored.json).
      for (const char* list : {"Secrets", "Configs"}) {
        if (cs.contains(list) && cs[list].is_null()) cs.erase(list);
      }
      services[body["Name"]] = body;
    }
    if (req.find("/secrets/create") != std::string::npos) {
      body.erase("Data");
      secrets[body["Name"]] = body;
    }
    if (req.find("/configs/create") != std::string::npos) {
      body.erase("Data");
      configs[body["Name"]] = body;
    }
  }
  ASSERT_EQ(services.size(), 3u);
  ASSERT_EQ(spec->services.size(), services.size());
  for (const auto& svc : spec->services) {
    ASSERT_TRUE(services.count(svc.name)) << svc.name;
    Json ours = svc.spec.Unpack();
    EXPECT_EQ(ours, services[svc.name]) << svc.name << ": " << Json::diff(services[svc.name], ours);
  }
  EXPECT_EQ(spec->services[1].name, "gold_web");
  EXPECT_EQ(spec->services[2].name, "gold_worker");
  EXPECT_EQ(spec->services[2].depends_on, (std::vector<std::string>{"db", "web"}));
  size_t created = 0;
  for (const auto& n : spec->networks) {
    if (n.external) {
      EXPECT_EQ(n.name, "shop-outside");
      continue;
    }
    ++created;
    EXPECT_EQ(n.spec, networks[n.name]) << n.name;
  }
  EXPECT_EQ(created, 2u);
  EXPECT_EQ(created, networks.size());
  ASSERT_EQ(spec->secrets.size(), 2u);
  for (const auto& b : spec->secrets) EXPECT_EQ(b.spec, secrets[b.name]) << b.name;
  ASSERT_EQ(spec->configs.size(), 1u);
  EXPECT_EQ(spec->configs[0].spec, configs["gold_web_conf"]);
  // Contents live in data only.
  EXPECT_EQ(spec->secrets[1].name, "shop_db_password_v1");
  EXPECT_EQ(spec->secrets[1].data, "not-a-real-password\n");
  EXPECT_FALSE(spec->secrets[1].spec.contains("Data"));
}

// Keys of the current docker CLI (tests/data/compose/docker28-keys, golden
// recorded with docker 28.2.2 against the bed's 20.10 engine): what stackctl
// renders equals what the engine stored for docker's request. docker sent
// HealthConfig.StartInterval and the 1.41 engine dropped it; stackctl leaves
// it (and oom_score_adj, which docker itself leaves out below API 1.46) out
// with a warning, so a redeploy never sees a change the engine cannot keep.
TEST(FromComposeTest, Docker28KeysRenderAsTheEngineStoredThem) {
  const std::string dir = STACKCTL_SOURCE_DIR "/tests/data/compose/docker28-keys";
  DiskFileSource fs("/");
  compose::LoadOptions o;
  o.files = {dir + "/docker-compose.yml"};
  o.env = {{"HOME", "/root"}, {"PATH", "/usr/bin:/bin"}};
  o.working_dir = dir;
  auto project = compose::LoadProject(o, fs);
  ASSERT_TRUE(project.ok()) << project.status().message();
  auto spec = FromCompose(*project, "gold", fs);
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ(spec->warnings,
            (std::vector<std::string>{
                "Ignoring unsupported options: build, cgroupns_mode",
                "services.web.oom_score_adj: ignored (ContainerSpec.OomScoreAdj needs Engine API 1.46; stackctl "
                "speaks 1.41)",
                "services.web.healthcheck.start_interval: ignored (HealthConfig.StartInterval needs Engine API "
                "1.44; stackctl speaks 1.41)"}));

  auto read = [&](const std::string& file) {
    std::ifstream in(dir + "/golden/" + file);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  const Json stored = Json::parse(read("services.stored.json"));
  const Json idmap = Json::parse(read("idmap.json"))["networks"];
  const std::string requests = read("api-requests.jsonl");
  EXPECT_NE(requests.find("\"StartInterval\":2000000000"), std::string::npos) << "docker 28 sends it";
  ASSERT_EQ(spec->services.size(), 2u);
  for (const auto& svc : spec->services) {
    ASSERT_TRUE(stored.contains(svc.name)) << svc.name;
    const Json ours = svc.spec.Unpack();
    Json theirs = stored[svc.name];
    theirs["TaskTemplate"]["ContainerSpec"].erase("Isolation");  // an engine default
    for (auto& n : theirs["TaskTemplate"]["Networks"]) n["Target"] = idmap.at(n["Target"].get<std::string>());
    EXPECT_EQ(ours["Labels"], theirs["Labels"]) << svc.name;
    EXPECT_EQ(ours["TaskTemplate"]["ContainerSpec"], theirs["TaskTemplate"]["ContainerSpec"]) << svc.name;
    EXPECT_EQ(ours["TaskTemplate"]["Networks"], theirs["TaskTemplate"]["Networks"]) << svc.name;
  }
  const Json web = spec->services[0].spec.Unpack();
  ASSERT_EQ(spec->services[0].name, "gold_web");
  EXPECT_EQ(web["TaskTemplate"]["Networks"][0]["DriverOpts"],
            (Json{{"com.example.mtu", "1400"}, {"com.example.opt", "on"}}));
}

// The two steps of FromCompose: the secrets first, then the services (and
// their networks), each spec edited before it is packed.
TEST(FromComposeTest, AddComposeServicesEditsEachSpecBeforePacking) {
  MemoryFileSource fs({{"docker-compose.yml", R"(
services:
  b: {image: busybox, secrets: [s]}
  a: {image: busybox}
secrets:
  s: {file: ./s.txt}
)"},
                       {"s.txt", "top-secret"}});
  compose::LoadOptions o;
  o.files = {"docker-compose.yml"};
  auto p = compose::LoadProject(o, fs);
  ASSERT_TRUE(p.ok()) << p.status().message();
  auto spec = FromComposeObjects(*p, "app", fs);
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  ASSERT_EQ(spec->secrets.size(), 1u);
  EXPECT_EQ(spec->secrets[0].data, "top-secret");
  EXPECT_TRUE(spec->services.empty());
  EXPECT_TRUE(spec->networks.empty());
  std::vector<std::string> edited;
  ASSERT_TRUE(AddComposeServices(*p, &*spec, [&edited](Json& s) {
                edited.push_back(s["Name"].get<std::string>());
                s["Labels"]["edited"] = "yes";
              }).ok());
  EXPECT_EQ(edited, (std::vector<std::string>{"app_a", "app_b"}));
  ASSERT_EQ(spec->services.size(), 2u);
  for (const auto& svc : spec->services) EXPECT_EQ(svc.spec.Unpack()["Labels"]["edited"], "yes") << svc.name;
  ASSERT_EQ(spec->networks.size(), 1u);
  EXPECT_EQ(spec->networks[0].name, "app_default");
}

TEST(FromComposeTest, NamesDefaultsAndSorting) {
  MemoryFileSource fs({{"docker-compose.yml", R"(
version: "3.9"
services:
  z: {image: "docker.io/library/redis"}
  a:
    image: nginx:1
    networks: [ext, named]
    secrets: [{source: s, target: t, mode: 0400}]
networks:
  ext: {external: true}
  named: {name: custom}
secrets:
  s: {file: ./s.txt}
)"},
                       {"s.txt", "top-secret"}});
  compose::LoadOptions o;
  o.files = {"docker-compose.yml"};
  auto p = compose::LoadProject(o, fs);
  ASSERT_TRUE(p.ok()) << p.status().message();
  auto spec = FromCompose(*p, "app", fs);
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  ASSERT_EQ(spec->services.size(), 2u);
  EXPECT_EQ(spec->services[0].name, "app_a");
  const Json a = spec->services[0].spec.Unpack(), b = spec->services[1].spec.Unpack();
  EXPECT_EQ(b["TaskTemplate"]["ContainerSpec"]["Image"], "redis:latest");
  EXPECT_EQ(b["Labels"][kStackImageLabel], "docker.io/library/redis");
  EXPECT_EQ(a["TaskTemplate"]["Networks"],
            Json::parse(R"([{"Target":"custom","Aliases":["a"]},{"Target":"ext","Aliases":["a"]}])"));
  EXPECT_EQ(a["TaskTemplate"]["ContainerSpec"]["Secrets"],
            Json::parse(R"([{"File":{"Name":"t","UID":"0","GID":"0","Mode":256},"SecretName":"app_s"}])"));
  std::vector<std::string> names;
  for (const auto& n : spec->networks) names.push_back(n.name + (n.external ? "(ext)" : ""));
  EXPECT_EQ(names, (std::vector<std::string>{"app_default", "custom", "ext(ext)"}));
  EXPECT_EQ(spec->secrets[0].data, "top-secret");
  auto missing = MissingExternals(*spec, [](const std::string&, const std::string&) { return false; });
  EXPECT_EQ(missing, (std::vector<std::string>{
                         "network \"ext\" is declared as external, but could not be found. You need to "
                         "create a swarm-scoped network before the stack is deployed"}));
}

TEST(FromComposeTest, ImageWithTag) {
  EXPECT_EQ(ImageWithTag("redis"), "redis:latest");
  EXPECT_EQ(ImageWithTag("docker.io/library/redis:7"), "redis:7");
  EXPECT_EQ(ImageWithTag("127.0.0.1:5000/busybox"), "127.0.0.1:5000/busybox:latest");
  EXPECT_EQ(ImageWithTag("foo/bar@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
            "foo/bar@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  EXPECT_EQ(ImageWithTag("Not/Valid"), "Not/Valid");
}

TEST(FromBundleTest, ConvertsLikeDockerDeployBundleFile) {
  auto b = dab::LoadBundle(R"({"Version": "0.1", "Services": {"web": {
      "Image": "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
      "Command": ["nginx"], "Args": ["-g", "daemon off;"], "Env": ["A=1"], "Labels": {"l": "v"},
      "Ports": [{"Protocol": "tcp", "Port": 80}], "WorkingDir": "/w", "User": "u", "Networks": ["front"]}}})",
                           "b.dab");
  ASSERT_TRUE(b.ok()) << b.status().message();
  auto spec = FromBundle(*b, "st");
  ASSERT_TRUE(spec.ok());
  ASSERT_EQ(spec->networks.size(), 1u);
  EXPECT_EQ(spec->networks[0].name, "st_front");
  EXPECT_EQ(spec->services[0].spec.Unpack(), Json::parse(R"({
    "Name": "st_web", "Labels": {"l": "v", "com.docker.stack.namespace": "st"},
    "TaskTemplate": {"ContainerSpec": {
        "Image": "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "Labels": {"com.docker.stack.namespace": "st"}, "Command": ["nginx"], "Args": ["-g", "daemon off;"],
        "Env": ["A=1"], "Dir": "/w", "User": "u"},
      "ForceUpdate": 0, "Networks": [{"Target": "st_front", "Aliases": ["web"]}]},
    "Mode": {"Replicated": {}},
    "EndpointSpec": {"Ports": [{"Protocol": "tcp", "TargetPort": 80}]}})"));
}

}  // namespace
}  // namespace stackctl::model
