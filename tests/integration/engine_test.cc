// DockerEngine against the real test-bed dockerd (Docker 20.10, swarm manager):
// every Engine operation, each error mapping, unreachable engines, mutual TLS,
// and `stackctl version`.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/crypto.h"
#include "engineapi/docker_engine.h"
#include "integration/testbed.h"

namespace stackctl::engine {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using stackctl::testing::RunCommand;
using stackctl::testing::Testbed;
using stackctl::testing::WaitFor;

// Unique per process, so tests can run in parallel against one engine.
std::string Unique(const std::string& base) {
  static const std::string suffix = [] {
    std::random_device rd;
    return std::to_string(getpid()) + "-" + std::to_string(rd() % 100000);
  }();
  return "it-" + base + "-" + suffix;
}

std::unique_ptr<DockerEngine> Connect(const std::string& host) {
  ClientConfig c;
  c.host = host;
  c.request_timeout_ms = 30000;
  return std::move(DockerEngine::Create(c).value());
}

Json ServiceSpec(const std::string& name, const std::string& image,
                 const std::string& command = "1000") {
  return {{"Name", name},
          {"Labels", {{"com.docker.stack.namespace", name}, {"io.stackctl.test", "1"}}},
          {"TaskTemplate",
           {{"ContainerSpec", {{"Image", image}, {"Command", {"sleep", command}}}},
            {"RestartPolicy", {{"Condition", "none"}}}}},
          {"Mode", {{"Replicated", {{"Replicas", 1}}}}}};
}

class EngineIT : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTBED(tb_);
    engine_ = Connect(tb_.docker_host);
  }
  Testbed tb_;
  std::unique_ptr<DockerEngine> engine_;
};

TEST_F(EngineIT, PingVersionInfoNodes) {
  ASSERT_TRUE(engine_->Ping().ok());
  EXPECT_EQ(*engine_->ApiVersion(), "1.41");
  auto v = engine_->Version();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_THAT(v->version, StartsWith("20.10."));
  EXPECT_EQ(v->api_version, "1.41");
  EXPECT_EQ(v->min_api_version, "1.12");
  EXPECT_EQ(v->os, "linux");
  EXPECT_FALSE(v->arch.empty());
  auto info = engine_->Info();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->Role(), "manager");
  EXPECT_EQ(info->local_node_state, "active");
  EXPECT_EQ(info->node_id.size(), 25u);
  EXPECT_FALSE(info->cluster_id.empty());

  auto nodes = engine_->ListNodes({{"role", {"manager"}}});
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ(nodes->at(0).id, info->node_id);
  EXPECT_EQ(nodes->at(0).role, "manager");
  EXPECT_EQ(nodes->at(0).availability, "active");
  EXPECT_EQ(nodes->at(0).state, "ready");
  EXPECT_EQ(engine_->ListNodes({{"role", {"worker"}}})->size(), 0u);
}

