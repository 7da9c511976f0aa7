#include "engineapi/fake_engine.h"

#include <atomic>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/crypto.h"
#include "engineapi/engine_wrapper.h"

namespace stackctl::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Json ServiceSpec(const std::string& name, const std::string& image, uint64_t replicas = 1) {
  return {{"Name", name},
          {"Labels", {{"com.docker.stack.namespace", "st"}, {"tier", name}}},
          {"TaskTemplate", {{"ContainerSpec", {{"Image", image}}}}},
          {"Mode", {{"Replicated", {{"Replicas", replicas}}}}}};
}

Json SecretSpec(const std::string& name, const std::string& data) {
  return {{"Name", name}, {"Labels", {{"a", "1"}}}, {"Data", Base64Encode(data)}};
}

TEST(FakeEngineTest, CreateInspectAndVersionIndex) {
  FakeEngine fake;
  EXPECT_EQ(fake.Index(), 0u);
  auto id = fake.CreateService(ServiceSpec("st_web", "web:1"), "");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->size(), 25u);
  EXPECT_EQ(fake.Index(), 1u);

  auto by_name = fake.InspectService("st_web");
  ASSERT_TRUE(by_name.ok());
  EXPECT_EQ(by_name->id, *id);
  EXPECT_EQ(by_name->version, 1u);
  EXPECT_EQ(by_name->name, "st_web");
  EXPECT_EQ(by_name->labels.at("tier"), "st_web");
  EXPECT_EQ(by_name->spec, ServiceSpec("st_web", "web:1"));
  EXPECT_TRUE(by_name->update_status.is_null());
  EXPECT_FALSE(by_name->created_at.empty());
  // Never updated: nothing to roll back to.
  EXPECT_EQ(fake.RollbackService(*id, 1).code(), Code::kFailedPrecondition);

  auto by_prefix = fake.InspectService(id->substr(0, 6));
  ASSERT_TRUE(by_prefix.ok());
  EXPECT_EQ(by_prefix->id, *id);

  // Another write bumps the global index; the service keeps its version.
  ASSERT_TRUE(fake.CreateObject(Kind::kSecret, SecretSpec("s", "x")).ok());
  EXPECT_EQ(fake.Index(), 2u);
  EXPECT_EQ(fake.InspectService(*id)->version, 1u);
}

TEST(FakeEngineTest, Errors) {
  FakeEngine fake;
  ASSERT_TRUE(fake.CreateService(ServiceSpec("st_web", "web:1"), "").ok());
  auto dup = fake.CreateService(ServiceSpec("st_web", "web:2"), "");
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(dup.status().message(),
            "create service st_web: name conflicts with an existing object: service st_web "
            "already exists");

  auto missing = fake.InspectService("nope");
  EXPECT_EQ(missing.status(), NotFound("inspect service nope: service nope not found"));

  auto stale = fake.UpdateService("st_web", 7, ServiceSpec("st_web", "web:2"), "");
  EXPECT_EQ(stale.status(), Aborted("update service st_web: update out of sequence"));

  auto rename = fake.UpdateService("st_web", 1, ServiceSpec("other", "web:2"), "");
  EXPECT_EQ(rename.status().code(), Code::kFailedPrecondition);

  auto no_image = fake.CreateService(Json{{"Name", "x"}}, "");
  EXPECT_EQ(no_image.status(),
            InvalidArgument("create service x: ContainerSpec: image reference must be provided"));

  EXPECT_EQ(fake.RemoveService("nope"),
            NotFound("remove service nope: service nope not found"));
  EXPECT_EQ(fake.InspectObject(Kind::kConfig, "c").status(),
            NotFound("inspect config c: config c not found"));
  EXPECT_EQ(fake.ListServices({{"bogus", {"x"}}}, false).status(),
            InvalidArgument("list services: Invalid filter 'bogus'"));
  // No rollback without a previous spec.
  EXPECT_EQ(fake.RollbackService("st_web", 1).code(), Code::kFailedPrecondition);
}

