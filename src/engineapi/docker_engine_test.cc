#include "engineapi/docker_engine.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

namespace stackctl::engine {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/engine_test.XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string Touch(const std::string& name) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << "x";
    return p;
  }

 private:
  std::string path_;
};

// ---- ClientConfigFromEnvironment ----

TEST(ClientConfigTest, DefaultsToTheUnixSocket) {
  auto c = ClientConfigFromEnvironment({}, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->host, "unix:///var/run/docker.sock");
  EXPECT_FALSE(c->tls);
  EXPECT_EQ(c->api_version, "");
  EXPECT_EQ(c->connect_timeout_ms, 5000);
}

TEST(ClientConfigTest, TcpPortsAndFlagOverride) {
  auto c = ClientConfigFromEnvironment({{"DOCKER_HOST", "tcp://10.0.0.1"}}, {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "tcp://10.0.0.1:2375");
  c = ClientConfigFromEnvironment({{"DOCKER_HOST", "tcp://10.0.0.1:2375"}},
                                  {.host = "unix:///run/d.sock"});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "unix:///run/d.sock");
  c = ClientConfigFromEnvironment({}, {.host = "127.0.0.1:1234"});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "tcp://127.0.0.1:1234");
}

TEST(ClientConfigTest, TlsFromCertPath) {
  TempDir dir;
  std::string ca = dir.Touch("ca.pem"), cert = dir.Touch("cert.pem"), key = dir.Touch("key.pem");
  auto c = ClientConfigFromEnvironment(
      {{"DOCKER_HOST", "tcp://h"}, {"DOCKER_TLS_VERIFY", "1"}, {"DOCKER_CERT_PATH", dir.path()}},
      {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->host, "tcp://h:2376");
  EXPECT_TRUE(c->tls);
  EXPECT_EQ(c->ca_file, ca);
  EXPECT_EQ(c->cert_file, cert);
  EXPECT_EQ(c->key_file, key);
}

TEST(ClientConfigTest, TlsFromHomeAndFlags) {
  TempDir home;
  std::filesystem::create_directories(home.path() + "/.docker");
  std::string ca = home.Touch(".docker/ca.pem");
  std::string mine = home.Touch("mine.pem"), mykey = home.Touch("mykey.pem");
  // ~/.docker holds only ca.pem: no client cert, like the docker CLI.
  auto c = ClientConfigFromEnvironment({{"HOME", home.path()}},
                                       {.host = "tcp://h:1", .tls_verify = true});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->ca_file, ca);
  EXPECT_EQ(c->cert_file, "");
  c = ClientConfigFromEnvironment({{"HOME", home.path()}},
                                  {.host = "tcp://h:1", .tls_cert = mine, .tls_key = mykey});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->tls);
  EXPECT_EQ(c->cert_file, mine);
  EXPECT_EQ(c->key_file, mykey);
  // TLS settings do not apply to unix sockets.
  c = ClientConfigFromEnvironment({{"DOCKER_TLS_VERIFY", "1"}}, {.host = "unix:///x.sock"});
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->tls);
}

TEST(ClientConfigTest, Errors) {
  EXPECT_EQ(ClientConfigFromEnvironment({{"DOCKER_HOST", "ssh://me@h"}}, {}).status(),
            InvalidArgument("docker host ssh://me@h: unsupported scheme (use unix:// or tcp://)"));
  EXPECT_EQ(ClientConfigFromEnvironment({}, {.host = "tcp://h:port"}).status(),
            InvalidArgument("docker host tcp://h:port: invalid port \"port\""));
  EXPECT_EQ(ClientConfigFromEnvironment({}, {.host = "unix://rel.sock"}).status(),
            InvalidArgument("docker host unix://rel.sock: unix socket path must be absolute"));
  EXPECT_EQ(ClientConfigFromEnvironment({}, {.host = "tcp://h:1", .tls_cacert = "/nonexistent/ca"})
                .status(),
            InvalidArgument("--tlscacert /nonexistent/ca: no such file"));
  TempDir dir;
  std::string cert = dir.Touch("c.pem");
  EXPECT_EQ(ClientConfigFromEnvironment({}, {.host = "tcp://h:1", .tls_cert = cert}).status(),
            InvalidArgument("TLS: client certificate " + cert + " given without a key"));
  EXPECT_EQ(ClientConfigFromEnvironment({{"DOCKER_API_VERSION", "1.40"}}, {}).status(),
            InvalidArgument("DOCKER_API_VERSION 1.40: stackctl speaks 1.41 to 1.43"));
  EXPECT_EQ(ClientConfigFromEnvironment({{"DOCKER_API_VERSION", "v1"}}, {}).status(),
            InvalidArgument("DOCKER_API_VERSION v1: not a version like 1.41"));
  auto pinned = ClientConfigFromEnvironment({{"DOCKER_API_VERSION", "1.42"}}, {});
  ASSERT_TRUE(pinned.ok());
  EXPECT_EQ(pinned->api_version, "1.42");
}

