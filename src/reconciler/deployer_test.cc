#include "reconciler/deployer.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/crypto.h"
#include "engineapi/engine_wrapper.h"
#include "engineapi/fake_engine.h"
#include "reconciler/lock.h"
#include "reconciler/plan.h"
#include "reconciler/removal.h"

namespace stackctl::reconciler {
namespace {

using engine::FakeEngine;

model::Service MakeService(const std::string& stack, const std::string& key, const std::string& image,
                           std::vector<std::string> deps = {}) {
  model::Service s;
  s.key = key;
  s.name = stack + "_" + key;
  s.depends_on = std::move(deps);
  s.spec = PackedJson(
      Json{{"Name", s.name},
           {"Labels", {{model::kStackNamespaceLabel, stack}, {model::kStackImageLabel, image}}},
           {"TaskTemplate",
            {{"ContainerSpec", {{"Image", image}, {"Labels", {{model::kStackNamespaceLabel, stack}}}}},
             {"Networks", Json::array({{{"Target", stack + "_default"}, {"Aliases", {key}}}})}}},
           {"Mode", {{"Replicated", {{"Replicas", 1}}}}},
           {"EndpointSpec", Json::object()}});
  return s;
}

void SetImage(model::Service& s, const std::string& image) {
  s.spec.Edit([&](Json& j) { j["TaskTemplate"]["ContainerSpec"]["Image"] = image; });
}

model::StackSpec MakeStack(const std::string& stack, const std::string& secret_value = "s3cret") {
  model::StackSpec s;
  s.name = stack;
  model::Network n;
  n.key = "default";
  n.name = stack + "_default";
  n.spec = {{"Name", n.name}, {"Driver", "overlay"}, {"Labels", {{model::kStackNamespaceLabel, stack}}}};
  s.networks.push_back(n);
  model::Blob sec;
  sec.key = "db_pass";
  sec.name = stack + "_db_pass-" + Sha256Hex(secret_value).substr(0, 12);
  sec.spec = {{"Name", sec.name},
              {"Labels", {{model::kStackNamespaceLabel, stack}, {model::kLogicalNameLabel, stack + "_db_pass"}}}};
  sec.data = secret_value;
  s.secrets.push_back(sec);
  s.services.push_back(MakeService(stack, "db", "db:1"));
  s.services.back().spec.Edit([&](Json& j) {
    j["TaskTemplate"]["ContainerSpec"]["Secrets"] = Json::array(
        {{{"SecretName", sec.name}, {"File", {{"Name", "db_pass"}, {"UID", "0"}, {"GID", "0"}, {"Mode", 292}}}}});
  });
  s.services.push_back(MakeService(stack, "web", "web:1", {"db"}));
  s.services.push_back(MakeService(stack, "worker", "worker:1", {"db"}));
  return s;
}

class DeployerTest : public ::testing::Test {
 protected:
  DeployOptions Opts() {
    DeployOptions o;
    o.poll_interval = std::chrono::milliseconds(10);
    o.timeout = std::chrono::seconds(30);
    return o;
  }
  FakeEngine fake_;
  FakeClock clock_;
  Deployer deployer_{fake_, clock_};
};

TEST_F(DeployerTest, FirstDeployCreatesEverythingThenNoOpWritesNothing) {
  auto r = deployer_.Deploy(MakeStack("app"), Opts());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kSucceeded) << r->message;
  EXPECT_EQ(fake_.Calls("CreateService"), 3);
  EXPECT_EQ(r->history_seq, 1);
  auto svc = fake_.InspectService("app_web");
  ASSERT_TRUE(svc.ok());
  EXPECT_EQ(svc->labels[model::kManagedByLabel], "stackctl");
  EXPECT_EQ(svc->labels[model::kRevisionLabel], "manual");
  auto db = fake_.InspectService("app_db");
  EXPECT_FALSE(db->spec["TaskTemplate"]["ContainerSpec"]["Secrets"][0].value("SecretID", "").empty());

  fake_.ResetCalls();
  auto again = deployer_.Deploy(MakeStack("app"), Opts());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->outcome, Outcome::kInSync);
  EXPECT_EQ(fake_.WriteCalls(), 0);
  // One list call per kind, nothing else.
  EXPECT_EQ(fake_.Calls("ListServices") + fake_.Calls("ListObjects"), 4);
  EXPECT_EQ(fake_.Calls("InspectService") + fake_.Calls("InspectObject") + fake_.Calls("ListTasks"), 0);
}

// The record's spec is deflated while the rollout runs and joined with the
// rest of the record at its end: what is stored is one zlib stream of the
// record's canonical text, holding the deployed specs and no secret value.
TEST_F(DeployerTest, TheHistoryRecordIsTheCanonicalTextOfTheDeployedStack) {
  auto r = deployer_.Deploy(MakeStack("app"), Opts());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->history_seq, 1);
  auto objs = fake_.ListObjects(engine::Kind::kConfig, {{"label", {std::string(kHistoryLabel) + "=app"}}});
  ASSERT_TRUE(objs.ok());
  ASSERT_EQ(objs->size(), 1u);
  std::string packed;
  ASSERT_TRUE(Base64Decode((*objs)[0].spec.value("Data", ""), &packed));
  std::string text(1 << 20, '\0');
  uLongf text_len = text.size();
  ASSERT_EQ(uncompress(reinterpret_cast<Bytef*>(text.data()), &text_len,
                       reinterpret_cast<const Bytef*>(packed.data()), packed.size()),
            Z_OK);
  text.resize(text_len);
  EXPECT_EQ(text.find("s3cret"), std::string::npos);

  auto hist = deployer_.History("app");
  ASSERT_TRUE(hist.ok());
  ASSERT_EQ(hist->size(), 1u);
  std::string again;
  WriteCanonicalJson(RecordToJson((*hist)[0]), [&](std::string_view piece) { again.append(piece); });
  EXPECT_EQ(text, again);
  auto spec = StackSpecFromJson((*hist)[0].spec);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  const auto desired = MakeStack("app");
  EXPECT_EQ(spec->name, "app");
  ASSERT_EQ(spec->networks.size(), 1u);
  EXPECT_EQ(spec->networks[0].spec["Name"], "app_default");
  EXPECT_EQ(spec->networks[0].spec["Labels"][model::kManagedByLabel], "stackctl");  // as deployed
  ASSERT_EQ(spec->secrets.size(), 1u);
  EXPECT_EQ(spec->secrets[0].name, desired.secrets[0].name);
  EXPECT_EQ(spec->secrets[0].data, "");
  ASSERT_EQ(spec->services.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(spec->services[i].name, desired.services[i].name);
    EXPECT_EQ(spec->services[i].depends_on, desired.services[i].depends_on);
    EXPECT_EQ(spec->services[i].spec.Unpack()["TaskTemplate"]["ContainerSpec"]["Image"],
              desired.services[i].spec.Unpack()["TaskTemplate"]["ContainerSpec"]["Image"]);
  }

  // A record whose spec is given as JSON is stored the same way.
  HistoryRecord rec = (*hist)[0];
  auto seq = HistoryStore(fake_, "app").Append(rec, 10);
  ASSERT_TRUE(seq.ok()) << seq.status().ToString();
  EXPECT_EQ(*seq, 2);
  auto both = deployer_.History("app");
  ASSERT_TRUE(both.ok());
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ((*both)[0].seq, 2);
  EXPECT_EQ((*both)[0].spec, (*hist)[0].spec);

  // Retention: the newest `keep`, the new one included.
  auto third = HistoryStore(fake_, "app").Append(rec, 2);
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_EQ(*third, 3);
  auto kept = deployer_.History("app");
  ASSERT_TRUE(kept.ok());
  ASSERT_EQ(kept->size(), 2u);
  EXPECT_EQ((*kept)[0].seq, 3);
  EXPECT_EQ((*kept)[1].seq, 2);

  // The newest succeeded record's revision, from the labels: an older
  // succeeded one and a newer failed one do not count.
  HistoryRecord newer = rec;
  newer.revision = "newer";
  ASSERT_TRUE(HistoryStore(fake_, "app").Append(newer, 10).ok());
  HistoryRecord failed = rec;
  failed.revision = "bad";
  failed.result = HistoryResult::kRolledBack;
  ASSERT_TRUE(HistoryStore(fake_, "app").Append(failed, 10).ok());
  auto last = HistoryStore(fake_, "app").LastSucceededRevision();
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(*last, std::optional<std::string>("newer"));
  auto none = HistoryStore(fake_, "other").LastSucceededRevision();
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, std::nullopt);
}

TEST_F(DeployerTest, OneServiceChangeWritesOnlyThatService) {
  ASSERT_TRUE(deployer_.Deploy(MakeStack("app"), Opts()).ok());
  auto desired = MakeStack("app");
  SetImage(desired.services[1], "web:2");
  fake_.ResetCalls();
  auto r = deployer_.Deploy(desired, Opts());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kSucceeded);
  EXPECT_EQ(fake_.Calls("UpdateService"), 1);
  EXPECT_EQ(fake_.Calls("CreateService"), 0);
  ASSERT_EQ(r->diff.Count(Action::kUpdate), 1u);
  for (const auto& c : r->diff.changes) {
    if (c.action == Action::kUpdate) {
      EXPECT_EQ(c.name, "app_web");
      EXPECT_EQ(c.paths, std::vector<std::string>{"TaskTemplate.ContainerSpec.Image"});
      EXPECT_FALSE(c.drift);
    }
  }
  EXPECT_EQ(fake_.InspectService("app_web")->spec["TaskTemplate"]["ContainerSpec"]["Image"], "web:2");
}

TEST_F(DeployerTest, FailingServiceRollsBackTheWholeRollout) {
  ASSERT_TRUE(deployer_.Deploy(MakeStack("app"), Opts()).ok());
  auto desired = MakeStack("app");
  SetImage(desired.services[0], "db:2");      // wave 1, fine
  SetImage(desired.services[2], "worker:bad");  // wave 2, fails
  desired.services.push_back(MakeService("app", "extra", "extra:1"));             // wave 1, new
  fake_.FailImage("worker:bad", "starting container failed: exec: \"nope\": executable file not found");
  auto r = deployer_.Deploy(desired, Opts());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kRolledBack);
  EXPECT_EQ(r->failed_service, "app_worker");
  EXPECT_NE(r->message.find("executable file not found"), std::string::npos) << r->message;
  EXPECT_EQ(fake_.InspectService("app_db")->spec["TaskTemplate"]["ContainerSpec"]["Image"], "db:1");
  EXPECT_EQ(fake_.InspectService("app_worker")->spec["TaskTemplate"]["ContainerSpec"]["Image"], "worker:1");
  EXPECT_EQ(fake_.InspectService("app_extra").status().code(), Code::kNotFound);
  auto hist = deployer_.History("app");
  ASSERT_TRUE(hist.ok());
  ASSERT_EQ(hist->size(), 2u);
  EXPECT_EQ((*hist)[0].result, HistoryResult::kRolledBack);
  EXPECT_EQ((*hist)[1].result, HistoryResult::kSucceeded);
}

