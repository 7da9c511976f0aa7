// Compose parity against a real swarm: deploys the project's compose cases
// (tests/data/compose/NAME, written for these tests) with
// `docker stack deploy --resolve-image never` into the test bed and compares
// the specs the engine stored with what stackctl renders for the same input.
//
// The engine adds defaults on store (see docs/compose-parity.md); this test
// compares the fields stackctl sends that the engine keeps verbatim
// (`docker service inspect` also inserts defaults such as a 10 s
// StopGracePeriod, so that field is left to the unit corpus test).
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "common/file_source.h"
#include "compose/loader.h"
#include "model/from_compose.h"
#include "testbed.h"

namespace stackctl {
namespace {

std::string Real(const std::string& p) {
  char buf[PATH_MAX];
  return realpath(p.c_str(), buf) ? std::string(buf) : p;
}

const char* kKeptPaths[] = {
    "/Name",
    "/Labels",
    "/TaskTemplate/ContainerSpec/Image",
    "/TaskTemplate/ContainerSpec/Labels",
    "/TaskTemplate/ContainerSpec/Command",
    "/TaskTemplate/ContainerSpec/Args",
    "/TaskTemplate/ContainerSpec/Env",
    "/TaskTemplate/ContainerSpec/Secrets",
    "/TaskTemplate/ContainerSpec/Configs",
    "/TaskTemplate/ContainerSpec/Healthcheck",
    "/TaskTemplate/Resources",
    "/TaskTemplate/Placement",
    "/TaskTemplate/LogDriver",
};

Json Pick(const Json& spec) {
  Json out = Json::object();
  for (const char* p : kKeptPaths) {
    Json::json_pointer ptr(p);
    if (spec.contains(ptr)) out[p] = spec.at(ptr);
  }
  // IDs are assigned by the engine.
  for (const char* k : {"/TaskTemplate/ContainerSpec/Secrets", "/TaskTemplate/ContainerSpec/Configs"}) {
    if (!out.contains(k)) continue;
    for (auto& r : out[k]) {
      r.erase("SecretID");
      r.erase("ConfigID");
    }
  }
  return out;
}

void DeployAndCompare(const std::string& name, const std::string& stack) {
  testing::Testbed tb;
  REQUIRE_TESTBED(tb);
  const std::string dir = Real(STACKCTL_SOURCE_DIR "/tests/data/compose/" + name);
  std::string out;
  std::ifstream pre_file(dir + "/pre");
  std::stringstream pre;
  pre << pre_file.rdbuf();
  if (!pre.str().empty()) {
    std::ofstream script("/tmp/stackctl-parity-pre.sh");
    script << "D() { " << tb.docker_cli << " -H " << tb.docker_host << " \"$@\"; }\n" << pre.str() << "\n";
    script.close();
    ASSERT_EQ(testing::RunCommand("bash /tmp/stackctl-parity-pre.sh", &out), 0) << out;
  }
  int rc = testing::RunCommand("cd " + dir + " && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root " +
                                   tb.docker_cli + " -H " + tb.docker_host +
                                   " stack deploy --resolve-image never -c docker-compose.yml " + stack,
                               &out);
  ASSERT_EQ(rc, 0) << out;

  DiskFileSource fs("/");
  compose::LoadOptions o;
  o.files = {dir + "/docker-compose.yml"};
  o.env = {{"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"}, {"HOME", "/root"}};
  o.working_dir = dir;
  auto project = compose::LoadProject(o, fs);
  ASSERT_TRUE(project.ok()) << project.status().message();
  auto spec = model::FromCompose(*project, stack, fs);
  ASSERT_TRUE(spec.ok()) << spec.status().message();

  // Every service docker made is compared, and no other.
  std::string listed = tb.Docker("service ls -q --filter label=com.docker.stack.namespace=" + stack);
  ASSERT_EQ(spec->services.size(), static_cast<size_t>(std::count(listed.begin(), listed.end(), '\n')));
  ASSERT_FALSE(spec->services.empty());
  for (const auto& svc : spec->services) {
    Json stored = Json::parse(tb.Docker("service inspect " + svc.name))[0]["Spec"];
    const Json ours = svc.spec.Unpack();
    EXPECT_EQ(Pick(ours), Pick(stored)) << svc.name << ": " << Json::diff(Pick(stored), Pick(ours)).dump();
  }
  for (const auto& n : spec->networks) {
    if (n.external) continue;
    Json stored = Json::parse(tb.Docker("network inspect " + n.name))[0];
    EXPECT_EQ(n.spec["Labels"], stored["Labels"]) << n.name;
    EXPECT_EQ(n.spec["Driver"], stored["Driver"]) << n.name;
    EXPECT_EQ(n.spec["Attachable"], stored["Attachable"]) << n.name;
    EXPECT_EQ(n.spec["Internal"], stored["Internal"]) << n.name;
  }
  for (const auto& b : spec->secrets) {
    if (b.external) continue;
    Json stored = Json::parse(tb.Docker("secret inspect " + b.name))[0]["Spec"];
    EXPECT_EQ(b.spec["Labels"], stored["Labels"]) << b.name;
  }
  tb.Docker("stack rm " + stack);
}

TEST(ComposeParityTest, MultiTier) { DeployAndCompare("multi-tier", "parmt"); }
TEST(ComposeParityTest, Runtime) { DeployAndCompare("runtime", "parrt"); }
TEST(ComposeParityTest, FullExample) { DeployAndCompare("full-example", "parfe"); }

}  // namespace
}  // namespace stackctl
