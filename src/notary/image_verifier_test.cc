#include "notary/image_verifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/crypto.h"
#include "notary/http_source.h"
#include "notary/swarm_root_store.h"

namespace stackctl::notary {
namespace {

constexpr char kOther[] = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

// Only what SwarmRootStore uses: configs.
class ConfigEngine : public engine::Engine {
 public:
  Status Ping() override { return OkStatus(); }
  Result<engine::VersionInfo> Version() override { return Internal("unused"); }
  Result<engine::SwarmInfo> Info() override { return Internal("unused"); }
  Status VisitServices(const engine::Filters&, bool, const std::function<void(engine::Service&&)>&) override {
    return Internal("unused");
  }
  Result<engine::Service> InspectService(const std::string&) override { return Internal("unused"); }
  Result<std::string> CreateService(const Json&, const std::string&) override {
    return Internal("unused");
  }
  Result<std::vector<std::string>> UpdateService(const std::string&, uint64_t, const Json&,
                                                 const std::string&) override {
    return Internal("unused");
  }
  Status RollbackService(const std::string&, uint64_t) override { return Internal("unused"); }
  Status RemoveService(const std::string&) override { return Internal("unused"); }
  Result<std::vector<engine::Task>> ListTasks(const engine::Filters&) override {
    return Internal("unused");
  }
  Result<std::vector<engine::Node>> ListNodes(const engine::Filters&) override {
    return Internal("unused");
  }
  Result<std::vector<engine::Object>> ListObjects(engine::Kind kind,
                                                  const engine::Filters& f) override {
    if (down) return Unavailable("engine down");
    std::vector<engine::Object> out;
    for (const auto& [id, o] : configs) {
      bool match = true;
      for (const auto& l : f.at("label")) {
        auto eq = l.find('=');
        auto it = o.labels.find(l.substr(0, eq));
        if (it == o.labels.end() || it->second != l.substr(eq + 1)) match = false;
      }
      if (match) {
        engine::Object copy = o;
        copy.spec.erase("Data");  // like the engine's list: do not rely on Data here
        out.push_back(copy);
      }
    }
    return out;
  }
  Result<engine::Object> InspectObject(engine::Kind, const std::string& id) override {
    auto it = configs.find(id);
    if (it == configs.end()) return NotFound("config " + id);
    return it->second;
  }
  Result<std::string> CreateObject(engine::Kind, const Json& spec) override {
    for (const auto& [id, o] : configs) {
      if (o.name == spec["Name"]) return AlreadyExists("config " + o.name + " already exists");
    }
    engine::Object o;
    o.id = "cfg" + std::to_string(++next_id);
    o.name = spec["Name"];
    o.labels = spec["Labels"].get<std::map<std::string, std::string>>();
    o.spec = spec;
    configs[o.id] = o;
    return o.id;
  }
  Status UpdateObject(engine::Kind, const std::string&, uint64_t, const Json&) override {
    return Internal("unused");
  }
  Status RemoveObject(engine::Kind, const std::string& id) override {
    configs.erase(id);
    return OkStatus();
  }
  Result<std::string> DistributionDigest(const std::string&, const std::string&) override {
    return Internal("unused");
  }
  Status StreamEvents(const engine::Filters&, int64_t, const std::function<bool(const Json&)>&, int64_t,
                      const std::atomic<bool>* = nullptr) override {
    return Internal("unused");
  }

  std::map<std::string, engine::Object> configs;
  int next_id = 0;
  bool down = false;
};

TEST(ImageRef, Normalizes) {
  auto r = ParseImageRef("busybox");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Gun(), "docker.io/library/busybox");
  EXPECT_EQ(r->tag, "latest");
  EXPECT_EQ(r->Familiar(), "busybox");
  r = ParseImageRef("127.0.0.1:5000/library/busybox-deleg:conflict");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Gun(), "127.0.0.1:5000/library/busybox-deleg");
  EXPECT_EQ(r->tag, "conflict");
  EXPECT_EQ(r->Familiar(), "127.0.0.1:5000/library/busybox-deleg");
  r = ParseImageRef("localhost/a/b:1@" + std::string(kOther));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->registry, "localhost");
  EXPECT_EQ(r->digest, kOther);
  EXPECT_EQ(ParseImageRef("Busybox").status(),
            InvalidArgument("image \"Busybox\": invalid repository name \"library/Busybox\""));
  EXPECT_EQ(ParseImageRef("a@sha256:12").status(),
            InvalidArgument("image \"a@sha256:12\": invalid digest \"sha256:12\""));
}