// Counts concurrent CreateService calls and refuses one service.
class SlowCreates : public engine::EngineWrapper {
 public:
  SlowCreates(engine::Engine& target, std::string refuse) : EngineWrapper(target), refuse_(std::move(refuse)) {}
  Result<std::string> CreateService(const Json& spec, const std::string& auth) override {
    int now = ++in_flight_;
    for (int p = peak_; now > p && !peak_.compare_exchange_weak(p, now);) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    --in_flight_;
    ++creates_;
    if (spec.value("Name", "") == refuse_) {
      return InvalidArgument("create service: rpc error: code = InvalidArgument desc = refused for the test");
    }
    return target().CreateService(spec, auth);
  }
  std::atomic<int> in_flight_{0}, peak_{0}, creates_{0};
  std::string refuse_;
};

model::StackSpec WideStack(const std::string& stack, int n) {
  model::StackSpec s = MakeStack(stack);
  s.services.clear();
  for (int i = 0; i < n; ++i) s.services.push_back(MakeService(stack, "s" + std::to_string(100 + i), "img:1"));
  return s;
}

TEST_F(DeployerTest, ServicesOfAWaveAreWrittenSeveralAtATime) {
  SlowCreates slow(fake_, "");
  Deployer d(slow, clock_);
  auto r = d.Deploy(WideStack("wide", 40), Opts());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kSucceeded);
  EXPECT_EQ(slow.creates_, 40);
  EXPECT_GE(slow.peak_, 2);
  EXPECT_LE(slow.peak_, 8);
  auto services = fake_.ListServices({{"label", {std::string(model::kStackNamespaceLabel) + "=wide"}}}, false);
  ASSERT_TRUE(services.ok());
  EXPECT_EQ(services->size(), 40u);
}

TEST_F(DeployerTest, ARefusedCreateInAWideWaveUndoesEveryWriteOfTheRollout) {
  SlowCreates slow(fake_, "wide_s117");
  Deployer d(slow, clock_);
  auto r = d.Deploy(WideStack("wide", 40), Opts());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kRolledBack);
  EXPECT_EQ(r->message,
            "service wide_s117: create service: rpc error: code = InvalidArgument desc = refused for the test");
  EXPECT_LT(slow.creates_, 40);  // no new writes once one failed
  // Nothing of the stack is left but its history.
  auto services = fake_.ListServices({{"label", {std::string(model::kStackNamespaceLabel) + "=wide"}}}, false);
  ASSERT_TRUE(services.ok());
  EXPECT_TRUE(services->empty());
  EXPECT_EQ(fake_.InspectObject(engine::Kind::kNetwork, "wide_default").status().code(), Code::kNotFound);
  auto hist = d.History("wide");
  ASSERT_TRUE(hist.ok());
  ASSERT_EQ(hist->size(), 1u);
  EXPECT_EQ((*hist)[0].result, HistoryResult::kRolledBack);
}

TEST_F(DeployerTest, ALargeStackIsComparedServiceByServiceInTheFilesOrder) {
  // 40 services: PrepareDesired and Compare work on two threads.
  ASSERT_EQ(deployer_.Deploy(WideStack("wide", 40), Opts())->outcome, Outcome::kSucceeded);
  auto again = deployer_.Deploy(WideStack("wide", 40), Opts());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->outcome, Outcome::kInSync);
  EXPECT_EQ(again->writes, 0);
  auto changed = WideStack("wide", 40);
  SetImage(changed.services[37], "img:2");
  changed.services[3].spec.Edit([](Json& j) { j["Labels"]["tier"] = "front"; });
  auto diff = deployer_.Diff(changed, {});
  ASSERT_TRUE(diff.ok()) << diff.status().ToString();
  std::vector<std::string> services, updated;
  for (const auto& c : diff->changes) {
    if (c.kind != ResourceKind::kService) continue;
    services.push_back(c.name);
    if (c.action == Action::kUpdate) updated.push_back(c.name + " " + c.paths.at(0));
  }
  ASSERT_EQ(services.size(), 40u);
  for (size_t i = 0; i < services.size(); ++i) EXPECT_EQ(services[i], changed.services[i].name);
  EXPECT_EQ(updated, (std::vector<std::string>{"wide_s103 Labels.tier", "wide_s137 TaskTemplate.ContainerSpec.Image"}));
}

// Holds each network/secret create until a second one is in flight (at most
// 2 s, so a deployer that creates them one at a time fails the test instead of
// hanging) and refuses the create of one object by name.
class ConcurrentObjectCreates : public engine::EngineWrapper {
 public:
  ConcurrentObjectCreates(engine::Engine& target, std::string refuse)
      : EngineWrapper(target), refuse_(std::move(refuse)) {}
  Result<std::string> CreateObject(engine::Kind kind, const Json& spec) override {
    if (kind == engine::Kind::kConfig) return target().CreateObject(kind, spec);  // lock, history
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++in_flight_;
      peak_ = std::max(peak_, in_flight_);
      cv_.notify_all();
      cv_.wait_for(lock, std::chrono::seconds(2), [&] { return in_flight_ >= 2 || done_ > 0; });
      --in_flight_;
      ++done_;
      cv_.notify_all();
    }
    if (spec.value("Name", "") == refuse_) {
      return InvalidArgument("create secret: rpc error: code = InvalidArgument desc = refused for the test");
    }
    return target().CreateObject(kind, spec);
  }
  std::mutex mu_;
  std::condition_variable cv_;
  int in_flight_ = 0, peak_ = 0, done_ = 0;
  std::string refuse_;
};

model::StackSpec ManyNetworksAndSecrets(const std::string& stack) {
  model::StackSpec s = WideStack(stack, 4);
  for (int i = 1; i <= 3; ++i) {
    model::Network n = s.networks[0];
    n.key = "net" + std::to_string(i);
    n.name = stack + "_" + n.key;
    n.spec["Name"] = n.name;
    s.networks.push_back(n);
    model::Blob b = s.secrets[0];
    b.key = "key" + std::to_string(i);
    b.data = "value " + std::to_string(i);
    b.name = stack + "_" + b.key + "-" + Sha256Hex(b.data).substr(0, 12);
    b.spec["Name"] = b.name;
    b.spec["Labels"][model::kLogicalNameLabel] = stack + "_" + b.key;
    s.secrets.push_back(b);
  }
  return s;
}

TEST_F(DeployerTest, NetworksAndSecretsAreCreatedSeveralAtATime) {
  ConcurrentObjectCreates creates(fake_, "");
  Deployer d(creates, clock_);
  auto r = d.Deploy(ManyNetworksAndSecrets("objs"), Opts());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kSucceeded);
  EXPECT_EQ(creates.done_, 8);  // 4 networks, 4 secrets
  EXPECT_GE(creates.peak_, 2);
  EXPECT_LE(creates.peak_, 8);
  EXPECT_TRUE(fake_.InspectObject(engine::Kind::kNetwork, "objs_net3").ok());
  auto secret = fake_.InspectObject(engine::Kind::kSecret, ManyNetworksAndSecrets("objs").secrets[3].name);
  ASSERT_TRUE(secret.ok()) << secret.status().ToString();
  EXPECT_EQ(secret->labels[model::kLogicalNameLabel], "objs_key3");
}

TEST_F(DeployerTest, ARefusedSecretCreateRemovesWhatTheRolloutCreatedAndWritesNoService) {
  auto stack = ManyNetworksAndSecrets("objs");
  const std::string refused = stack.secrets[2].name;
  ConcurrentObjectCreates creates(fake_, refused);
  Deployer d(creates, clock_);
  auto r = d.Deploy(stack, Opts());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kRolledBack);
  EXPECT_EQ(r->message, "secret " + refused +
                            ": create secret: rpc error: code = InvalidArgument desc = refused for the test");
  EXPECT_EQ(fake_.Calls("CreateService"), 0);
  for (const auto& n : stack.networks) {
    EXPECT_EQ(fake_.InspectObject(engine::Kind::kNetwork, n.name).status().code(), Code::kNotFound) << n.name;
  }
  for (const auto& b : stack.secrets) {
    EXPECT_EQ(fake_.InspectObject(engine::Kind::kSecret, b.name).status().code(), Code::kNotFound) << b.name;
  }
  auto hist = d.History("objs");
  ASSERT_TRUE(hist.ok());
  ASSERT_EQ(hist->size(), 1u);
  EXPECT_EQ((*hist)[0].result, HistoryResult::kRolledBack);
}

// Records how many services each status list (the convergence wait) returned.
class StatusListSizes : public engine::EngineWrapper {
 public:
  using EngineWrapper::EngineWrapper;
  Status VisitServices(const engine::Filters& filters, bool with_status,
                       const std::function<void(engine::Service&&)>& visit) override {
    size_t n = 0;
    Status st = target().VisitServices(filters, with_status, [&](engine::Service&& s) {
      ++n;
      visit(std::move(s));
    });
    if (with_status && st.ok()) sizes_.push_back(n);
    return st;
  }
  std::vector<size_t> sizes_;
};

TEST_F(DeployerTest, ConvergenceWaitReadsOnlyTheChangedServices) {
  ASSERT_TRUE(deployer_.Deploy(WideStack("wide", 60), Opts()).ok());
  StatusListSizes lists(fake_);
  Deployer d(lists, clock_);
  model::StackSpec changed = WideStack("wide", 60);
  SetImage(changed.services[7], "img:2");
  auto r = d.Deploy(changed, Opts());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kSucceeded) << r->message;
  ASSERT_FALSE(lists.sizes_.empty());
  for (size_t n : lists.sizes_) EXPECT_EQ(n, 1u);
  // Too many pending names for one filter: the whole stack is read.
  lists.sizes_.clear();
  for (auto& svc : changed.services) SetImage(svc, "img:3");
  r = d.Deploy(changed, Opts());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kSucceeded) << r->message;
  ASSERT_FALSE(lists.sizes_.empty());
  EXPECT_EQ(lists.sizes_[0], 60u);
}