// ---- version negotiation ----

TEST(ApiVersionTest, Choose) {
  EXPECT_EQ(*ChooseApiVersion("1.41", "h"), "1.41");
  EXPECT_EQ(*ChooseApiVersion("1.42", "h"), "1.42");
  EXPECT_EQ(*ChooseApiVersion("1.45", "h"), "1.43");
  EXPECT_EQ(*ChooseApiVersion("2.0", "h"), "1.43");
  EXPECT_EQ(ChooseApiVersion("1.40", "unix:///d.sock").status(),
            FailedPrecondition("engine at unix:///d.sock speaks API 1.40, stackctl needs at least "
                               "1.41 (Docker 20.10)"));
  EXPECT_EQ(ChooseApiVersion("", "h").status().code(), Code::kFailedPrecondition);
  EXPECT_LT(CompareApiVersions("1.9", "1.41"), 0);
  EXPECT_EQ(CompareApiVersions("1.41", "1.41"), 0);
}

// ---- error mapping (bodies as Docker 20.10.24 sends them) ----

TEST(ErrorMappingTest, EngineResponses) {
  struct Case {
    long status;
    std::string body;
    Code code;
  } cases[] = {
      {500, R"({"message":"rpc error: code = Unknown desc = update out of sequence"})",
       Code::kAborted},
      {400, R"({"message":"rpc error: code = InvalidArgument desc = only updates to Labels are allowed"})",
       Code::kFailedPrecondition},
      {404, R"({"message":"service nope not found"})", Code::kNotFound},
      {409, R"({"message":"rpc error: code = AlreadyExists desc = secret s1 already exists"})",
       Code::kAlreadyExists},
      {409, R"({"message":"network with name n1 already exists"})", Code::kAlreadyExists},
      {400, R"({"message":"invalid character 'b' looking for beginning of object key string"})",
       Code::kInvalidArgument},
      {501, R"({"message":"rpc error: code = Unimplemented desc = renaming services is not supported"})",
       Code::kFailedPrecondition},
      {503,
       R"({"message":"This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again."})",
       Code::kFailedPrecondition},
      {503, R"({"message":"rpc error: code = Unavailable desc = connection error"})",
       Code::kUnavailable},
      {500, "plain text failure\n", Code::kUnavailable},
      {401, R"({"message":"unauthorized"})", Code::kUnauthenticated},
  };
  for (const auto& c : cases) {
    Status st = MapEngineError(c.status, c.body, "do thing");
    EXPECT_EQ(st.code(), c.code) << c.body;
    EXPECT_THAT(st.message(), StartsWith("do thing: ")) << c.body;
  }
  EXPECT_EQ(MapEngineError(404, R"({"message":"service nope not found"})", "inspect service nope"),
            NotFound("inspect service nope: service nope not found"));
  EXPECT_EQ(MapEngineError(500, "plain text failure\n", "x"), Unavailable("x: plain text failure"));
  EXPECT_EQ(MapEngineError(502, "", "x"), Unavailable("x: HTTP 502"));
}

TEST(ErrorMappingTest, Transport) {
  ClientConfig unix_cfg;
  unix_cfg.host = "unix:///tmp/nothing.sock";
  Status st = MapTransportError(7, "No such file or directory", unix_cfg, "ping", 5000);
  EXPECT_EQ(st, Unavailable("ping: cannot connect to the Docker engine at unix:///tmp/nothing.sock: "
                            "No such file or directory (is the docker daemon running?)"));
  st = MapTransportError(28, "Operation timed out after 100 milliseconds", unix_cfg, "list tasks",
                         100);
  EXPECT_EQ(st.code(), Code::kDeadlineExceeded);
  EXPECT_THAT(st.message(), HasSubstr("did not answer within 100 ms"));
  ClientConfig tls;
  tls.host = "tcp://127.0.0.1:2376";
  tls.tls = true;
  tls.ca_file = "/x/wrong-ca.pem";
  st = MapTransportError(60, "SSL certificate problem: unable to get local issuer certificate", tls,
                         "ping", 0);
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_THAT(st.message(), HasSubstr("TLS handshake with tcp://127.0.0.1:2376 failed: certificate "
                                      "verify failed"));
}