TEST(TrustServer, DockerRules) {
  NotaryOptions o;
  EXPECT_EQ(TrustServerFor(o, "docker.io"), "https://notary.docker.io");
  EXPECT_EQ(TrustServerFor(o, "reg.example:5000"), "https://reg.example:5000");
  o.default_server = "https://127.0.0.1:4443";
  EXPECT_EQ(TrustServerFor(o, "reg.example:5000"), "https://127.0.0.1:4443");
  o.servers["reg.example:5000"] = "https://n.example";
  EXPECT_EQ(TrustServerFor(o, "reg.example:5000"), "https://n.example");
}

TEST(HttpSource, RefusesPlainHttp) {
  EXPECT_EQ(HttpSource::Create({"http://127.0.0.1:4443", ""}).status(),
            InvalidArgument("trust server \"http://127.0.0.1:4443\" must be an https:// URL"));
}

TEST(HttpSource, ServerDownFailsClosed) {
  auto src = HttpSource::Create({"https://127.0.0.1:1", ""});
  ASSERT_TRUE(src.ok());
  EXPECT_EQ(
      (*src)->Fetch("g", "timestamp", 100).status(),
      Unavailable("notary server https://127.0.0.1:1 unreachable: Couldn't connect to server"));
}

TEST(TrustPolicy, Parses) {
  EXPECT_EQ(*ParseTrustPolicy("require"), TrustPolicy::kRequire);
  EXPECT_EQ(*ParseTrustPolicy("warn"), TrustPolicy::kWarn);
  EXPECT_EQ(*ParseTrustPolicy("off"), TrustPolicy::kOff);
  EXPECT_EQ(ParseTrustPolicy("maybe").status(),
            InvalidArgument("trust policy \"maybe\": must be require, warn or off"));
}

TEST(SwarmRootStore, RoundTripAndSupersede) {
  ConfigEngine engine;
  SwarmRootStore store(engine);
  const std::string gun = "127.0.0.1:5000/library/busybox";
  EXPECT_FALSE(store.Load(gun)->has_value());
  TrustState a{R"({"signed":{"version":1}})", {{"timestamp", 3}}};
  ASSERT_TRUE(store.Save(gun, a).ok());
  EXPECT_EQ(**store.Load(gun), a);
  TrustState b{R"({"signed":{"version":2}})", {{"timestamp", 4}, {"snapshot", 2}}};
  ASSERT_TRUE(store.Save(gun, b).ok());
  EXPECT_EQ(**store.Load(gun), b);
  ASSERT_EQ(engine.configs.size(), 1u);
  const auto& cfg = engine.configs.begin()->second;
  EXPECT_EQ(cfg.labels.at("io.stackctl.notary.gun"), gun);
  EXPECT_EQ(cfg.labels.at("io.stackctl.notary.root-version"), "2");
  EXPECT_EQ(cfg.name.rfind("stackctl-notary-" + Sha256Hex(gun).substr(0, 16) + "-", 0), 0u);
  // Another GUN is separate.
  EXPECT_FALSE(store.Load(gun + "-x")->has_value());
  engine.down = true;
  EXPECT_EQ(store.Load(gun).status(),
            Unavailable(gun + ": trust store: cannot list swarm configs: engine down"));
}

TEST(FileRootStore, RoundTrip) {
  auto dir = std::filesystem::temp_directory_path() / ("stk-notary-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  FileRootStore store(dir.string());
  EXPECT_FALSE(store.Load("g")->has_value());
  TrustState s{"root-bytes", {{"targets", 7}}};
  ASSERT_TRUE(store.Save("g", s).ok());
  EXPECT_EQ(**FileRootStore(dir.string()).Load("g"), s);
  FileMetadataCache cache((dir / "cache").string());
  EXPECT_FALSE(cache.Get("g", "snapshot.ab").has_value());
  cache.Put("g", "snapshot.ab", "x");
  EXPECT_EQ(*cache.Get("g", "snapshot.ab"), "x");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace stackctl::notary