class OutOfSequenceOnce : public engine::EngineWrapper {
 public:
  using EngineWrapper::EngineWrapper;
  Result<std::vector<std::string>> UpdateService(const std::string& id, uint64_t version, const Json& spec,
                                                 const std::string& auth) override {
    if (!failed_) {
      failed_ = true;
      // Someone else wrote the service meanwhile: the version we read is stale.
      auto cur = target().InspectService(id);
      Json touched = cur->spec;
      touched["Labels"]["touched"] = "yes";
      (void)target().UpdateService(id, cur->version, touched, "");
      return Aborted("update service " + id + ": rpc error: code = Unknown desc = update out of sequence");
    }
    return target().UpdateService(id, version, spec, auth);
  }
  bool failed_ = false;
};

TEST_F(DeployerTest, OutOfSequenceUpdateIsRetriedWithAFreshVersion) {
  ASSERT_TRUE(deployer_.Deploy(MakeStack("app"), Opts()).ok());
  OutOfSequenceOnce flaky(fake_);
  Deployer d(flaky, clock_);
  auto desired = MakeStack("app");
  SetImage(desired.services[1], "web:2");
  fake_.ResetCalls();
  auto r = d.Deploy(desired, Opts());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kSucceeded);
  EXPECT_EQ(fake_.InspectService("app_web")->spec["TaskTemplate"]["ContainerSpec"]["Image"], "web:2");
  EXPECT_EQ(fake_.Calls("UpdateService"), 2);  // the interfering write + our retry
}

TEST_F(DeployerTest, ManualChangeShowsAsDrift) {
  ASSERT_TRUE(deployer_.Deploy(MakeStack("app"), Opts()).ok());
  auto svc = fake_.InspectService("app_web");
  Json spec = svc->spec;
  spec["Mode"]["Replicated"]["Replicas"] = 5;
  ASSERT_TRUE(fake_.UpdateService(svc->id, svc->version, spec, "").ok());
  auto diff = deployer_.Diff(MakeStack("app"), {});
  ASSERT_TRUE(diff.ok());
  ASSERT_EQ(diff->Count(Action::kUpdate), 1u);
  for (const auto& c : diff->changes) {
    if (c.action != Action::kUpdate) continue;
    EXPECT_EQ(c.name, "app_web");
    EXPECT_TRUE(c.drift);
    EXPECT_EQ(c.paths, std::vector<std::string>{"Mode"});
  }
}

TEST_F(DeployerTest, PruneRemovesOnlyOwnedObjects) {
  ASSERT_TRUE(deployer_.Deploy(MakeStack("app"), Opts()).ok());
  // Someone else's service in the same namespace (e.g. docker stack deploy).
  Json foreign = MakeService("app", "foreign", "x:1").spec.Unpack();
  ASSERT_TRUE(fake_.CreateService(foreign, "").ok());
  auto desired = MakeStack("app");
  desired.services.pop_back();  // worker goes away
  auto opts = Opts();
  auto kept = deployer_.Deploy(desired, opts);
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(fake_.InspectService("app_worker").ok()) << "prune is opt-in";
  EXPECT_EQ(kept->diff.orphans, std::vector<std::string>{"service app_worker"});
  opts.prune = true;
  auto r = deployer_.Deploy(desired, opts);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(fake_.InspectService("app_worker").status().code(), Code::kNotFound);
  EXPECT_TRUE(fake_.InspectService("app_foreign").ok());
}

TEST_F(DeployerTest, ChangedSecretRotatesAndRetiresOldVersions) {
  auto opts = Opts();
  opts.secret_retention = 0;
  ASSERT_TRUE(deployer_.Deploy(MakeStack("app", "v1"), opts).ok());
  std::string v1 = MakeStack("app", "v1").secrets[0].name;
  std::string v2 = MakeStack("app", "v2").secrets[0].name;
  auto r = deployer_.Deploy(MakeStack("app", "v2"), opts);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kSucceeded);
  auto db = fake_.InspectService("app_db");
  EXPECT_EQ(db->spec["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretName"], v2);
  EXPECT_TRUE(fake_.InspectObject(engine::Kind::kSecret, v2).ok());
  EXPECT_EQ(fake_.InspectObject(engine::Kind::kSecret, v1).status().code(), Code::kNotFound);
}

TEST_F(DeployerTest, DefaultRetentionKeepsOnePreviousSecretForRollback) {
  ASSERT_TRUE(deployer_.Deploy(MakeStack("app", "v1"), Opts()).ok());
  ASSERT_TRUE(deployer_.Deploy(MakeStack("app", "v2"), Opts()).ok());
  std::string v1 = MakeStack("app", "v1").secrets[0].name;
  EXPECT_TRUE(fake_.InspectObject(engine::Kind::kSecret, v1).ok());
  // Rollback goes to the v1 record and its secret still exists.
  auto r = deployer_.Rollback("app", std::nullopt, Opts());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kSucceeded) << r->message;
  EXPECT_EQ(fake_.InspectService("app_db")->spec["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretName"], v1);
  auto status = deployer_.GetStatus("app");
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->control.pinned);
  EXPECT_EQ(status->control.pinned_by, "rollback");
}

TEST_F(DeployerTest, StatusShowsEachServicesMode) {
  model::StackSpec stack = MakeStack("app", "v1");
  stack.services[2].spec.Edit([](Json& j) { j["Mode"] = {{"Global", Json::object()}}; });
  ASSERT_TRUE(deployer_.Deploy(stack, Opts()).ok());
  auto status = deployer_.GetStatus("app");
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  std::map<std::string, std::string> modes;
  for (const auto& line : status->services) modes[line.name] = line.mode;
  EXPECT_EQ(modes, (std::map<std::string, std::string>{
                       {"app_db", "replicated"}, {"app_web", "replicated"}, {"app_worker", "global"}}));
}