// ---- DockerEngine against a canned engine (cpp-httplib on loopback, port 0) ----

class CannedEngine {
 public:
  explicit CannedEngine(std::string api_version = "1.41") {
    server_.Get("/_ping", [this, api_version](const httplib::Request&, httplib::Response& res) {
      ++pings_;
      res.set_header("API-Version", api_version);
      res.set_content("OK", "text/plain");
    });
    // Keeps a connection for as many requests as a test makes (5 by default),
    // so that reuse by the client is what decides.
    server_.set_keep_alive_max_count(1000);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~CannedEngine() {
    server_.stop();
    thread_.join();
  }
  httplib::Server& server() { return server_; }
  int pings() const { return pings_; }
  std::unique_ptr<DockerEngine> Client(int64_t request_timeout_ms = 5000) {
    ClientConfig c;
    c.host = "tcp://127.0.0.1:" + std::to_string(port_);
    c.request_timeout_ms = request_timeout_ms;
    return std::move(DockerEngine::Create(c).value());
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> pings_{0};
};

// The CLI pings before its first call: that /_ping also negotiates the API
// version, so a process sends one /_ping, not two.
TEST(DockerEngineTest, PingNegotiatesTheVersionOnce) {
  CannedEngine canned("1.41");
  canned.server().Get("/v1.41/version", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"Version":"20.10.24","ApiVersion":"1.41"})", "application/json");
  });
  auto engine = canned.Client();
  ASSERT_TRUE(engine->Ping().ok());
  EXPECT_EQ(canned.pings(), 1);
  ASSERT_TRUE(engine->Version().ok());
  EXPECT_EQ(*engine->ApiVersion(), "1.41");
  EXPECT_EQ(canned.pings(), 1);
}

TEST(DockerEngineTest, NegotiatesAndVersionsPaths) {
  CannedEngine canned("1.44");
  std::string seen_path, seen_query, seen_auth, seen_body;
  canned.server().Get("/v1.43/services", [&](const httplib::Request& req, httplib::Response& res) {
    seen_path = req.path;
    seen_query = req.get_param_value("filters") + "|" + req.get_param_value("status");
    res.set_content(
        R"([{"ID":"abc","Version":{"Index":12},"Spec":{"Name":"st_web","Labels":{"a":"b"}},
            "ServiceStatus":{"RunningTasks":2,"DesiredTasks":3,"CompletedTasks":0}}])",
        "application/json");
  });
  canned.server().Post("/v1.43/services/abc/update",
                       [&](const httplib::Request& req, httplib::Response& res) {
                         seen_auth = req.get_header_value("X-Registry-Auth");
                         seen_body = req.body;
                         if (req.get_param_value("version") != "12") {
                           res.status = 500;
                           res.set_content(
                               R"({"message":"rpc error: code = Unknown desc = update out of sequence"})",
                               "application/json");
                           return;
                         }
                         res.set_content(R"({"Warnings":["image could not be accessed"]})",
                                         "application/json");
                       });
  auto engine = canned.Client();
  EXPECT_EQ(*engine->ApiVersion(), "1.43");
  auto services = engine->ListServices({{"label", {"a=b"}}}, true);
  ASSERT_TRUE(services.ok()) << services.status().ToString();
  EXPECT_EQ(seen_query, R"({"label":{"a=b":true}}|true)");
  ASSERT_EQ(services->size(), 1u);
  const Service& s = services->front();
  EXPECT_EQ(s.id, "abc");
  EXPECT_EQ(s.version, 12u);
  EXPECT_EQ(s.name, "st_web");
  EXPECT_EQ(s.labels.at("a"), "b");
  EXPECT_EQ(s.status.running_tasks, 2u);
  EXPECT_EQ(s.status.desired_tasks, 3u);

  auto warnings = engine->UpdateService("abc", 12, {{"Name", "st_web"}}, "e30=");
  ASSERT_TRUE(warnings.ok()) << warnings.status().ToString();
  EXPECT_THAT(*warnings, ::testing::ElementsAre("image could not be accessed"));
  EXPECT_EQ(seen_auth, "e30=");
  EXPECT_EQ(seen_body, R"({"Name":"st_web"})");
  EXPECT_EQ(engine->UpdateService("abc", 11, {{"Name", "st_web"}}, "").status(),
            Aborted("update service abc: rpc error: code = Unknown desc = update out of sequence"));
}