TEST(FakeEngineTest, UpdateKeepsPreviousSpecAndRollbackSwaps) {
  FakeEngine fake;
  std::string id = *fake.CreateService(ServiceSpec("st_web", "web:1", 2), "");
  auto warnings = fake.UpdateService(id, 1, ServiceSpec("st_web", "web:2", 2), "");
  ASSERT_TRUE(warnings.ok()) << warnings.status().ToString();
  EXPECT_TRUE(warnings->empty());
  auto s = *fake.InspectService(id);
  EXPECT_EQ(s.version, 3u);  // spec write + UpdateStatus write
  EXPECT_EQ(fake.Index(), 3u);
  EXPECT_EQ(s.spec["TaskTemplate"]["ContainerSpec"]["Image"], "web:2");
  EXPECT_EQ(s.update_status["State"], "completed");

  // Old tasks shut down, new ones run.
  auto running = *fake.ListTasks({{"service", {"st_web"}}, {"desired-state", {"running"}}});
  ASSERT_EQ(running.size(), 2u);
  EXPECT_EQ(running[0].state, "running");
  EXPECT_EQ(running[0].spec.Unpack()["ContainerSpec"]["Image"], "web:2");
  EXPECT_EQ(fake.ListTasks({{"service", {id}}, {"desired-state", {"shutdown"}}})->size(), 2u);

  ASSERT_TRUE(fake.RollbackService(id, 2).code() == Code::kAborted);
  ASSERT_TRUE(fake.RollbackService(id, 3).ok());
  s = *fake.InspectService(id);
  EXPECT_EQ(s.version, 5u);
  EXPECT_EQ(s.spec["TaskTemplate"]["ContainerSpec"]["Image"], "web:1");
  EXPECT_EQ(s.update_status["State"], "rollback_completed");
  // The spec rolled away from became the previous one: a second rollback swaps back.
  ASSERT_TRUE(fake.RollbackService(id, 5).ok());
  EXPECT_EQ(fake.InspectService(id)->spec["TaskTemplate"]["ContainerSpec"]["Image"], "web:2");
}

TEST(FakeEngineTest, ServiceStatusCounts) {
  FakeEngine fake;
  ASSERT_TRUE(fake.CreateService(ServiceSpec("st_web", "web:1", 3), "").ok());
  Json global = ServiceSpec("st_agent", "agent:1");
  global["Mode"] = {{"Global", Json::object()}};
  ASSERT_TRUE(fake.CreateService(global, "").ok());
  auto list = *fake.ListServices({}, true);
  ASSERT_EQ(list.size(), 2u);
  std::map<std::string, ServiceStatus> by_name;
  for (const auto& s : list) by_name[s.name] = s.status;
  EXPECT_EQ(by_name["st_web"].running_tasks, 3u);
  EXPECT_EQ(by_name["st_web"].desired_tasks, 3u);
  EXPECT_EQ(by_name["st_agent"].running_tasks, 1u);
  EXPECT_EQ(by_name["st_agent"].desired_tasks, 1u);
  auto tasks = *fake.ListTasks({{"service", {"st_agent"}}});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].node_id, fake.NodeId());
  EXPECT_EQ(tasks[0].slot, 0);
  // Without status, counts stay zero.
  EXPECT_EQ(fake.ListServices({}, false)->at(0).status.desired_tasks, 0u);
}

TEST(FakeEngineTest, FailingImagePausesByDefault) {
  FakeEngine fake;
  fake.FailImage("bad:1", "task: non-zero exit (1)");
  std::string id = *fake.CreateService(ServiceSpec("st_web", "good:1", 2), "");
  ASSERT_TRUE(fake.UpdateService(id, 1, ServiceSpec("st_web", "bad:1@sha256:abc", 2), "").ok());
  auto s = fake.ListServices({{"name", {"st_web"}}}, true)->at(0);
  EXPECT_EQ(s.update_status["State"], "paused");
  EXPECT_THAT(s.update_status["Message"].get<std::string>(),
              HasSubstr("update paused due to failure or early termination of task"));
  EXPECT_EQ(s.status.running_tasks, 0u);
  EXPECT_EQ(s.status.desired_tasks, 2u);
  auto tasks = *fake.ListTasks({{"service", {id}}, {"desired-state", {"running"}}});
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].state, "failed");
  EXPECT_EQ(tasks[0].error, "task: non-zero exit (1)");
  EXPECT_EQ(tasks[0].error, "task: non-zero exit (1)");
}