TEST_F(EngineIT, ServiceLifecycleAndErrors) {
  std::string name = Unique("svc");
  Json spec = ServiceSpec(name, tb_.image);
  auto id = engine_->CreateService(spec, Base64Encode("{}"));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->size(), 25u);

  // Name conflict.
  auto dup = engine_->CreateService(spec, "");
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(dup.status().message(),
            "create service " + name +
                ": rpc error: code = AlreadyExists desc = name conflicts with an existing object: "
                "service " + name + " already exists");

  auto s = engine_->InspectService(name);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->id, *id);
  EXPECT_EQ(s->name, name);
  EXPECT_EQ(s->labels.at("io.stackctl.test"), "1");
  EXPECT_EQ(s->spec["TaskTemplate"]["ContainerSpec"]["Image"], tb_.image);
  EXPECT_FALSE(s->spec.contains("UpdateConfig"));  // insertDefaults=false: the stored spec
  EXPECT_GT(s->version, 0u);
  EXPECT_EQ(s->created_at.rfind("20", 0), 0u) << s->created_at;  // RFC 3339

  // List with filters and task counts; wait for the task to run.
  Filters mine = {{"label", {"com.docker.stack.namespace=" + name}}};
  ASSERT_TRUE(WaitFor([&] {
    auto l = engine_->ListServices(mine, true);
    return l.ok() && l->size() == 1 && l->at(0).status.running_tasks == 1;
  }, 60)) << "service task never ran";
  auto listed = engine_->ListServices(mine, true);
  EXPECT_EQ(listed->at(0).status.desired_tasks, 1u);
  EXPECT_EQ(engine_->ListServices({{"name", {name.substr(0, name.size() - 2)}}}, false)->size(), 1u)
      << "name filter matches prefixes";
  EXPECT_EQ(engine_->ListServices({{"id", {*id}}}, false)->size(), 1u);
  EXPECT_EQ(engine_->ListServices({{"label", {"com.docker.stack.namespace=nope"}}}, false)->size(),
            0u);
  EXPECT_EQ(engine_->ListServices({{"bogus", {"x"}}}, false).status(),
            InvalidArgument("list services: Invalid filter 'bogus'"));

  auto tasks = engine_->ListTasks({{"service", {name}}, {"desired-state", {"running"}}});
  ASSERT_TRUE(tasks.ok()) << tasks.status().ToString();
  ASSERT_EQ(tasks->size(), 1u);
  EXPECT_EQ(tasks->at(0).service_id, *id);
  EXPECT_EQ(tasks->at(0).state, "running");
  EXPECT_EQ(tasks->at(0).slot, 1);
  EXPECT_EQ(tasks->at(0).node_id, engine_->Info()->node_id);
  EXPECT_FALSE(tasks->at(0).timestamp.empty());

  // Update with the version read; a stale version is Aborted.
  uint64_t v1 = s->version;
  Json spec2 = ServiceSpec(name, tb_.image, "2000");
  auto warnings = engine_->UpdateService(*id, v1, spec2, Base64Encode("{}"));
  ASSERT_TRUE(warnings.ok()) << warnings.status().ToString();
  EXPECT_TRUE(warnings->empty());
  auto stale = engine_->UpdateService(*id, v1, spec, "");
  EXPECT_EQ(stale.status(), Aborted("update service " + *id +
                                    ": rpc error: code = Unknown desc = update out of sequence"));
  // Renaming is refused.
  Json renamed = spec2;
  renamed["Name"] = name + "-x";
  auto s2 = engine_->InspectService(*id);
  EXPECT_EQ(engine_->UpdateService(*id, s2->version, renamed, "").status(),
            FailedPrecondition("update service " + *id +
                               ": rpc error: code = Unimplemented desc = renaming services is not "
                               "supported"));
  EXPECT_EQ(s2->spec["TaskTemplate"]["ContainerSpec"]["Command"][1], "2000");

  // Rollback: stale version Aborted, then the real one swaps Spec and PreviousSpec.
  EXPECT_EQ(engine_->RollbackService(*id, v1).code(), Code::kAborted);
  ASSERT_TRUE(engine_->RollbackService(*id, s2->version).ok());
  auto s3 = engine_->InspectService(*id);
  EXPECT_EQ(s3->spec["TaskTemplate"]["ContainerSpec"]["Command"][1], "1000");
  ASSERT_TRUE(s3->update_status.is_object());
  EXPECT_THAT(s3->update_status.value("State", ""), StartsWith("rollback_"));
  ASSERT_TRUE(WaitFor([&] {
    auto s = engine_->InspectService(*id);
    return s.ok() && s->update_status.is_object() &&
           s->update_status.value("State", "") == "rollback_completed";
  }, 60)) << engine_->InspectService(*id)->update_status.dump();

  // Remove; then everything about it is NotFound.
  ASSERT_TRUE(engine_->RemoveService(*id).ok());
  EXPECT_EQ(engine_->InspectService(*id).status(),
            NotFound("inspect service " + *id + ": service " + *id + " not found"));
  EXPECT_EQ(engine_->RemoveService(*id).code(), Code::kNotFound);
  EXPECT_EQ(engine_->UpdateService(*id, 1, spec, "").status().code(), Code::kNotFound);
  EXPECT_EQ(engine_->RollbackService(*id, 1).code(), Code::kNotFound);
}