TEST(DockerEngineTest, RefusesOldEngines) {
  CannedEngine canned("1.40");
  auto engine = canned.Client();
  auto services = engine->ListServices({}, false);
  EXPECT_EQ(services.status().code(), Code::kFailedPrecondition);
  EXPECT_THAT(services.status().message(), StartsWith("list services: engine at tcp://127.0.0.1:"));
  EXPECT_THAT(services.status().message(), HasSubstr("speaks API 1.40, stackctl needs at least 1.41"));
}

TEST(DockerEngineTest, RequestTimeout) {
  CannedEngine canned;
  canned.server().Get("/v1.41/info", [](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    res.set_content("{}", "application/json");
  });
  auto engine = canned.Client(/*request_timeout_ms=*/200);
  auto info = engine->Info();
  EXPECT_EQ(info.status().code(), Code::kDeadlineExceeded);
  EXPECT_THAT(info.status().message(), StartsWith("info: the Docker engine at tcp://127.0.0.1:"));
}

TEST(DockerEngineTest, ListsAreReadAsTheyArrive) {
  CannedEngine canned;
  std::atomic<int> sent{0};
  // Two services, the first one split across writes; the handler then waits
  // until the client has visited the first one before it sends the second.
  std::atomic<int> visited{0};
  canned.server().Get("/v1.41/services", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/json", [&](size_t, httplib::DataSink& sink) {
      std::string first = R"([{"ID":"s1","Version":{"Index":3},"Spec":{"Name":"st_a","Args":["]},\""]}})";
      sink.write(first.data(), 25);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      sink.write(first.data() + 25, first.size() - 25);
      for (int i = 0; i < 200 && visited == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      sent = visited.load();
      std::string rest = R"(, {"ID":"s2","Version":{"Index":4},"Spec":{"Name":"st_b"}}])";
      sink.write(rest.data(), rest.size());
      sink.done();
      return true;
    });
  });
  canned.server().Get("/v1.41/tasks", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"([{"ID":"t1","Spec":{"ContainerSpec":{"Image":"a"}}}, {"ID":"t2",)", "application/json");
  });
  canned.server().Get("/v1.41/nodes", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content(R"({"message":"This node is not a swarm manager."})", "application/json");
  });
  canned.server().Get("/v1.41/secrets", [](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/json", [](size_t, httplib::DataSink& sink) {
      sink.write("[", 1);
      std::this_thread::sleep_for(std::chrono::milliseconds(600));
      sink.write("]", 1);
      sink.done();
      return true;
    });
  });
  auto engine = canned.Client(/*request_timeout_ms=*/300);
  std::vector<std::string> names;
  Status st = engine->VisitServices({}, false, [&](Service&& s) {
    names.push_back(s.name);
    ++visited;
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_THAT(names, ::testing::ElementsAre("st_a", "st_b"));
  EXPECT_EQ(sent.load(), 1);  // st_a was visited before st_b was sent

  auto tasks = engine->ListTasks({});
  EXPECT_EQ(tasks.status().ToString(), "INTERNAL: list tasks: unexpected engine response: the array ends early, at byte 64");
  auto nodes = engine->ListNodes({});
  EXPECT_EQ(nodes.status().code(), Code::kFailedPrecondition);
  EXPECT_THAT(nodes.status().message(), HasSubstr("This node is not a swarm manager."));
  // A list that takes longer than the request timeout is an error, not an empty list.
  auto secrets = engine->ListObjects(Kind::kSecret, {});
  EXPECT_EQ(secrets.status().code(), Code::kDeadlineExceeded);
  EXPECT_THAT(secrets.status().message(), StartsWith("list secrets: the Docker engine at tcp://127.0.0.1:"));
}

TEST(DockerEngineTest, EventsStreamParsesChunks) {
  CannedEngine canned;
  canned.server().Get("/v1.41/events", [](const httplib::Request& req, httplib::Response& res) {
    res.set_chunked_content_provider("application/json", [](size_t, httplib::DataSink& sink) {
      // One event split across writes, then two in one write.
      std::string a = R"({"Type":"service","Action":"create","Actor":{"ID":"s1"}})";
      sink.write(a.data(), 20);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::string rest = a.substr(20) + "\n" +
                         R"({"Type":"service","Action":"update","Actor":{"ID":"s1"}})" "\n" +
                         R"({"Type":"service","Action":"remove","Actor":{"ID":"s1"}})" "\n";
      sink.write(rest.data(), rest.size());
      std::this_thread::sleep_for(std::chrono::milliseconds(1000));
      sink.done();
      return true;
    });
  });
  auto engine = canned.Client(/*request_timeout_ms=*/100);  // not applied to the stream
  std::vector<std::string> actions;
  Status st = engine->StreamEvents({{"type", {"service"}}}, 0,
                                   [&](const Json& e) {
                                     actions.push_back(e["Action"]);
                                     return actions.size() < 2;
                                   },
                                   5000);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_THAT(actions, ::testing::ElementsAre("create", "update"));

  // The stream's own timeout ends it with OK.
  actions.clear();
  auto start = std::chrono::steady_clock::now();
  st = engine->StreamEvents({}, 0, [&](const Json& e) {
    actions.push_back(e["Action"]);
    return true;
  }, 300);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(actions.size(), 3u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
}

TEST(DockerEngineTest, EventsStreamSendsSinceAndNoUntil) {
  CannedEngine canned;
  std::string since, until = "unset";
  canned.server().Get("/v1.41/events", [&](const httplib::Request& req, httplib::Response& res) {
    since = req.get_param_value("since");
    if (req.has_param("until")) until = req.get_param_value("until");
    res.set_content(R"({"Type":"service","Action":"update","time":1700000000,"timeNano":1700000000000000123})" "\n",
                    "application/json");
  });
  auto engine = canned.Client(1000);
  int64_t seen = 0;
  Status st = engine->StreamEvents({}, 1700000000000000123LL, [&](const Json& e) {
    seen = EventTimeNano(e);
    return false;
  }, 2000);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(since, "1700000000.000000123");
  EXPECT_EQ(until, "unset");
  EXPECT_EQ(seen, 1700000000000000123LL);
}

TEST(DockerEngineTest, CancelEndsAnIdleEventsStream) {
  CannedEngine canned;
  std::atomic<bool> server_done{false};
  canned.server().Get("/v1.41/events", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/json", [&](size_t, httplib::DataSink& sink) {
      std::string e = R"({"Type":"service","Action":"create","Actor":{"ID":"s1"}})" "\n";
      sink.write(e.data(), e.size());
      // Then nothing for a long time, as an engine with no activity.
      for (int i = 0; i < 100 && !server_done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      sink.done();
      return true;
    });
  });
  auto engine = canned.Client(100);
  std::atomic<bool> cancel{false};
  int events = 0;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel = true;
  });
  auto start = std::chrono::steady_clock::now();
  Status st = engine->StreamEvents({}, 0, [&](const Json&) { return ++events > 0; }, /*timeout_ms=*/0, &cancel);
  auto took = std::chrono::steady_clock::now() - start;
  canceller.join();
  server_done = true;
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(events, 1);
  EXPECT_GE(took, std::chrono::milliseconds(300));
  EXPECT_LT(took, std::chrono::milliseconds(1800));  // curl looks at the flag at least once a second
}