TEST(FakeEngineTest, FailingImageRollsBackWhenAsked) {
  FakeEngine fake;
  fake.FailImage("bad:1", "task: non-zero exit (1)");
  std::string id = *fake.CreateService(ServiceSpec("st_web", "good:1"), "");
  Json bad = ServiceSpec("st_web", "bad:1");
  bad["UpdateConfig"] = {{"FailureAction", "rollback"}};
  ASSERT_TRUE(fake.UpdateService(id, 1, bad, "").ok());
  auto s = fake.ListServices({}, true)->at(0);
  EXPECT_EQ(s.update_status["State"], "rollback_completed");
  EXPECT_EQ(s.spec["TaskTemplate"]["ContainerSpec"]["Image"], "good:1");
  EXPECT_EQ(s.status.running_tasks, 1u);
  // Swarm's automatic rollback clears PreviousSpec: no manual rollback after it.
  EXPECT_EQ(fake.RollbackService(id, s.version).code(), Code::kFailedPrecondition);
}

TEST(FakeEngineTest, Filters) {
  FakeEngine fake;
  Json a = ServiceSpec("st_web", "web:1");
  Json b = ServiceSpec("st_db", "db:1");
  b["Labels"]["com.docker.stack.namespace"] = "other";
  std::string ida = *fake.CreateService(a, "");
  ASSERT_TRUE(fake.CreateService(b, "").ok());
  auto names = [](const Result<std::vector<Service>>& r) {
    std::vector<std::string> out;
    for (const auto& s : *r) out.push_back(s.name);
    return out;
  };
  EXPECT_THAT(names(fake.ListServices({{"label", {"com.docker.stack.namespace=st"}}}, false)),
              ElementsAre("st_web"));
  EXPECT_THAT(names(fake.ListServices({{"label", {"com.docker.stack.namespace"}}}, false)),
              ::testing::UnorderedElementsAre("st_web", "st_db"));
  EXPECT_THAT(names(fake.ListServices(
                  {{"label", {"com.docker.stack.namespace=st", "tier=st_db"}}}, false)),
              ElementsAre());
  EXPECT_THAT(names(fake.ListServices({{"name", {"st_"}}}, false)),
              ::testing::UnorderedElementsAre("st_web", "st_db"));
  EXPECT_THAT(names(fake.ListServices({{"name", {"st_w", "st_d"}}}, false)),
              ::testing::UnorderedElementsAre("st_web", "st_db"));
  EXPECT_THAT(names(fake.ListServices({{"id", {ida}}}, false)), ElementsAre("st_web"));
}