TEST_F(EngineIT, FailingUpdatePauses) {
  // A task that exits 1 makes the rolling update pause (default failure action).
  std::string name = Unique("fail");
  Json spec = ServiceSpec(name, tb_.image);
  spec["UpdateConfig"] = {{"Monitor", 2000000000}, {"FailureAction", "pause"}};
  auto id = engine_->CreateService(spec, "");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  auto s = engine_->InspectService(*id);
  Json bad = spec;
  bad["TaskTemplate"]["ContainerSpec"]["Command"] = {"false"};
  ASSERT_TRUE(engine_->UpdateService(*id, s->version, bad, "").ok());
  Json status;
  ASSERT_TRUE(WaitFor([&] {
    auto s = engine_->InspectService(*id);
    if (s.ok()) status = s->update_status;
    return status.is_object() && status.value("State", "") == "paused";
  }, 60)) << status.dump();
  EXPECT_THAT(status.value("Message", ""),
              HasSubstr("update paused due to failure or early termination of task"));
  auto tasks = engine_->ListTasks({{"service", {*id}}});
  ASSERT_TRUE(tasks.ok());
  bool saw_failed = false;
  for (const auto& t : *tasks)
    if (t.state == "failed") {
      saw_failed = true;
      EXPECT_EQ(t.error, "task: non-zero exit (1)");
    }
  EXPECT_TRUE(saw_failed);
  ASSERT_TRUE(engine_->RemoveService(*id).ok());
}

TEST_F(EngineIT, SecretsAndConfigs) {
  for (Kind kind : {Kind::kSecret, Kind::kConfig}) {
    std::string k(KindName(kind));
    SCOPED_TRACE(k);
    std::string name = Unique(k);
    Json spec = {{"Name", name}, {"Labels", {{"io.stackctl.test", name}}},
                 {"Data", Base64Encode("hunter2")}};
    auto id = engine_->CreateObject(kind, spec);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    auto dup = engine_->CreateObject(kind, spec);
    EXPECT_EQ(dup.status(), AlreadyExists("create " + k + " " + name + ": rpc error: code = "
                                          "AlreadyExists desc = " + k + " " + name +
                                          " already exists"));
    auto o = engine_->InspectObject(kind, name);
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    EXPECT_EQ(o->id, *id);
    EXPECT_EQ(o->name, name);
    EXPECT_EQ(o->labels.at("io.stackctl.test"), name);
    EXPECT_GT(o->version, 0u);
    if (kind == Kind::kSecret)
      EXPECT_FALSE(o->spec.contains("Data"));
    else
      EXPECT_EQ(o->spec["Data"], Base64Encode("hunter2"));

    auto listed = engine_->ListObjects(kind, {{"label", {"io.stackctl.test=" + name}}});
    ASSERT_TRUE(listed.ok()) << listed.status().ToString();
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ(listed->at(0).id, *id);

    // Data change refused; stale version Aborted; labels-only update works.
    Json changed = spec;
    changed["Data"] = Base64Encode("other");
    EXPECT_EQ(engine_->UpdateObject(kind, *id, o->version, changed),
              FailedPrecondition("update " + k + " " + *id +
                                 ": rpc error: code = InvalidArgument desc = only updates to "
                                 "Labels are allowed"));
    Json relabel = {{"Name", name}, {"Labels", {{"io.stackctl.test", name}, {"extra", "1"}}}};
    if (kind == Kind::kConfig) relabel["Data"] = spec["Data"];  // configs keep their data
    EXPECT_EQ(engine_->UpdateObject(kind, *id, o->version - 1, relabel),
              Aborted("update " + k + " " + *id +
                      ": rpc error: code = Unknown desc = update out of sequence"));
    Status up = engine_->UpdateObject(kind, *id, o->version, relabel);
    ASSERT_TRUE(up.ok()) << up.ToString();
    auto o2 = engine_->InspectObject(kind, *id);
    EXPECT_EQ(o2->labels.at("extra"), "1");
    EXPECT_GT(o2->version, o->version);

    ASSERT_TRUE(engine_->RemoveObject(kind, *id).ok());
    EXPECT_EQ(engine_->InspectObject(kind, *id).status(),
              NotFound("inspect " + k + " " + *id + ": " + k + " " + *id + " not found"));
    EXPECT_EQ(engine_->RemoveObject(kind, *id).code(), Code::kNotFound);
    EXPECT_EQ(engine_->UpdateObject(kind, *id, 1, relabel).code(), Code::kNotFound);
  }
}