// An automatic deploy (respect_pin) checks the pin before it waits for the
// lock; a manual deploy holding the lock meanwhile may pin the stack. Under the
// lock the pin is read again: the automatic deploy writes nothing.
TEST_F(DeployerTest, PinTakenWhileWaitingForTheLockIsRespected) {
  ASSERT_TRUE(deployer_.Deploy(MakeStack("app", "v1"), Opts()).ok());
  // Pins the stack as a manual deploy would, right when the lock is created.
  class PinOnLock : public engine::EngineWrapper {
   public:
    using EngineWrapper::EngineWrapper;
    Result<std::string> CreateObject(engine::Kind kind, const Json& spec) override {
      if (kind == engine::Kind::kConfig && spec.value("Name", "") == "stackctl-lock-app" && !pinned_) {
        pinned_ = true;
        Status st = WriteControl(target(), "app", {true, "cli", "manual-v3", "2024-01-01T00:00:00Z"}, std::nullopt);
        EXPECT_TRUE(st.ok()) << st.ToString();
      }
      return EngineWrapper::CreateObject(kind, spec);
    }
    bool pinned_ = false;
  } engine(fake_);
  Deployer automatic(engine, clock_);
  auto o = Opts();
  o.respect_pin = true;
  o.trigger = Trigger::kPoll;
  fake_.ResetCalls();
  auto r = automatic.Deploy(MakeStack("app", "v2"), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(engine.pinned_);
  EXPECT_EQ(r->outcome, Outcome::kPinned) << r->message;
  EXPECT_EQ(fake_.Calls("UpdateService"), 0);
  EXPECT_EQ(fake_.Calls("CreateService"), 0);
  EXPECT_FALSE(fake_.InspectObject(engine::Kind::kSecret, MakeStack("app", "v2").secrets[0].name).ok());
  EXPECT_EQ(fake_.InspectObject(engine::Kind::kConfig, "stackctl-lock-app").status().code(), Code::kNotFound);
}

TEST_F(DeployerTest, RollbackRestoresPreviousImagesExactly) {
  auto v1 = MakeStack("app");
  SetImage(v1.services[1], "web:1@sha256:aaaa");
  auto o1 = Opts();
  o1.revision = "c1";
  ASSERT_TRUE(deployer_.Deploy(v1, o1).ok());
  auto v2 = MakeStack("app");
  SetImage(v2.services[1], "web:1@sha256:bbbb");
  auto o2 = Opts();
  o2.revision = "c2";
  ASSERT_TRUE(deployer_.Deploy(v2, o2).ok());
  auto r = deployer_.Rollback("app", std::nullopt, Opts());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto web = fake_.InspectService("app_web");
  EXPECT_EQ(web->spec["TaskTemplate"]["ContainerSpec"]["Image"], "web:1@sha256:aaaa");
  EXPECT_EQ(web->labels[model::kRevisionLabel], "c1");
  auto bad = deployer_.Rollback("app", 42, Opts());
  EXPECT_EQ(bad.status().ToString(), "NOT_FOUND: stack app: no history record 42");
}

TEST_F(DeployerTest, MissingExternalNetworkFailsBeforeAnyWrite) {
  auto desired = MakeStack("app");
  model::Network ext;
  ext.key = "public";
  ext.name = "traefik-public";
  ext.external = true;
  desired.networks.push_back(ext);
  auto r = deployer_.Deploy(desired, Opts());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(r.status().message(),
            "network \"traefik-public\" is declared as external, but could not be found. You need to "
            "create a swarm-scoped network before the stack is deployed");
  EXPECT_EQ(fake_.WriteCalls(), 0);
}

TEST_F(DeployerTest, LockHeldByAnotherDeployIsAConflict) {
  auto held = StackLock::Acquire(fake_, clock_, "app", std::chrono::seconds(1), std::chrono::hours(1));
  ASSERT_TRUE(held.ok());
  auto opts = Opts();
  opts.lock_wait = std::chrono::seconds(3);
  auto r = deployer_.Deploy(MakeStack("app"), opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kAborted);  // a conflict (HTTP 409), retryable
  EXPECT_NE(r.status().message().find("stack app is locked by another deploy"), std::string::npos);
  held->reset();
  EXPECT_TRUE(deployer_.Deploy(MakeStack("app"), Opts()).ok());
}

TEST_F(DeployerTest, RemoveWaitsForTheStackLockAndRemovesNothingWithoutIt) {
  ASSERT_TRUE(deployer_.Deploy(MakeStack("app"), Opts()).ok());
  auto held = StackLock::Acquire(fake_, clock_, "app", std::chrono::seconds(1), std::chrono::hours(1));
  ASSERT_TRUE(held.ok());
  fake_.ResetCalls();
  auto r = deployer_.Remove("app", {.lock_wait = std::chrono::seconds(3)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kAborted);
  EXPECT_NE(r.status().message().find("stack app is locked by another deploy"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(fake_.Calls("RemoveService"), 0);  // its only writes were attempts at the lock
  EXPECT_EQ(fake_.Calls("RemoveObject"), 0);
  EXPECT_EQ(fake_.ListServices({}, false)->size(), 3u);
  held->reset();
  r = deployer_.Remove("app");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(fake_.ListServices({}, false)->empty());
  // The lock went with the removal: the stack can be deployed again at once.
  auto opts = Opts();
  opts.lock_wait = std::chrono::milliseconds(0);
  EXPECT_TRUE(deployer_.Deploy(MakeStack("app"), opts).ok());
}

// The four list calls of a read are in flight at once: each call waits until
// all four have started (a sequential read would give up after 5 s on the
// first call and fail), then the state is assembled as usual.
TEST_F(DeployerTest, ReadLiveSendsItsFourReadsAtOnce) {
  ASSERT_TRUE(deployer_.Deploy(MakeStack("app"), Opts()).ok());
  class AllAtOnce : public engine::EngineWrapper {
   public:
    using EngineWrapper::EngineWrapper;
    Status VisitServices(const engine::Filters& f, bool with_status,
                         const std::function<void(engine::Service&&)>& visit) override {
      RETURN_IF_ERROR(Arrive());
      return target().VisitServices(f, with_status, visit);
    }
    Result<std::vector<engine::Object>> ListObjects(engine::Kind kind, const engine::Filters& f) override {
      RETURN_IF_ERROR(Arrive());
      return target().ListObjects(kind, f);
    }

   private:
    Status Arrive() {
      std::unique_lock<std::mutex> l(mu_);
      ++arrived_;
      cv_.notify_all();
      if (!cv_.wait_for(l, std::chrono::seconds(5), [&] { return arrived_ >= 4; })) {
        return DeadlineExceeded("only " + std::to_string(arrived_) + " of 4 reads in flight");
      }
      return OkStatus();
    }
    std::mutex mu_;
    std::condition_variable cv_;
    int arrived_ = 0;
  } engine(fake_);
  auto live = ReadLive(engine, "app");
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  EXPECT_EQ(live->services.size(), 3u);
  EXPECT_EQ(live->networks.size(), 1u);
  EXPECT_EQ(live->secrets.size(), 1u);
}

// One read of several stacks: the same four list calls as for one stack,
// and each stack's part equal to what ReadLive reads of it alone.
TEST_F(DeployerTest, ReadLiveStacksReadsEveryStackWithFourCallsAsReadLiveWould) {
  ASSERT_TRUE(deployer_.Deploy(MakeStack("app"), Opts()).ok());
  ASSERT_TRUE(deployer_.Deploy(MakeStack("web", "other"), Opts()).ok());
  ASSERT_TRUE(deployer_.Deploy(MakeStack("elsewhere"), Opts()).ok());  // not asked for
  ASSERT_TRUE(deployer_.SetPinned("web", true, "ci", "r1").ok());     // a control record
  fake_.ResetCalls();
  auto all = ReadLiveStacks(fake_, {"app", "web", "empty"});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(fake_.AllCalls(), 4);
  EXPECT_EQ(fake_.Calls("ListServices"), 1);
  EXPECT_EQ(fake_.Calls("ListObjects"), 3);
  ASSERT_EQ(all->size(), 3u);
  for (const std::string stack : {"app", "web", "empty"}) {
    SCOPED_TRACE(stack);
    auto one = ReadLive(fake_, stack);
    ASSERT_TRUE(one.ok());
    const LiveState& part = all->at(stack);
    EXPECT_EQ(part.stack, stack);
    std::vector<std::string> names, want_names;
    for (const auto& [name, svc] : part.services) names.push_back(name + "@" + svc.id + ":" + svc.spec.Unpack().dump());
    for (const auto& [name, svc] : one->services) want_names.push_back(name + "@" + svc.id + ":" + svc.spec.Unpack().dump());
    EXPECT_EQ(names, want_names);
    auto keys = [](const std::map<std::string, engine::Object>& m) {
      std::vector<std::string> out;
      for (const auto& [name, o] : m) out.push_back(name + "@" + o.id);
      return out;
    };
    EXPECT_EQ(keys(part.networks), keys(one->networks));
    EXPECT_EQ(keys(part.secrets), keys(one->secrets));
    EXPECT_EQ(keys(part.configs), keys(one->configs));
    EXPECT_EQ(part.control.has_value(), one->control.has_value());
    EXPECT_EQ(part.all_network_ids, one->all_network_ids);
    EXPECT_EQ(part.all_secret_ids, one->all_secret_ids);
    EXPECT_EQ(part.known_config_ids, one->known_config_ids);
  }
  EXPECT_EQ(all->at("app").services.size(), 3u);
  EXPECT_TRUE(all->at("web").control.has_value());
  EXPECT_FALSE(all->at("app").control.has_value());
  EXPECT_TRUE(all->at("empty").services.empty());
  EXPECT_FALSE(all->count("elsewhere"));
}

// A live state read by the caller (stackctl reads while it renders) is used
// as read: no list call of its own; a no-op is then no call at all.
TEST_F(DeployerTest, DeployAndDiffUseTheLiveStateTheCallerRead) {
  ASSERT_TRUE(deployer_.Deploy(MakeStack("app"), Opts()).ok());
  auto live = ReadLive(fake_, "app");
  ASSERT_TRUE(live.ok());
  fake_.ResetCalls();
  auto diff = deployer_.Diff(MakeStack("app"), {}, {}, *live);
  ASSERT_TRUE(diff.ok()) << diff.status().ToString();
  EXPECT_TRUE(diff->InSync());
  auto r = deployer_.Deploy(MakeStack("app"), Opts(), *live);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kInSync);
  EXPECT_EQ(fake_.AllCalls(), 0);
  // What the caller read decides the fast path only: a change is made on a
  // fresh read under the lock.
  auto desired = MakeStack("app");
  SetImage(desired.services[1], "web:2");
  r = deployer_.Deploy(desired, Opts(), *live);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kSucceeded);
  EXPECT_EQ(fake_.Calls("UpdateService"), 1);
  EXPECT_EQ(fake_.InspectService("app_web")->spec["TaskTemplate"]["ContainerSpec"]["Image"], "web:2");
  // Another stack's state is refused, not diffed against.
  auto wrong = deployer_.Diff(MakeStack("web"), {}, {}, *live);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), Code::kInternal);
  EXPECT_EQ(wrong.status().message(), "stack web: given the live state of stack app");
}

TEST_F(DeployerTest, RemoveDeletesTheStackAndItsHistory) {
  ASSERT_TRUE(deployer_.Deploy(MakeStack("app"), Opts()).ok());
  auto removed = deployer_.Remove("app");
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(removed->removed.size(), 5u);  // 3 services, 1 secret, 1 network
  EXPECT_TRUE(removed->still_removing.empty());
  auto live = ReadLive(fake_, "app");
  EXPECT_TRUE(live->services.empty());
  EXPECT_TRUE(live->networks.empty());
  EXPECT_TRUE(deployer_.History("app")->empty());
}

// The engine keeps listing what it removed for a while (FakeEngine's removal
// delay: 3 s here, the network of the issue's scenario).
class RemovalDelayTest : public DeployerTest {
 protected:
  // Configs (the lock, history records) go at once, as on the real engine.
  void SetUp() override {
    fake_.SetRemovalDelay(&clock_, std::chrono::milliseconds(3000), {"service", "network", "secret"});
  }
  // A first deploy in which one service's command does not exist.
  Result<DeployResult> FailingFirstDeploy(DeployOptions o) {
    auto bad = MakeStack("rb");
    SetImage(bad.services[1], "web:bad");
    fake_.FailImage("web:bad", "starting container failed: exec: \"nope\": executable file not found");
    auto r = deployer_.Deploy(bad, o);
    fake_.ClearFailedImages();
    return r;
  }
  bool Listed(engine::Kind kind, const std::string& name) {
    auto objs = fake_.ListObjects(kind, {});
    for (const auto& o : *objs) {
      if (o.name == name) return true;
    }
    return false;
  }
};

TEST_F(RemovalDelayTest, RolledBackFirstDeployWaitsUntilItsObjectsAreGoneThenARedeploySucceeds) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto start = clock_.Steady();
    auto r = FailingFirstDeploy(Opts());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->outcome, Outcome::kRolledBack);
    EXPECT_TRUE(r->still_removing.empty());
    // It waited for the network and the secret to leave the lists.
    EXPECT_GE(clock_.Steady() - start, std::chrono::milliseconds(3000));
    EXPECT_FALSE(Listed(engine::Kind::kNetwork, "rb_default"));
    EXPECT_TRUE(fake_.ListServices({}, false)->empty());
    // The fixed file, at once.
    auto good = deployer_.Deploy(MakeStack("rb"), Opts());
    ASSERT_TRUE(good.ok()) << good.status().ToString();
    ASSERT_EQ(good->outcome, Outcome::kSucceeded) << good->message;
    ASSERT_TRUE(deployer_.Remove("rb").ok());
  }
}

TEST_F(RemovalDelayTest, ABoundedWaitReportsWhatIsStillBeingRemoved) {
  auto o = Opts();
  o.removal_wait = std::chrono::milliseconds(1000);
  auto r = FailingFirstDeploy(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->outcome, Outcome::kRolledBack);
  const std::string secret = MakeStack("rb").secrets[0].name;
  EXPECT_EQ(r->still_removing,
            (std::vector<std::string>{"service rb_worker", "service rb_web", "service rb_db", "secret " + secret,
                                      "network rb_default"}));
  auto hist = deployer_.History("rb");
  ASSERT_TRUE(hist.ok());
  ASSERT_EQ(hist->size(), 1u);
  EXPECT_EQ((*hist)[0].still_removing, r->still_removing);
  EXPECT_EQ(RecordToJson((*hist)[0])["still_removing"][4], "network rb_default");
}

// The redeploy reads the network as present (the engine still lists it),
// so does not create it, and its service creates fail "network rb_default not
// found": it waits for the removal to end, creates the network and the secret
// again and retries the services, without a rollback.
TEST_F(RemovalDelayTest, ADeployThatFindsItsNetworkBeingRemovedWaitsAndRecreatesIt) {
  auto o = Opts();
  o.removal_wait = std::chrono::milliseconds(0);  // the rollback does not wait
  auto r = FailingFirstDeploy(o);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->outcome, Outcome::kRolledBack);
  ASSERT_EQ(r->still_removing.size(), 5u);
  ASSERT_TRUE(Listed(engine::Kind::kNetwork, "rb_default"));
  fake_.ResetCalls();
  auto good = deployer_.Deploy(MakeStack("rb"), Opts());
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->outcome, Outcome::kSucceeded) << good->message;
  EXPECT_EQ(fake_.Calls("RemoveService"), 0);  // no rollback
  // The network and the secret are created once, after the removal ended.
  auto live = ReadLive(fake_, "rb");
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->networks.size(), 1u);
  EXPECT_EQ(live->secrets.size(), 1u);
  EXPECT_EQ(live->services.size(), 3u);
  EXPECT_EQ(fake_.InspectService("rb_db")->spec["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretID"],
            live->secrets.begin()->second.id);
}