TEST(DockerEngineTest, PinnedVersionSkipsPing) {
  CannedEngine canned("1.30");  // would be refused if negotiated
  canned.server().Get("/v1.42/version", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"Version":"24.0.0","ApiVersion":"1.43","MinAPIVersion":"1.12","Os":"linux","Arch":"arm64"})",
                    "application/json");
  });
  auto engine = canned.Client();
  ClientConfig c = engine->config();
  c.api_version = "1.42";
  auto pinned = std::move(DockerEngine::Create(c).value());
  auto v = pinned->Version();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->version, "24.0.0");
  EXPECT_EQ(v->arch, "arm64");
  EXPECT_EQ(*pinned->ApiVersion(), "1.42");
}

TEST(DockerEngineTest, ConcurrentCalls) {
  CannedEngine canned;
  std::atomic<int> served{0};
  canned.server().Get("/v1.41/nodes", [&](const httplib::Request&, httplib::Response& res) {
    ++served;
    res.set_content(R"([{"ID":"n1","Spec":{"Role":"manager"}}])", "application/json");
  });
  auto engine = canned.Client();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 10; ++j) {
        auto nodes = engine->ListNodes({});
        if (nodes.ok() && nodes->size() == 1 && nodes->at(0).role == "manager") ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
  EXPECT_EQ(served.load(), 80);
}