TEST(FakeEngineTest, SecretsAndConfigs) {
  FakeEngine fake;
  std::string sid = *fake.CreateObject(Kind::kSecret, SecretSpec("pw", "hunter2"));
  auto secret = *fake.InspectObject(Kind::kSecret, "pw");
  EXPECT_EQ(secret.id, sid);
  EXPECT_EQ(secret.version, 1u);
  EXPECT_FALSE(secret.spec.contains("Data"));  // the engine never returns secret data
  EXPECT_EQ(secret.labels.at("a"), "1");

  EXPECT_EQ(fake.CreateObject(Kind::kSecret, SecretSpec("pw", "x")).status(),
            AlreadyExists("create secret pw: secret pw already exists"));
  EXPECT_EQ(fake.UpdateObject(Kind::kSecret, sid, 1, SecretSpec("pw", "changed")),
            FailedPrecondition("update secret " + sid + ": only updates to Labels are allowed"));
  EXPECT_EQ(fake.UpdateObject(Kind::kSecret, sid, 9, {{"Name", "pw"}}),
            Aborted("update secret " + sid + ": update out of sequence"));
  // Labels only (with or without the same Data) is fine.
  ASSERT_TRUE(fake.UpdateObject(Kind::kSecret, sid, 1, {{"Name", "pw"}, {"Labels", {{"b", "2"}}}})
                  .ok());
  secret = *fake.InspectObject(Kind::kSecret, sid);
  EXPECT_EQ(secret.version, 2u);
  EXPECT_EQ(secret.labels, (std::map<std::string, std::string>{{"b", "2"}}));
  ASSERT_TRUE(fake.UpdateObject(Kind::kSecret, sid, 2, SecretSpec("pw", "hunter2")).ok());

  std::string cid = *fake.CreateObject(Kind::kConfig, SecretSpec("cfg", "k=v"));
  EXPECT_EQ(fake.InspectObject(Kind::kConfig, cid)->spec["Data"], Base64Encode("k=v"));

  // A secret in use cannot be removed.
  Json svc = ServiceSpec("st_web", "web:1");
  svc["TaskTemplate"]["ContainerSpec"]["Secrets"] = {{{"SecretID", sid}, {"SecretName", "pw"}}};
  std::string svc_id = *fake.CreateService(svc, "");
  EXPECT_EQ(fake.RemoveObject(Kind::kSecret, sid).code(), Code::kFailedPrecondition);
  ASSERT_TRUE(fake.RemoveService(svc_id).ok());
  ASSERT_TRUE(fake.RemoveObject(Kind::kSecret, sid).ok());
  EXPECT_EQ(fake.InspectObject(Kind::kSecret, sid).status().code(), Code::kNotFound);
}

TEST(FakeEngineTest, NetworksLookLikeTheEngine) {
  FakeEngine fake;
  std::string id = *fake.CreateObject(
      Kind::kNetwork, {{"Name", "st_net"}, {"Driver", "overlay"}, {"Labels", {{"a", "b"}}},
                       {"CheckDuplicate", true}});
  auto net = *fake.InspectObject(Kind::kNetwork, "st_net");
  EXPECT_EQ(net.id, id);
  EXPECT_EQ(net.name, "st_net");
  EXPECT_EQ(net.spec["Scope"], "swarm");
  EXPECT_EQ(net.spec["Attachable"], false);
  EXPECT_FALSE(net.spec.contains("CheckDuplicate"));
  EXPECT_FALSE(net.spec.contains("Id"));
  EXPECT_FALSE(net.created_at.empty());
  EXPECT_EQ(net.spec["IPAM"]["Config"][0]["Subnet"], "10.0.1.0/24");
  EXPECT_EQ(fake.CreateObject(Kind::kNetwork, {{"Name", "st_net"}}).status(),
            AlreadyExists("create network st_net: network with name st_net already exists"));
  EXPECT_EQ(fake.UpdateObject(Kind::kNetwork, id, 1, {{"Name", "st_net"}}).code(),
            Code::kFailedPrecondition);
  EXPECT_EQ(fake.ListObjects(Kind::kNetwork, {{"name", {"_ne"}}})->size(), 1u);
  EXPECT_EQ(fake.ListObjects(Kind::kNetwork, {{"name", {"x"}}})->size(), 0u);
}

TEST(FakeEngineTest, CallCounters) {
  FakeEngine fake;
  ASSERT_TRUE(fake.ListServices({}, true).ok());
  ASSERT_TRUE(fake.ListObjects(Kind::kNetwork, {}).ok());
  EXPECT_EQ(fake.WriteCalls(), 0);
  std::string id = *fake.CreateService(ServiceSpec("a", "web:1"), "");
  (void)fake.UpdateService(id, 99, ServiceSpec("a", "web:2"), "");  // failed calls count too
  EXPECT_EQ(fake.Calls("ListServices"), 1);
  EXPECT_EQ(fake.Calls("UpdateService"), 1);
  EXPECT_EQ(fake.WriteCalls(), 2);
  EXPECT_EQ(fake.AllCalls(), 4);
  fake.ResetCalls();
  EXPECT_EQ(fake.WriteCalls(), 0);
  EXPECT_EQ(fake.AllCalls(), 0);
  EXPECT_EQ(fake.Calls("ListServices"), 0);
}