// Removes the stack's network right before the first service create, as a
// concurrent removal would; `times` creates are hit.
class NetworkVanishes : public engine::EngineWrapper {
 public:
  NetworkVanishes(engine::FakeEngine& fake, int times) : EngineWrapper(fake), times_(times) {}
  Result<std::string> CreateService(const Json& spec, const std::string& auth) override {
    if (times_ > 0) {
      --times_;
      auto nets = target().ListObjects(engine::Kind::kNetwork, {});
      for (const auto& n : *nets) {
        if (n.name == "app_default") (void)target().RemoveObject(engine::Kind::kNetwork, n.id);
      }
    }
    return target().CreateService(spec, auth);
  }
  std::atomic<int> times_;
};

TEST_F(DeployerTest, ACreateWhoseNetworkVanishedIsRetriedOnceAfterRecreatingIt) {
  fake_.SetRemovalDelay(&clock_, std::chrono::milliseconds(0));  // references to removed IDs fail
  NetworkVanishes engine(fake_, 1);
  Deployer d(engine, clock_);
  auto r = d.Deploy(MakeStack("app"), Opts());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kSucceeded) << r->message;
  EXPECT_EQ(fake_.Calls("CreateObject"), 5);  // the network twice, the secret, the lock, the history record
  EXPECT_EQ(fake_.Calls("RemoveService"), 0);
  EXPECT_EQ(ReadLive(fake_, "app")->services.size(), 3u);
}

TEST_F(DeployerTest, ANetworkThatVanishesAgainRollsBack) {
  fake_.SetRemovalDelay(&clock_, std::chrono::milliseconds(0));
  NetworkVanishes engine(fake_, 2);
  Deployer d(engine, clock_);
  auto r = d.Deploy(MakeStack("app"), Opts());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kRolledBack);
  EXPECT_EQ(r->message, "service app_db: create service app_db: network app_default not found");
}

