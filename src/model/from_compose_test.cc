#include "model/from_compose.h"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "dab/bundle.h"

namespace stackctl::model {
namespace {

std::string Real(const std::string& p) {
  char buf[PATH_MAX];
  return realpath(p.c_str(), buf) ? std::string(buf) : p;
}

// Golden full example: the docker/cli full-example (corpus 04) must render to
// exactly the bodies the docker CLI sent (api-requests.jsonl), minus the IDs
// the CLI looked up and with the corpus path substituted.
TEST(FromComposeTest, FullExampleMatchesDockerRequestBodies) {
  const std::string corpus = Real(STACKCTL_SOURCE_DIR "/../shared/corpus");
  const std::string dir = corpus + "/cases/04-cli-full-example-deployable";
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) GTEST_SKIP() << "no corpus";
  DiskFileSource fs("/");
  compose::LoadOptions o;
  o.files = {dir + "/docker-compose.yml"};
  o.env = {{"HOME", "/root"}, {"PATH", "/usr/bin:/bin"}};
  o.working_dir = dir;
  auto project = compose::LoadProject(o, fs);
  ASSERT_TRUE(project.ok()) << project.status().message();
  auto spec = FromCompose(*project, "st04", fs);
  ASSERT_TRUE(spec.ok()) << spec.status().message();

  std::ifstream in(corpus + "/golden/04-cli-full-example-deployable/api-requests.jsonl");
  std::string line;
  std::map<std::string, Json> networks, services, secrets, configs;
  while (std::getline(in, line)) {
    Json r = Json::parse(line);
    std::string req = r["req"];
    Json body = r["body"];
    std::string text = body.dump();
    for (size_t p; (p = text.find("${CORPUS_DIR}/04-cli-full-example-deployable")) != std::string::npos;) {
      text.replace(p, 44, dir);
    }
    body = Json::parse(text);
    if (req.find("/networks/create") != std::string::npos) networks[body["Name"]] = body;
    if (req.find("/services/create") != std::string::npos) {
      auto& cs = body["TaskTemplate"]["ContainerSpec"];
      for (auto& s : cs["Secrets"]) s.erase("SecretID");
      for (auto& c : cs["Configs"]) c.erase("ConfigID");
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
  ASSERT_EQ(spec->services.size(), 1u);
  // docker orders ports with Go's unstable sort on PublishedPort only; ties
  // (here the unpublished 3000-3005) come in an order we do not reproduce.
  Json ours = spec->services[0].spec.Unpack();
  for (Json* j : {&ours, &services["st04_foo"]}) {
    auto& ports = (*j)["EndpointSpec"]["Ports"];
    std::stable_sort(ports.begin(), ports.end(), [](const Json& a, const Json& b) {
      return std::make_pair(a.value("PublishedPort", 0), a.value("TargetPort", 0)) <
             std::make_pair(b.value("PublishedPort", 0), b.value("TargetPort", 0));
    });
  }
  EXPECT_EQ(ours, services["st04_foo"]) << Json::diff(services["st04_foo"], ours);
  EXPECT_EQ(spec->services[0].depends_on, (std::vector<std::string>{"db", "redis"}));
  size_t created = 0;
  for (const auto& n : spec->networks) {
    if (n.external) continue;
    ++created;
    EXPECT_EQ(n.spec, networks[n.name]) << n.name;
  }
  EXPECT_EQ(created, networks.size());
  for (const auto& b : spec->secrets) {
    if (!b.external) {
      EXPECT_EQ(b.spec, secrets[b.name]) << b.name;
    }
  }
  for (const auto& b : spec->configs) {
    if (!b.external) {
      EXPECT_EQ(b.spec, configs[b.name]) << b.name;
    }
  }
  // Contents live in data only.
  EXPECT_EQ(spec->secrets[0].name, "bar");
  EXPECT_EQ(spec->secrets[0].data, "secret-data\n");
  EXPECT_FALSE(spec->secrets[0].spec.contains("Data"));
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