TEST_F(EngineIT, SecretInUseCannotBeRemoved) {
  std::string name = Unique("used");
  auto sid = engine_->CreateObject(Kind::kSecret, {{"Name", name}, {"Data", Base64Encode("x")}});
  ASSERT_TRUE(sid.ok()) << sid.status().ToString();
  Json spec = ServiceSpec(name, tb_.image);
  spec["TaskTemplate"]["ContainerSpec"]["Secrets"] = {
      {{"SecretID", *sid},
       {"SecretName", name},
       {"File", {{"Name", "s"}, {"UID", "0"}, {"GID", "0"}, {"Mode", 292}}}}};
  auto id = engine_->CreateService(spec, "");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  Status st = engine_->RemoveObject(Kind::kSecret, *sid);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("is in use by the following service: " + name));
  ASSERT_TRUE(engine_->RemoveService(*id).ok());
  ASSERT_TRUE(engine_->RemoveObject(Kind::kSecret, *sid).ok());
}

TEST_F(EngineIT, Networks) {
  std::string name = Unique("net");
  Json spec = {{"Name", name}, {"Driver", "overlay"}, {"Labels", {{"io.stackctl.test", name}}}};
  auto id = engine_->CreateObject(Kind::kNetwork, spec);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  auto dup = engine_->CreateObject(Kind::kNetwork, spec);
  EXPECT_EQ(dup.status(), AlreadyExists("create network " + name + ": network with name " + name +
                                        " already exists"));
  auto n = engine_->InspectObject(Kind::kNetwork, name);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  // Quirk of 20.10: right after create, a swarm network reads back with
  // Driver "" and no IPAM config until the allocator has run (the API reports
  // DriverState, not the spec's DriverConfig).
  ASSERT_TRUE(WaitFor([&] {
    n = engine_->InspectObject(Kind::kNetwork, name);
    return n.ok() && n->spec.value("Driver", "") == "overlay";
  }, 10));
  EXPECT_EQ(n->id, *id);
  EXPECT_EQ(n->name, name);
  EXPECT_EQ(n->version, 0u);
  EXPECT_EQ(n->labels.at("io.stackctl.test"), name);
  EXPECT_EQ(n->spec["Driver"], "overlay");
  EXPECT_EQ(n->spec["Scope"], "swarm");
  EXPECT_EQ(n->spec["Attachable"], false);
  for (const char* runtime : {"Id", "Created", "Containers", "Peers"})
    EXPECT_FALSE(n->spec.contains(runtime)) << runtime;
  EXPECT_EQ(n->created_at.rfind("20", 0), 0u) << n->created_at;

  auto listed = engine_->ListObjects(Kind::kNetwork, {{"label", {"io.stackctl.test=" + name}}});
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->at(0).name, name);
  EXPECT_EQ(engine_->UpdateObject(Kind::kNetwork, *id, 0, spec).code(), Code::kFailedPrecondition);

  ASSERT_TRUE(engine_->RemoveObject(Kind::kNetwork, *id).ok());
  EXPECT_EQ(engine_->InspectObject(Kind::kNetwork, *id).status(),
            NotFound("inspect network " + *id + ": network " + *id + " not found"));
  EXPECT_EQ(engine_->RemoveObject(Kind::kNetwork, *id).code(), Code::kNotFound);
}