TEST_F(RemovalDelayTest, RemoveWaitsForTheTeardownAndReportsWhatOutlivesTheWait) {
  ASSERT_TRUE(deployer_.Deploy(MakeStack("app"), Opts()).ok());
  auto r = deployer_.Remove("app", {.removal_wait = std::chrono::milliseconds(500),
                                    .poll_interval = std::chrono::milliseconds(100)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->removed.size(), 5u);
  EXPECT_EQ(r->still_removing, r->removed);  // 3 s of teardown, 0.5 s of patience
  EXPECT_EQ(r->still_removing.back(), "network app_default");

  clock_.Advance(std::chrono::seconds(5));
  ASSERT_TRUE(deployer_.Deploy(MakeStack("app"), Opts()).ok());
  auto start = clock_.Steady();
  r = deployer_.Remove("app", {.poll_interval = std::chrono::milliseconds(100)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->still_removing.empty());
  EXPECT_GE(clock_.Steady() - start, std::chrono::milliseconds(3000));
  EXPECT_LT(clock_.Steady() - start, std::chrono::milliseconds(3200));
  EXPECT_FALSE(Listed(engine::Kind::kNetwork, "app_default"));
}

TEST(MissingReference, RecognizesTheEnginesRefusals) {
  EXPECT_TRUE(IsMissingReference(NotFound("create service a: network rb_default not found")));
  EXPECT_TRUE(IsMissingReference(InvalidArgument("create service a: rpc error: code = InvalidArgument desc = secret not found: x")));
  EXPECT_TRUE(IsMissingReference(InvalidArgument("update service a: configs not found: x, y")));
  EXPECT_TRUE(IsMissingReference(NotFound("update service 8a69m: service 8a69m not found")));
  EXPECT_FALSE(IsMissingReference(NotFound("distribution web:1: manifest unknown: manifest unknown")));
  EXPECT_FALSE(IsMissingReference(Unavailable("create service a: network rb_default not found")));
}

TEST_F(DeployerTest, ReadLivePacksEachServiceSpecAndKeepsItsPlainFields) {
  ASSERT_TRUE(deployer_.Deploy(MakeStack("app"), Opts()).ok());
  // A config made outside the stack and used by one service: only the
  // service's spec names its ID.
  auto config_id = fake_.CreateObject(engine::Kind::kConfig, {{"Name", "outside_conf"}, {"Data", "eA=="}});
  ASSERT_TRUE(config_id.ok()) << config_id.status().ToString();
  auto web = fake_.InspectService("app_web");
  ASSERT_TRUE(web.ok());
  Json spec = web->spec;
  spec["TaskTemplate"]["ContainerSpec"]["Configs"] = Json::array(
      {{{"ConfigName", "outside_conf"}, {"ConfigID", *config_id}, {"File", {{"Name", "/conf"}}}}});
  ASSERT_TRUE(fake_.UpdateService(web->id, web->version, spec, "").ok());
  web = fake_.InspectService("app_web");

  auto live = ReadLive(fake_, "app");
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  EXPECT_EQ(live->services.size(), 3u);
  const LiveService& s = live->services.at("app_web");
  EXPECT_EQ(s.id, web->id);
  EXPECT_EQ(s.name, "app_web");
  EXPECT_EQ(s.version, web->version);
  // The labels read of every service stay plain, no others.
  EXPECT_EQ(s.labels, (std::map<std::string, std::string>{
                          {model::kManagedByLabel, "stackctl"},
                          {model::kSpecHashLabel, web->labels.at(model::kSpecHashLabel)},
                          {model::kStackImageLabel, "web:1"}}));
  EXPECT_EQ(web->labels.at(model::kStackNamespaceLabel), "app");
  EXPECT_EQ(s.image, web->spec["TaskTemplate"]["ContainerSpec"]["Image"].get<std::string>());
  EXPECT_EQ(s.image.rfind("web:1", 0), 0u) << s.image;
  EXPECT_EQ(s.spec.Unpack(), web->spec);
  EXPECT_EQ(live->known_config_ids.at("outside_conf"), *config_id);
}

// What `docker stack deploy` makes of MakeStack's file: the same specs
// without stackctl's labels, secrets under their plain "<stack>_<key>" name,
// and the image's platforms in the placement (the docker CLI adds them when
// it resolves the image digest).
// Returns the IDs of the networks by name.
std::map<std::string, std::string> DockerDeploy(FakeEngine& fake, const model::StackSpec& stack) {
  std::map<std::string, std::string> ids;
  std::map<std::string, std::string> plain;  // hashed secret name -> docker's name
  for (const auto& n : stack.networks) {
    auto id = fake.CreateObject(engine::Kind::kNetwork, n.spec);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    ids[n.name] = *id;
  }
  for (const auto& b : stack.secrets) {
    std::string name = b.spec["Labels"][model::kLogicalNameLabel];
    Json spec = {{"Name", name},
                 {"Labels", {{model::kStackNamespaceLabel, stack.name}}},
                 {"Data", Base64Encode(b.data)}};
    auto id = fake.CreateObject(engine::Kind::kSecret, spec);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    plain[b.name] = name;
    ids[name] = *id;
  }
  for (const auto& s : stack.services) {
    Json spec = s.spec.Unpack();
    spec["TaskTemplate"]["Placement"]["Platforms"] = Json::array({{{"Architecture", "amd64"}, {"OS", "linux"}}});
    if (spec["TaskTemplate"]["ContainerSpec"].contains("Secrets")) {
      for (auto& ref : spec["TaskTemplate"]["ContainerSpec"]["Secrets"]) {
        std::string name = plain.at(ref["SecretName"]);
        ref["SecretName"] = name;
        ref["SecretID"] = ids.at(name);
      }
    }
    EXPECT_TRUE(fake.CreateService(spec, "").ok());
  }
  return ids;
}

// Live specs normalized ahead (stackctl deploy does it on its reading
// thread) compare exactly as Compare's own normalization: the adoption of a
// docker-made stack (other labels, plain secret names, derived platforms) and
// the no-op after it.
TEST_F(DeployerTest, LiveSpecsNormalizedAheadCompareTheSame) {
  DockerDeploy(fake_, MakeStack("app"));
  const std::atomic<bool> go{false}, stop{true};
  {
    auto live = ReadLive(fake_, "app");
    ASSERT_TRUE(live.ok());
    NormalizeLiveServices(&*live, stop);  // the render was over before the reads
    for (const auto& [name, s] : live->services) EXPECT_EQ(s.normalized, nullptr) << name;
  }
  auto changes_of = [&](bool ahead) {
    auto live = ReadLive(fake_, "app");
    EXPECT_TRUE(live.ok());
    if (ahead) NormalizeLiveServices(&*live, go);
    EXPECT_EQ(live->services.at("app_web").normalized != nullptr, ahead);
    auto desired = MakeStack("app");
    PrepareDesired(&desired);
    auto diff = Compare(desired, *live, DiffOptions{});
    EXPECT_TRUE(diff.ok()) << diff.status().ToString();
    std::vector<std::string> out;
    for (const auto& c : diff->changes) {
      std::string paths;
      for (const auto& p : c.paths) paths += " " + p;
      out.push_back(c.name + " " + std::to_string(static_cast<int>(c.action)) + paths);
    }
    return out;
  };
  const auto plain = changes_of(false);
  EXPECT_EQ(changes_of(true), plain);
  const std::string adopt = " " + std::to_string(static_cast<int>(Action::kAdopt));
  EXPECT_EQ(plain, (std::vector<std::string>{
                       "app_default" + adopt, "app_db_pass-1ec1c26b50d5 " +
                       std::to_string(static_cast<int>(Action::kCreate)), "app_db_pass" + adopt,
                       "app_db" + adopt + " Labels.io.stackctl.managed-by TaskTemplate.ContainerSpec.Secrets",
                       "app_web" + adopt + " Labels.io.stackctl.managed-by",
                       "app_worker" + adopt + " Labels.io.stackctl.managed-by"}));

  auto adopted = deployer_.Deploy(MakeStack("app"), Opts());
  ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
  ASSERT_EQ(adopted->outcome, Outcome::kSucceeded) << adopted->message;
  auto live = ReadLive(fake_, "app");
  ASSERT_TRUE(live.ok());
  NormalizeLiveServices(&*live, go);
  fake_.ResetCalls();
  auto again = deployer_.Deploy(MakeStack("app"), Opts(), std::move(*live));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->outcome, Outcome::kInSync);
  EXPECT_EQ(fake_.WriteCalls(), 0);
}

// Adds a second network ("backend") that the worker is attached to.
model::StackSpec WithBackend(model::StackSpec s) {
  model::Network n = s.networks[0];
  n.key = "backend";
  n.name = s.name + "_backend";
  n.spec["Name"] = n.name;
  s.networks.push_back(n);
  s.services[2].spec.Edit([&](Json& j) {
    j["TaskTemplate"]["Networks"].push_back({{"Target", n.name}, {"Aliases", {"worker"}}});
  });
  return s;
}

std::vector<std::string> TaskIds(FakeEngine& fake, const std::string& service) {
  auto tasks = fake.ListTasks({{"service", {service}}, {"desired-state", {"running"}}});
  EXPECT_TRUE(tasks.ok());
  std::vector<std::string> ids;
  for (const auto& t : *tasks) ids.push_back(t.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

class RecordingProgress : public ProgressSink {
 public:
  void Info(const std::string& line) override { lines.push_back(line); }
  void Service(const std::string&, const ServiceHealth&) override {}
  void Wave(const WaveProgress& p) override { waves.push_back(p); }
  std::vector<std::string> lines;
  std::vector<WaveProgress> waves;
};

// The rollout tells its waves as they start and as their services converge:
// db first, then web and worker (they depend on db), each wave ending with
// all of its services converged.
TEST_F(DeployerTest, ProgressTellsEachWaveAndItsConvergedServices) {
  RecordingProgress progress;
  Deployer d(fake_, clock_, &progress);
  auto r = d.Deploy(MakeStack("app"), Opts());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->outcome, Outcome::kSucceeded) << r->message;
  ASSERT_GE(progress.waves.size(), 4u);
  const std::vector<std::string> db = {"app_db"}, rest = {"app_web", "app_worker"};
  EXPECT_EQ(progress.waves.front(), (WaveProgress{1, 2, db, 0}));
  EXPECT_EQ(progress.waves.back(), (WaveProgress{2, 2, rest, 2}));
  // In order, the converged count only grows within a wave.
  auto second = std::find(progress.waves.begin(), progress.waves.end(), WaveProgress{2, 2, rest, 0});
  ASSERT_NE(second, progress.waves.end());
  EXPECT_EQ(*(second - 1), (WaveProgress{1, 2, db, 1}));
  for (auto it = progress.waves.begin() + 1; it != progress.waves.end(); ++it) {
    if (it->wave == (it - 1)->wave) {
      EXPECT_GT(it->converged, (it - 1)->converged);
    }
  }
  // A no-op rolls nothing out.
  progress.waves.clear();
  auto again = d.Deploy(MakeStack("app"), Opts());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(progress.waves.empty());
}

const Change* FindChange(const StackDiff& d, ResourceKind kind, const std::string& name) {
  for (const auto& c : d.changes) {
    if (c.kind == kind && c.name == name) return &c;
  }
  return nullptr;
}

TEST_F(DeployerTest, DiffOfADockerDeployedStackIsAnAdoptionPlan) {
  auto stack = WithBackend(MakeStack("app"));
  DockerDeploy(fake_, stack);
  fake_.ResetCalls();
  auto diff = deployer_.Diff(stack, {});
  ASSERT_TRUE(diff.ok()) << diff.status().ToString();
  EXPECT_EQ(fake_.WriteCalls(), 0);
  for (const char* net : {"app_default", "app_backend"}) {
    const Change* c = FindChange(*diff, ResourceKind::kNetwork, net);
    ASSERT_NE(c, nullptr) << net;
    EXPECT_EQ(c->action, Action::kAdopt) << net;
    EXPECT_TRUE(c->paths.empty()) << net;
    EXPECT_EQ(c->note.rfind("made outside stackctl; kept as it is (ID ", 0), 0u) << c->note;
  }
  const std::string hashed = stack.secrets[0].name;
  EXPECT_EQ(FindChange(*diff, ResourceKind::kSecret, hashed)->action, Action::kCreate);
  const Change* plain = FindChange(*diff, ResourceKind::kSecret, "app_db_pass");
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->action, Action::kAdopt);
  EXPECT_EQ(plain->note, "made outside stackctl; relabelled as an older version of " + hashed +
                             ", removed once superseded beyond --secret-retention");
  const Change* db = FindChange(*diff, ResourceKind::kService, "app_db");
  EXPECT_EQ(db->action, Action::kAdopt);
  EXPECT_TRUE(db->restarts);
  EXPECT_EQ(db->paths, (std::vector<std::string>{"Labels.io.stackctl.managed-by", "TaskTemplate.ContainerSpec.Secrets"}));
  EXPECT_EQ(db->note, "made outside stackctl; its tasks restart: its secrets/configs move to their content-hashed names");
  for (const char* name : {"app_web", "app_worker"}) {
    const Change* c = FindChange(*diff, ResourceKind::kService, name);
    EXPECT_EQ(c->action, Action::kAdopt) << name;
    EXPECT_FALSE(c->restarts) << name;
    EXPECT_EQ(c->paths, std::vector<std::string>{"Labels.io.stackctl.managed-by"}) << name;
    EXPECT_EQ(c->note, "made outside stackctl; labels only, its tasks keep running");
  }
  EXPECT_EQ(diff->Count(Action::kRecreate), 0u);
  EXPECT_EQ(diff->changes.size(), 7u);  // 2 networks, 2 secrets, 3 services
}

TEST_F(DeployerTest, AdoptingADockerDeployedStackKeepsNetworksAndTasksThenIsANoOp) {
  auto stack = WithBackend(MakeStack("app"));
  auto ids = DockerDeploy(fake_, stack);
  auto web_tasks = TaskIds(fake_, "app_web");
  auto worker_tasks = TaskIds(fake_, "app_worker");
  auto db_tasks = TaskIds(fake_, "app_db");
  ASSERT_EQ(web_tasks.size(), 1u);
  const Json web_template = fake_.InspectService("app_web")->spec["TaskTemplate"];
  RecordingProgress progress;
  Deployer d(fake_, clock_, &progress);
  fake_.ResetCalls();
  auto opts = Opts();
  opts.pin = true;
  auto r = d.Deploy(stack, opts);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->outcome, Outcome::kSucceeded) << r->message;
  EXPECT_EQ(r->history_seq, 1);  // history starts at the adoption
  // Nothing was recreated (the one object removed is the stack lock).
  EXPECT_EQ(fake_.Calls("RemoveObject"), 1);
  EXPECT_EQ(fake_.Calls("RemoveService") + fake_.Calls("CreateService"), 0);
  EXPECT_EQ(fake_.Calls("UpdateService"), 3);
  EXPECT_EQ(fake_.InspectObject(engine::Kind::kNetwork, "app_default")->id, ids["app_default"]);
  EXPECT_EQ(fake_.InspectObject(engine::Kind::kNetwork, "app_backend")->id, ids["app_backend"]);
  // Label-only updates keep the tasks; the repointed secret restarts db's.
  EXPECT_EQ(TaskIds(fake_, "app_web"), web_tasks);
  EXPECT_EQ(TaskIds(fake_, "app_worker"), worker_tasks);
  EXPECT_NE(TaskIds(fake_, "app_db"), db_tasks);
  auto web = fake_.InspectService("app_web");
  EXPECT_EQ(web->labels[model::kManagedByLabel], "stackctl");
  EXPECT_FALSE(web->labels[model::kSpecHashLabel].empty());
  EXPECT_EQ(web->spec["TaskTemplate"], web_template);  // platforms included
  EXPECT_FALSE(fake_.InspectService("app_db")->spec["TaskTemplate"].contains("Placement"));
  // The plan was said before the first write.
  auto said = std::find(progress.lines.begin(), progress.lines.end(), "Services whose tasks restart: app_db");
  ASSERT_NE(said, progress.lines.end()) << ::testing::PrintToString(progress.lines);
  auto first_write = std::find_if(progress.lines.begin(), progress.lines.end(),
                                  [](const std::string& l) { return l.rfind("Creating ", 0) == 0; });
  EXPECT_LT(said, first_write);
  // Ownership: networks through the control record, the old secret by label.
  auto control = fake_.InspectObject(engine::Kind::kConfig, "stackctl-control-app");
  ASSERT_TRUE(control.ok());
  EXPECT_EQ(control->labels["io.stackctl.adopted-network.app_default"], ids["app_default"]);
  EXPECT_EQ(control->labels["io.stackctl.adopted-network.app_backend"], ids["app_backend"]);
  EXPECT_EQ(control->labels["io.stackctl.pinned"], "true");
  auto old_secret = fake_.InspectObject(engine::Kind::kSecret, "app_db_pass");
  ASSERT_TRUE(old_secret.ok());
  EXPECT_EQ(old_secret->labels[model::kManagedByLabel], "stackctl");
  EXPECT_EQ(old_secret->labels[model::kLogicalNameLabel], "app_db_pass");

  fake_.ResetCalls();
  auto again = d.Deploy(stack, opts);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->outcome, Outcome::kInSync) << ::testing::PrintToString(again->diff.changes.size());
  EXPECT_EQ(fake_.WriteCalls(), 0);
  // Resuming (unpinning) keeps the adoption on record.
  ASSERT_TRUE(d.SetPinned("app", false, "", "").ok());
  fake_.ResetCalls();
  auto unpinned = d.Deploy(stack, Opts());
  ASSERT_TRUE(unpinned.ok());
  EXPECT_EQ(unpinned->outcome, Outcome::kInSync);
  EXPECT_EQ(fake_.WriteCalls(), 0);
}