TEST(FakeEngineTest, EventsStreamSeesWrites) {
  FakeEngine fake;
  std::atomic<bool> started{false};
  std::vector<Json> seen;
  std::thread watcher([&] {
    started = true;
    Status st = fake.StreamEvents(
        {{"type", {"service"}}}, 0,
        [&](const Json& e) {
          seen.push_back(e);
          return seen.size() < 2;
        },
        5000);
    EXPECT_TRUE(st.ok()) << st.ToString();
  });
  while (!started || fake.Calls("StreamEvents") == 0) std::this_thread::yield();
  ASSERT_TRUE(fake.CreateObject(Kind::kConfig, SecretSpec("c", "x")).ok());  // filtered out
  std::string id = *fake.CreateService(ServiceSpec("a", "web:1"), "");
  ASSERT_TRUE(fake.RemoveService(id).ok());
  watcher.join();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0]["Action"], "create");
  EXPECT_EQ(seen[0]["Actor"]["ID"], id);
  EXPECT_EQ(seen[0]["Actor"]["Attributes"]["name"], "a");
  EXPECT_EQ(seen[1]["Action"], "remove");
  // Timeout with nothing happening returns OK.
  EXPECT_TRUE(fake.StreamEvents({}, 0, [](const Json&) { return true; }, 20).ok());
}

TEST(FakeEngineTest, EventsCarryTheirTimeAndAStreamResumesFromOne) {
  FakeEngine fake;
  std::string a = *fake.CreateService(ServiceSpec("a", "web:1"), "");    // index 1
  std::string b = *fake.CreateService(ServiceSpec("b", "web:1"), "");    // index 2
  ASSERT_TRUE(fake.RemoveService(a).ok());                               // index 3
  std::vector<Json> all = fake.Events();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1]["time"], 1704067202);
  EXPECT_EQ(EventTimeNano(all[1]), 1704067202000000000LL);
  EXPECT_EQ(EventTimeNano(Json{{"time", 5}}), 5000000000LL);
  EXPECT_EQ(EventTimeNano(Json::object()), 0);

  // `since` = the second event's time: that event (included) and the third.
  std::vector<std::string> seen;
  auto collect = [&](const Json& e) {
    seen.push_back(e["Action"].get<std::string>() + " " + e["Actor"]["Attributes"]["name"].get<std::string>());
    return true;
  };
  ASSERT_TRUE(fake.StreamEvents({}, EventTimeNano(all[1]), collect, 20).ok());
  EXPECT_THAT(seen, ::testing::ElementsAre("create b", "remove a"));

  // The engine's buffer is bounded: forgotten events are not replayed.
  fake.DropEventsBefore(2);
  seen.clear();
  ASSERT_TRUE(fake.StreamEvents({}, EventTimeNano(all[0]), collect, 20).ok());
  EXPECT_THAT(seen, ::testing::ElementsAre("remove a"));
  (void)b;
}