TEST_F(EngineIT, DistributionDigest) {
  auto digest = engine_->DistributionDigest(tb_.image, "");
  ASSERT_TRUE(digest.ok()) << digest.status().ToString();
  EXPECT_EQ(*digest, tb_.image_digest);
  auto missing = engine_->DistributionDigest(tb_.registry + "/nope:1", "");
  EXPECT_EQ(missing.status().code(), Code::kNotFound) << missing.status().ToString();
  EXPECT_THAT(missing.status().message(), HasSubstr("manifest unknown"));
}

TEST_F(EngineIT, EventsStreamSeesServiceCreate) {
  std::string name = Unique("ev");
  std::atomic<bool> connected{false};
  Json seen;
  Status st;
  std::thread watcher([&] {
    st = engine_->StreamEvents(
        {{"type", {"service"}}}, 0,
        [&](const Json& e) {
          if (e["Actor"]["Attributes"].value("name", "") == name) {
            seen = e;
            return false;
          }
          return true;
        },
        30000);
  });
  // The stream only carries events after it connects: keep creating until seen.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto id = engine_->CreateService(ServiceSpec(name, tb_.image), "");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  watcher.join();
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(seen["Type"], "service");
  EXPECT_EQ(seen["Action"], "create");
  EXPECT_EQ(seen["Actor"]["ID"], *id);
  ASSERT_TRUE(engine_->RemoveService(*id).ok());

  // A quiet stream ends with OK at its own timeout.
  auto start = std::chrono::steady_clock::now();
  st = engine_->StreamEvents({{"type", {"node"}}, {"event", {"remove"}}}, 0,
                             [](const Json&) { return true; }, 500);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));

  // Resumed from the create's time, a new stream replays the create (that
  // time is included) and then the remove, which happened while no stream ran.
  int64_t since = engine::EventTimeNano(seen);
  ASSERT_GT(since, 0) << seen.dump();
  std::vector<std::string> replayed;
  st = engine_->StreamEvents(
      {{"type", {"service"}}}, since,
      [&](const Json& e) {
        if (e["Actor"]["ID"] == *id) replayed.push_back(e.value("Action", ""));
        return replayed.size() < 2;
      },
      10000);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_THAT(replayed, ::testing::ElementsAre("create", "remove"));
}

TEST_F(EngineIT, Unreachable) {
  // A socket file with nothing listening (bound, never listened on).
  std::string path = "/tmp/stackctl-it-" + std::to_string(getpid()) + ".sock";
  unlink(path.c_str());
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  auto dead_socket = Connect("unix://" + path);
  auto r = dead_socket->ListServices({}, false);
  EXPECT_EQ(r.status(), Unavailable("list services: cannot connect to the Docker engine at unix://" + path +
                                    ": Connection refused (is the docker daemon running?)"));
  close(fd);
  unlink(path.c_str());
  EXPECT_EQ(dead_socket->Ping(),
            Unavailable("ping: cannot connect to the Docker engine at unix://" + path +
                        ": No such file or directory (is the docker daemon running?)"));

  auto dead_port = Connect("tcp://127.0.0.1:1");
  EXPECT_EQ(dead_port->Info().status(),
            Unavailable("info: cannot connect to the Docker engine at tcp://127.0.0.1:1: "
                        "Connection refused (is the docker daemon running?)"));
  EXPECT_TRUE(dead_port->Info().status().IsRetryable());
}

class TlsIT : public EngineIT {
 protected:
  std::unique_ptr<DockerEngine> Tls(const std::string& ca, const std::string& cert,
                                    const std::string& key) {
    ClientConfig c;
    c.host = tb_.tls_host;
    c.tls = true;
    c.ca_file = tb_.tls_dir + "/" + ca;
    if (!cert.empty()) c.cert_file = tb_.tls_dir + "/" + cert;
    if (!key.empty()) c.key_file = tb_.tls_dir + "/" + key;
    return std::move(DockerEngine::Create(c).value());
  }
};