TEST_F(DeployerTest, AdoptedNetworksArePrunedAndRollbackStartsAtTheAdoption) {
  auto stack = WithBackend(MakeStack("app"));
  auto ids = DockerDeploy(fake_, stack);
  ASSERT_EQ(deployer_.Deploy(stack, Opts())->outcome, Outcome::kSucceeded);
  auto none = deployer_.Rollback("app", std::nullopt, Opts());
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(), "stack app: no earlier successful deploy to roll back to");

  // The next revision drops the backend network (the worker leaves it) and moves web.
  auto next = MakeStack("app");
  SetImage(next.services[1], "web:2");
  auto kept = deployer_.Deploy(next, Opts());
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->diff.orphans, std::vector<std::string>{"network app_backend"});
  auto opts = Opts();
  opts.prune = true;
  auto pruned = deployer_.Deploy(next, opts);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  ASSERT_EQ(pruned->outcome, Outcome::kSucceeded) << pruned->message;
  EXPECT_EQ(fake_.InspectObject(engine::Kind::kNetwork, "app_backend").status().code(), Code::kNotFound);
  auto control = fake_.InspectObject(engine::Kind::kConfig, "stackctl-control-app");
  EXPECT_EQ(control->labels.count("io.stackctl.adopted-network.app_backend"), 0u);
  EXPECT_EQ(control->labels["io.stackctl.adopted-network.app_default"], ids["app_default"]);

  // Back to the adoption (record 1): web:1 and the backend network again, a new one this time.
  auto back = deployer_.Rollback("app", 1, Opts());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->outcome, Outcome::kSucceeded) << back->message;
  EXPECT_EQ(fake_.InspectService("app_web")->spec["TaskTemplate"]["ContainerSpec"]["Image"], "web:1");
  EXPECT_EQ(fake_.InspectObject(engine::Kind::kNetwork, "app_default")->id, ids["app_default"]);
  auto backend = fake_.InspectObject(engine::Kind::kNetwork, "app_backend");
  ASSERT_TRUE(backend.ok());
  EXPECT_EQ(backend->labels[model::kManagedByLabel], "stackctl");
  fake_.ResetCalls();
  EXPECT_EQ(deployer_.Deploy(stack, Opts())->outcome, Outcome::kInSync);
  EXPECT_EQ(fake_.WriteCalls(), 0);
}

TEST_F(DeployerTest, ANetworkMadeOutsideThatDiffersIsRefusedNamingTheDifference) {
  auto docker = MakeStack("app");
  DockerDeploy(fake_, docker);
  auto stack = docker;  // the file now asks for an internal network
  stack.networks[0].spec["Internal"] = true;
  fake_.ResetCalls();
  auto r = deployer_.Deploy(stack, Opts());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().ToString(),
            "FAILED_PRECONDITION: network app_default changed (Internal): networks cannot be updated in place; "
            "remove the services attached to it (or rename the network) and deploy again");
  // Only the stack lock was written (taken and given back).
  EXPECT_EQ(fake_.WriteCalls(), 2);
  EXPECT_EQ(fake_.Calls("CreateObject"), 1);
}

// Swarm keeps a task whose node satisfies a changed placement (on the test bed:
// an adoption that dropped docker's Placement.Platforms never converged).
TEST(Health, ARunningTaskWithAnOlderPlacementIsCurrent) {
  Json templ = {{"ContainerSpec", {{"Image", "web:1"}}}, {"Placement", {{"Constraints", {"node.role==manager"}}}}};
  LiveService svc;
  svc.spec = PackedJson(Json{{"Name", "app_web"}, {"TaskTemplate", templ}, {"Mode", {{"Replicated", {{"Replicas", 1}}}}}});
  engine::Task task;
  task.desired_state = "running";
  task.state = "running";
  task.spec = PackedJson(Json{{"ContainerSpec", {{"Image", "web:1"}}},
                              {"Placement", {{"Platforms", {{{"Architecture", "amd64"}, {"OS", "linux"}}}}}}});
  ServiceHealth h = EvaluateHealth(svc, {task});
  EXPECT_EQ(h.running, 1u);
  EXPECT_EQ(h.state, HealthState::kConverged);
  task.spec = PackedJson(Json{{"ContainerSpec", {{"Image", "web:0"}}}});  // an older image is not current
  EXPECT_EQ(EvaluateHealth(svc, {task}).running, 0u);
  EXPECT_FALSE(ReplacesTasks({"Labels.x", "TaskTemplate.Placement.Constraints", "Mode.Replicated.Replicas"}));
  EXPECT_TRUE(ReplacesTasks({"TaskTemplate.Placement.Constraints", "TaskTemplate.ContainerSpec.Env"}));
  EXPECT_TRUE(ReplacesTasks({"EndpointSpec.Ports"}));
}

TEST(Plan, WavesFollowDependsOnThenNameWithParallelism) {
  auto stack = MakeStack("app");
  stack.services.push_back(MakeService("app", "api", "api:1", {"web"}));
  StackDiff diff;
  for (const auto& s : stack.services) diff.changes.push_back({ResourceKind::kService, s.name, Action::kCreate});
  diff.changes.push_back({ResourceKind::kSecret, "app_db_pass", Action::kCreate});
  diff.changes.push_back({ResourceKind::kNetwork, "app_default", Action::kCreate});
  auto plan = BuildPlan(stack, diff, {1});
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->prepare.size(), 2u);
  EXPECT_EQ(plan->prepare[0].kind, ResourceKind::kNetwork);
  std::vector<std::string> order;
  for (const auto& w : plan->waves) {
    ASSERT_EQ(w.size(), 1u);
    order.push_back(w[0].name);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"app_db", "app_web", "app_worker", "app_api"}));
  auto grouped = BuildPlan(stack, diff, {0});
  ASSERT_EQ(grouped->waves.size(), 3u);
  EXPECT_EQ(grouped->waves[1].size(), 2u);

  stack.services[0].depends_on = {"api"};
  auto cyc = BuildPlan(stack, diff, {0});
  ASSERT_FALSE(cyc.ok());
  EXPECT_EQ(cyc.status().message(), "services.db.depends_on: dependency cycle db -> api -> web -> db");
}

}  // namespace
}  // namespace stackctl::reconciler

namespace stackctl::reconciler {
namespace {

class CountingVerifier : public notary::ImageVerifier {
 public:
  Result<notary::ResolvedImage> Resolve(const std::string& ref) override {
    ++calls;
    if (ref == "unsigned:1") return PermissionDenied("no trust data for unsigned");
    if (ref == "nosig:1") return NotFound("cosign: not signed (no sha256-ab.sig in nosig)");
    if (ref == "refused-credentials:1") {
      return PermissionDenied("cosign: registry r: credentials of alice refused for app (HTTP 401)");
    }
    if (ref == "down:1") return Unavailable("cosign: registry r unreachable");
    notary::ResolvedImage r;
    r.digest = "sha256:" + Sha256Hex(ref + std::to_string(generation));
    r.reference = ref + "@" + r.digest;
    return r;
  }
  int calls = 0;
  int generation = 0;
};

// A Deployer with a CountingVerifier on a fake engine, polling every millisecond.
struct PinningBed {
  FakeEngine fake;
  FakeClock clock;
  CountingVerifier verifier;
  Deployer d{fake, clock, nullptr, &verifier};
  DeployOptions opts = [] {
    DeployOptions o;
    o.poll_interval = std::chrono::milliseconds(1);
    return o;
  }();
};

TEST(Pinning, PinsOnceAndReusesLiveDigestsForUnchangedTags) {
  PinningBed bed;
  auto& [fake, clock, verifier, d, opts] = bed;
  auto first = d.Deploy(MakeStack("app"), opts);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(verifier.calls, 3);
  std::string web = fake.InspectService("app_web")->spec["TaskTemplate"]["ContainerSpec"]["Image"];
  EXPECT_EQ(web, "web:1@sha256:" + Sha256Hex("web:10"));
  EXPECT_EQ(fake.InspectService("app_web")->labels[model::kStackImageLabel], "web:1");

  // The tags moved in the registry, but "changed" mode reuses live digests: no-op.
  verifier.generation = 1;
  fake.ResetCalls();
  auto again = d.Deploy(MakeStack("app"), opts);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, Outcome::kInSync);
  EXPECT_EQ(verifier.calls, 3);
  EXPECT_EQ(fake.WriteCalls(), 0);

  // "always" sees the moved tags and updates all three services.
  opts.images.mode = ResolveMode::kAlways;
  auto moved = d.Deploy(MakeStack("app"), opts);
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(moved->diff.Count(Action::kUpdate), 3u);
  EXPECT_EQ(verifier.calls, 6);
}

// Specs the caller prepared ahead (stackctl deploy, while it reads) are not
// prepared again when pinning keeps them, and are when pinning changes them:
// either way the stored hash is the hash of what runs.
TEST(Pinning, SpecsPreparedAheadAreHashedAsTheyRun) {
  auto prepared = [](model::StackSpec s) {
    PrepareDesired(&s);
    s.prepared = true;
    return s;
  };
  auto hash_of = [](FakeEngine& fake, const std::string& name) {
    auto svc = fake.InspectService(name);
    Json spec = svc->spec;
    return std::pair(svc->labels.at(model::kSpecHashLabel), ServiceSpecHash(spec));
  };
  PinningBed bed;
  auto& [fake, clock, verifier, d, opts] = bed;

  // "changed" pins web:1 to its digest after the caller prepared the unpinned spec.
  ASSERT_FALSE(PinLeavesSpecsAlone(opts.images));
  ASSERT_TRUE(d.Deploy(prepared(MakeStack("app")), opts).ok());
  auto [stored, actual] = hash_of(fake, "app_web");
  EXPECT_EQ(stored, actual);
  EXPECT_EQ(fake.InspectService("app_web")->spec["TaskTemplate"]["ContainerSpec"]["Image"],
            "web:1@sha256:" + Sha256Hex("web:10"));
  EXPECT_EQ(d.Deploy(MakeStack("app"), opts)->outcome, Outcome::kInSync);

  // "never" keeps the specs: the prepared ones are deployed as they are, and
  // a stack prepared ahead and one prepared by the Deployer compare the same.
  opts.images.mode = ResolveMode::kNever;
  ASSERT_TRUE(PinLeavesSpecsAlone(opts.images));
  auto stack = MakeStack("app");
  SetImage(stack.services[1], "web:2");
  auto changed = d.Deploy(prepared(stack), opts);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_EQ(changed->diff.Count(Action::kUpdate), 3u);  // all three run their tags now
  std::tie(stored, actual) = hash_of(fake, "app_web");
  EXPECT_EQ(stored, actual);
  EXPECT_EQ(fake.InspectService("app_web")->spec["TaskTemplate"]["ContainerSpec"]["Image"], "web:2");
  EXPECT_EQ(d.Deploy(prepared(stack), opts)->outcome, Outcome::kInSync);
  EXPECT_EQ(d.Deploy(stack, opts)->outcome, Outcome::kInSync);
  EXPECT_EQ(verifier.calls, 3);  // only the first deploy resolved
}

TEST(Pinning, RequiredTrustBlocksTheWholeRevision) {
  FakeEngine fake;
  FakeClock clock;
  CountingVerifier verifier;
  Deployer d(fake, clock, nullptr, &verifier);
  auto stack = MakeStack("app");
  SetImage(stack.services[2], "unsigned:1");
  DeployOptions opts;
  opts.images.required = true;
  std::vector<std::string> refused;
  auto r = d.Deploy(stack, opts, std::nullopt, &refused);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().ToString(),
            "FAILED_PRECONDITION: service worker: image unsigned:1: no trust data for unsigned");
  EXPECT_EQ(fake.WriteCalls(), 0);
  // The refused service by its engine name, typed (notifications carry it).
  EXPECT_EQ(refused, std::vector<std::string>{"app_worker"});
  // A diff is refused the same way; every service using the image is named.
  SetImage(stack.services[0], "unsigned:1");
  std::vector<std::string> diff_refused;
  auto diff = d.Diff(stack, {}, opts.images, std::nullopt, &diff_refused);
  ASSERT_FALSE(diff.ok());
  EXPECT_EQ(diff_refused, (std::vector<std::string>{"app_db", "app_worker"}));
  // Without "require" the tag is deployed unpinned with a warning.
  SetImage(stack.services[0], "db:1");
  opts.images.required = false;
  refused.clear();
  auto w = d.Deploy(stack, opts, std::nullopt, &refused);
  EXPECT_TRUE(refused.empty());
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w->warnings.size(), 1u);
  EXPECT_EQ(w->warnings[0],
            "service worker: image unsigned:1 could not be pinned (no trust data for unsigned); "
            "deploying the tag unpinned");
}