TEST(FakeEngineTest, RemovalDelayKeepsRemovedObjectsListedForAWhile) {
  FakeEngine fake;
  FakeClock clock;
  fake.SetRemovalDelay(&clock, std::chrono::milliseconds(3000));
  Json net = {{"Name", "rb_default"}, {"Driver", "overlay"}, {"Labels", {{"l", "1"}}}};
  std::string net_id = *fake.CreateObject(Kind::kNetwork, net);
  std::string secret_id = *fake.CreateObject(Kind::kSecret, SecretSpec("rb_s", "x"));
  Json spec = ServiceSpec("rb_web", "web:1");
  spec["TaskTemplate"]["Networks"] = Json::array({{{"Target", "rb_default"}}});
  std::string svc = *fake.CreateService(spec, "");

  ASSERT_TRUE(fake.RemoveService(svc).ok());
  ASSERT_TRUE(fake.RemoveObject(Kind::kNetwork, net_id).ok());
  ASSERT_TRUE(fake.RemoveObject(Kind::kSecret, secret_id).ok());
  // Still listed and inspectable while being removed...
  EXPECT_EQ(fake.ListServices({}, false)->size(), 1u);
  EXPECT_EQ(fake.ListObjects(Kind::kNetwork, {})->size(), 1u);
  EXPECT_TRUE(fake.InspectObject(Kind::kNetwork, "rb_default").ok());
  // ...but gone for writes: not removable again, name not free, not usable.
  EXPECT_EQ(fake.RemoveObject(Kind::kNetwork, net_id).code(), Code::kNotFound);
  EXPECT_EQ(fake.CreateObject(Kind::kNetwork, net).status().code(), Code::kAlreadyExists);
  auto created = fake.CreateService(spec, "");
  EXPECT_EQ(created.status().code(), Code::kAlreadyExists);  // the service name is not free either
  spec["Name"] = "rb_other";
  created = fake.CreateService(spec, "");
  ASSERT_EQ(created.status().code(), Code::kNotFound);
  EXPECT_EQ(created.status().message(), "create service rb_other: network rb_default not found");
  Json with_secret = ServiceSpec("rb_sec", "web:1");
  with_secret["TaskTemplate"]["ContainerSpec"]["Secrets"] =
      Json::array({{{"SecretID", secret_id}, {"SecretName", "rb_s"}}});
  EXPECT_EQ(fake.CreateService(with_secret, "").status().message(),
            "create service rb_sec: secret rb_s not found");

  clock.Advance(std::chrono::milliseconds(2999));
  EXPECT_EQ(fake.ListObjects(Kind::kNetwork, {})->size(), 1u);
  clock.Advance(std::chrono::milliseconds(1));
  EXPECT_EQ(fake.ListObjects(Kind::kNetwork, {})->size(), 0u);
  EXPECT_EQ(fake.ListServices({}, false)->size(), 0u);
  EXPECT_EQ(fake.InspectObject(Kind::kNetwork, "rb_default").status().code(), Code::kNotFound);
  // A removed secret's ID stays unusable; the network's name is free again.
  EXPECT_EQ(fake.CreateService(with_secret, "").status().code(), Code::kNotFound);
  EXPECT_TRUE(fake.CreateObject(Kind::kNetwork, net).ok());
  EXPECT_TRUE(fake.CreateService(spec, "").ok());
}

// Fault injection through the wrapper: the third update fails.
class FlakyEngine : public EngineWrapper {
 public:
  using EngineWrapper::EngineWrapper;
  Result<std::vector<std::string>> UpdateService(const std::string& id, uint64_t version,
                                                 const Json& spec,
                                                 const std::string& auth) override {
    if (++updates_ == 3) return Unavailable("injected");
    return EngineWrapper::UpdateService(id, version, spec, auth);
  }
  int updates_ = 0;
};

TEST(EngineWrapperTest, ForwardsAndInjects) {
  FakeEngine fake;
  FlakyEngine flaky(fake);
  std::string id = *flaky.CreateService(ServiceSpec("a", "web:1"), "");
  EXPECT_EQ(fake.Calls("CreateService"), 1);
  ASSERT_TRUE(flaky.UpdateService(id, 1, ServiceSpec("a", "web:2"), "").ok());
  ASSERT_TRUE(flaky.UpdateService(id, flaky.InspectService(id)->version, ServiceSpec("a", "web:3"), "").ok());
  EXPECT_EQ(flaky.UpdateService(id, flaky.InspectService(id)->version, ServiceSpec("a", "web:4"), "").status(),
            Unavailable("injected"));
  EXPECT_EQ(fake.Calls("UpdateService"), 2);
  EXPECT_EQ(flaky.InspectService("a")->spec["TaskTemplate"]["ContainerSpec"]["Image"], "web:3");
  EXPECT_EQ(flaky.Info()->Role(), "manager");
  EXPECT_EQ(&flaky.target(), &fake);
}

TEST(SwarmInfoTest, Role) {
  SwarmInfo info;
  EXPECT_EQ(info.Role(), "none");
  info.local_node_state = "active";
  EXPECT_EQ(info.Role(), "worker");
  info.control_available = true;
  EXPECT_EQ(info.Role(), "manager");
  EXPECT_EQ(KindName(Kind::kConfig), "config");
}

}  // namespace
}  // namespace stackctl::engine