TEST(DockerEngineTest, CallsReuseKeptConnections) {
  CannedEngine canned;
  std::mutex mu;
  std::vector<int> node_ports;  // the client port of each /nodes request: one per connection
  canned.server().Get("/v1.41/nodes", [&](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard<std::mutex> l(mu);
      node_ports.push_back(req.remote_port);
    }
    res.set_content(R"([{"ID":"n1","Spec":{"Role":"manager"}}])", "application/json");
  });
  std::atomic<bool> stream_open{false}, end_stream{false};
  std::atomic<int> stream_port{0};
  canned.server().Get("/v1.41/events", [&](const httplib::Request& req, httplib::Response& res) {
    stream_port = req.remote_port;
    res.set_chunked_content_provider("application/json", [&](size_t, httplib::DataSink& sink) {
      std::string e = R"({"Type":"service","Action":"create","Actor":{"ID":"s1"}})" "\n";
      sink.write(e.data(), e.size());
      stream_open = true;
      while (!end_stream) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      sink.done();
      return true;
    });
  });
  auto engine = canned.Client();
  auto distinct = [&] {
    std::lock_guard<std::mutex> l(mu);
    return std::set<int>(node_ports.begin(), node_ports.end());
  };

  // One after the other: one connection (the one the version ping opened).
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(engine->ListNodes({}).ok());
  ASSERT_EQ(node_ports.size(), 10u);
  EXPECT_EQ(distinct().size(), 1u);
  const int first = node_ports.front();

  // From 4 threads at once: at most one connection per thread, kept afterwards.
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 10; ++j) EXPECT_TRUE(engine->ListNodes({}).ok());
    });
  }
  for (auto& t : threads) t.join();
  std::set<int> after_parallel = distinct();
  EXPECT_GE(after_parallel.size(), 1u);
  EXPECT_LE(after_parallel.size(), 4u);
  EXPECT_TRUE(after_parallel.count(first));

  // The events stream opens a connection of its own; calls made while it runs
  // use the kept ones, and it is closed, not kept, when the stream ends.
  std::thread stream([&] {
    EXPECT_TRUE(engine->StreamEvents({}, 0, [](const Json&) { return true; }, /*timeout_ms=*/0, &end_stream).ok());
  });
  while (!stream_open) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(after_parallel.count(stream_port));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(engine->ListNodes({}).ok());
  end_stream = true;
  stream.join();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(engine->ListNodes({}).ok());
  EXPECT_EQ(distinct(), after_parallel);
}

TEST(DockerEngineTest, SilentEngineTimesOut) {
  // A unix socket that accepts connections (backlog) but never answers.
  std::string path = "/tmp/stackctl-engine-test-" + std::to_string(getpid()) + ".sock";
  unlink(path.c_str());
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  ClientConfig c;
  c.host = "unix://" + path;
  c.request_timeout_ms = 200;
  auto engine = std::move(DockerEngine::Create(c).value());
  Status st = engine->Ping();
  EXPECT_EQ(st.code(), Code::kDeadlineExceeded);
  EXPECT_THAT(st.message(), StartsWith("ping: the Docker engine at unix://" + path +
                                       " did not answer within 200 ms"));
  close(fd);
  unlink(path.c_str());
}

TEST(DockerEngineTest, NothingListening) {
  ClientConfig c;
  c.host = "unix:///tmp/stackctl-engine-test-nothing.sock";
  auto engine = std::move(DockerEngine::Create(c).value());
  Status st = engine->Ping();
  EXPECT_EQ(st, Unavailable("ping: cannot connect to the Docker engine at "
                            "unix:///tmp/stackctl-engine-test-nothing.sock: No such file or "
                            "directory (is the docker daemon running?)"));
}

}  // namespace
}  // namespace stackctl::engine