// A verifier's NotFound (no cosign .sig tag, no such tag) or PermissionDenied
// (trust data or registry credentials refused) is the revision's fault:
// FAILED_PRECONDITION, so that the API (404, 403) and `stackctl --server`
// ("stack ... not found", a refused API token) do not read it as the caller's.
TEST(Pinning, RequiredImageRefusedForGoodIsAFailedPrecondition) {
  FakeEngine fake;
  FakeClock clock;
  CountingVerifier verifier;
  Deployer d(fake, clock, nullptr, &verifier);
  auto stack = MakeStack("app");
  SetImage(stack.services[1], "nosig:1");
  DeployOptions opts;
  opts.images.required = true;
  auto r = d.Deploy(stack, opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().ToString(),
            "FAILED_PRECONDITION: service web: image nosig:1: cosign: not signed (no "
            "sha256-ab.sig in nosig)");
  EXPECT_EQ(fake.WriteCalls(), 0);
  SetImage(stack.services[1], "refused-credentials:1");
  r = d.Deploy(stack, opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().ToString(),
            "FAILED_PRECONDITION: service web: image refused-credentials:1: cosign: registry r: "
            "credentials of alice refused for app (HTTP 401)");
  // An outage keeps its code: retried, 503 at the API.
  SetImage(stack.services[1], "down:1");
  r = d.Deploy(stack, opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(fake.WriteCalls(), 0);
}

// Per-image policies (an image_trust rule per pattern): with `required`, only
// a failure of an image the verifier requires blocks; the others warn.
TEST(Pinning, RequiredTrustBlocksOnlyImagesARequireRuleCovers) {
  class PerImage : public CountingVerifier {
   public:
    bool RequiresVerification(const std::string& ref) override { return ref != "unsigned:1"; }
  };
  FakeEngine fake;
  FakeClock clock;
  PerImage verifier;
  Deployer d(fake, clock, nullptr, &verifier);
  auto stack = MakeStack("app");
  SetImage(stack.services[2], "unsigned:1");
  DeployOptions opts;
  opts.poll_interval = std::chrono::milliseconds(1);
  opts.images.required = true;
  auto r = d.Deploy(stack, opts);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_EQ(r->warnings[0],
            "service worker: image unsigned:1 could not be pinned (no trust data for unsigned); "
            "deploying the tag unpinned");
  EXPECT_EQ(fake.InspectService("app_web")->spec["TaskTemplate"]["ContainerSpec"]["Image"],
            "web:1@sha256:" + Sha256Hex("web:10"));
}

// A locally built image no registry knows, used by five services: one
// resolution and one warning per deploy, and none at all once the services run
// the unpinned tag ("changed" mode reuses what runs, as for a pinned digest).
TEST(Pinning, EachReferenceIsResolvedOnceFailuresIncluded) {
  FakeEngine fake;
  FakeClock clock;
  CountingVerifier verifier;
  Deployer d(fake, clock, nullptr, &verifier);
  auto stack = MakeStack("app");
  for (const char* key : {"a", "b", "c", "d"}) stack.services.push_back(MakeService("app", key, "unsigned:1"));
  SetImage(stack.services[2], "unsigned:1");  // worker
  DeployOptions opts;
  opts.poll_interval = std::chrono::milliseconds(1);
  auto first = d.Deploy(stack, opts);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(verifier.calls, 3);  // db:1, web:1, unsigned:1
  ASSERT_EQ(first->warnings.size(), 1u);
  EXPECT_EQ(first->warnings[0],
            "services worker, a, b and 2 more: image unsigned:1 could not be pinned "
            "(no trust data for unsigned); deploying the tag unpinned");
  EXPECT_EQ(fake.InspectService("app_d")->spec["TaskTemplate"]["ContainerSpec"]["Image"], "unsigned:1");

  fake.ResetCalls();
  auto again = d.Deploy(stack, opts);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, Outcome::kInSync);
  EXPECT_EQ(verifier.calls, 3);
  EXPECT_TRUE(again->warnings.empty());
  EXPECT_EQ(fake.WriteCalls(), 0);

  // "always" asks again, still once for the five services.
  opts.images.mode = ResolveMode::kAlways;
  auto always = d.Deploy(stack, opts);
  ASSERT_TRUE(always.ok());
  EXPECT_EQ(verifier.calls, 6);
  EXPECT_EQ(always->warnings.size(), 1u);
}

// What trust verification said about each service's image: by whom it was
// verified, why it was not, and that an image this deploy did not ask about
// again keeps the verdict it had (MergeVerdicts), unless its digest changed.
TEST(Pinning, VerdictPerServiceAndKeptWhenNotCheckedAgain) {
  class Verdicts : public CountingVerifier {
   public:
    Result<notary::ResolvedImage> Resolve(const std::string& ref) override {
      auto r = CountingVerifier::Resolve(ref);
      if (!r.ok()) return r;
      if (ref == "web:1") {
        r->signed_by = "cosign key release.pub";
        r->trust_policy = "require";
      } else if (ref == "worker:1") {
        r->trust_policy = "warn";
        r->warnings = {"image worker:1: not trust-verified (no signature); using the registry digest"};
      } else {
        r->trust_policy = "off";
      }
      return r;
    }
  };
  FakeEngine fake;
  FakeClock clock;
  Verdicts verifier;
  Deployer d(fake, clock, nullptr, &verifier);
  DeployOptions opts;
  opts.poll_interval = std::chrono::milliseconds(1);
  auto first = d.Deploy(MakeStack("app"), opts);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto digest = [](const std::string& ref) { return "sha256:" + Sha256Hex(ref + "0"); };
  const ImageVerdicts want = {
      {"app_db", {VerdictKind::kNotChecked, "db:1", digest("db:1"), "trust policy off", true}},
      {"app_web", {VerdictKind::kVerified, "web:1", digest("web:1"), "cosign key release.pub", true}},
      {"app_worker",
       {VerdictKind::kWarned, "worker:1", digest("worker:1"),
        "image worker:1: not trust-verified (no signature); using the registry digest", true}}};
  EXPECT_EQ(first->image_verdicts, want);
  EXPECT_EQ(VerdictKindName(VerdictKind::kNotChecked), "not-checked");

  // A no-op in "changed" mode asks nothing: every verdict is unchecked, with
  // the digest the service runs, and the earlier verdicts still hold.
  auto again = d.Deploy(MakeStack("app"), opts);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->outcome, Outcome::kInSync);
  EXPECT_EQ(again->image_verdicts.at("app_web"),
            (ImageVerdict{VerdictKind::kNotChecked, "web:1", digest("web:1"),
                          "not checked again: the service keeps the digest it runs", false}));
  EXPECT_EQ(MergeVerdicts(first->image_verdicts, again->image_verdicts), want);

  // A digest in the file is not asked about; an image that cannot be
  // resolved is warned about and runs its tag.
  auto stack = MakeStack("app");
  const std::string pinned = "sha256:" + std::string(64, 'a');
  SetImage(stack.services[0], "db:1@" + pinned);
  SetImage(stack.services[2], "unsigned:1");
  auto third = d.Deploy(stack, opts);
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_EQ(third->image_verdicts.at("app_db"),
            (ImageVerdict{VerdictKind::kNotChecked, "db:1", pinned, "pinned by digest in the stack file", false}));
  EXPECT_EQ(third->image_verdicts.at("app_worker"),
            (ImageVerdict{VerdictKind::kWarned, "worker:1", "",
                          "could not be verified or pinned: no trust data for unsigned", true}));
  // Another digest: the earlier verdict no longer holds.
  const ImageVerdicts merged = MergeVerdicts(want, third->image_verdicts);
  EXPECT_EQ(merged.at("app_db").detail, "pinned by digest in the stack file");
  EXPECT_EQ(merged.at("app_web"), want.at("app_web"));
  EXPECT_EQ(merged.at("app_worker").kind, VerdictKind::kWarned);

  // A caller that does not show verdicts (stackctl deploy) gets none, and the
  // deploy is the same.
  opts.image_verdicts = false;
  SetImage(stack.services[0], "db:2");
  auto quiet = d.Deploy(stack, opts);
  ASSERT_TRUE(quiet.ok()) << quiet.status().ToString();
  EXPECT_EQ(quiet->outcome, Outcome::kSucceeded);
  EXPECT_TRUE(quiet->image_verdicts.empty());
  EXPECT_EQ(d.Deploy(stack, opts)->outcome, Outcome::kInSync);
}

// No resolution at all ("never"): not-checked, with the digest the file gives.
TEST(Pinning, NeverResolvingChecksNothing) {
  auto stack = MakeStack("app");
  SetImage(stack.services[0], "db:1@sha256:" + std::string(64, 'b'));
  CountingVerifier verifier;
  PinOptions never{ResolveMode::kNever, false};
  ImageVerdicts verdicts;
  ASSERT_TRUE(PinImages(&stack, LiveState{}, verifier, never, &verdicts).ok());
  EXPECT_EQ(verifier.calls, 0);
  EXPECT_EQ(verdicts.at("app_db"), (ImageVerdict{VerdictKind::kNotChecked, "db:1", "sha256:" + std::string(64, 'b'),
                                                 "not resolved (resolve_image: never)", false}));
  EXPECT_EQ(verdicts.at("app_web").digest, "");
}

}  // namespace
}  // namespace stackctl::reconciler