TEST_F(TlsIT, ClientCertWorks) {
  auto e = Tls("ca.pem", "client-cert.pem", "client-key.pem");
  auto info = e->Info();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->Role(), "manager");
  EXPECT_EQ(e->ListServices({}, true).status().code(), Code::kOk);

  // Same through the docker CLI environment (DOCKER_CERT_PATH layout).
  auto config = ClientConfigFromEnvironment({{"DOCKER_HOST", tb_.tls_host},
                                             {"DOCKER_TLS_VERIFY", "1"},
                                             {"DOCKER_CERT_PATH", tb_.tls_dir + "/client-certs"}},
                                            {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto env_engine = std::move(DockerEngine::Create(*config).value());
  ASSERT_TRUE(env_engine->Ping().ok());
}

TEST_F(TlsIT, WrongCaIsRefused) {
  Status st = Tls("wrong-ca.pem", "client-cert.pem", "client-key.pem")->Ping();
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_THAT(st.message(), StartsWith("ping: TLS handshake with " + tb_.tls_host +
                                       " failed: certificate verify failed: the server "
                                       "certificate is not trusted by CA " +
                                       tb_.tls_dir + "/wrong-ca.pem"));
}

TEST_F(TlsIT, MissingClientCertIsRefused) {
  Status st = Tls("ca.pem", "", "")->Ping();
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_THAT(st.message(), StartsWith("ping: TLS handshake with " + tb_.tls_host +
                                       " failed: the engine requires a client certificate and "
                                       "none was configured"));
}

TEST_F(TlsIT, ClientCertFromWrongCaIsRefused) {
  Status st = Tls("ca.pem", "rogue-client-cert.pem", "rogue-client-key.pem")->Ping();
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_THAT(st.message(), StartsWith("ping: TLS handshake with " + tb_.tls_host +
                                       " failed: the engine rejected the client certificate " +
                                       tb_.tls_dir + "/rogue-client-cert.pem"));
}

TEST_F(TlsIT, PlainHttpToTlsPortExplainsItself) {
  Status st = Connect(tb_.tls_host)->Ping();
  EXPECT_EQ(st, FailedPrecondition("ping: Client sent an HTTP request to an HTTPS server. (the "
                                   "engine expects TLS: use --tlsverify or DOCKER_TLS_VERIFY=1)"));
}

TEST_F(EngineIT, StackctlVersionPrintsManagerRole) {
  std::string out;
  std::string bin = tb_.bin_dir + "/stackctl";
  int rc = RunCommand(bin + " -H " + tb_.docker_host + " version", &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("Client: stackctl "));
  EXPECT_THAT(out, HasSubstr("Server: Docker Engine 20.10."));
  EXPECT_THAT(out, HasSubstr(" API version:   1.41 (engine supports 1.12 to 1.41)\n"));
  EXPECT_THAT(out, HasSubstr(" OS/Arch:       linux/"));
  EXPECT_THAT(out, HasSubstr(" Swarm role:    manager\n"));
  EXPECT_THAT(out, HasSubstr(" Node ID:       " + engine_->Info()->node_id + "\n"));

  // Through TLS with the docker CLI environment.
  rc = RunCommand("DOCKER_HOST=" + tb_.tls_host + " DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=" +
                      tb_.tls_dir + "/client-certs " + bin + " version",
                  &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr(" Host:          " + tb_.tls_host + " (TLS)\n"));
  EXPECT_THAT(out, HasSubstr(" Swarm role:    manager\n"));

  rc = RunCommand(bin + " -H unix:///tmp/stackctl-it-nothing.sock version", &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_THAT(out, HasSubstr("Error: ping: cannot connect to the Docker engine at "
                             "unix:///tmp/stackctl-it-nothing.sock: No such file or directory"));
}

}  // namespace
}  // namespace stackctl::engine
