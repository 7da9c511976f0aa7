#include "apiclient/client.h"

#include <gtest/gtest.h>

#include "server/server.h"

namespace stackctl::apiclient {
namespace {

using server::ControllerApi;
using server::Operation;
using server::OperationState;
using server::Server;
using server::ServerOptions;
using server::StackView;

class FakeController : public ControllerApi {
 public:
  bool Ready() override { return true; }
  std::vector<std::string> OnPush(const server::RepositoryPush&) override { return {}; }
  Result<std::string> Sync(const std::string& stack,
                           const std::optional<std::string>& revision) override {
    if (stack != "web") return NotFound("stack \"" + stack + "\" not found");
    last_revision = revision.value_or("");
    return std::string("op-7");
  }
  Result<Operation> WaitOperation(const std::string&, std::chrono::milliseconds timeout) override {
    waited_ms = timeout.count();
    return op;
  }
  std::vector<StackView> ListStacks() override { return {}; }
  Result<StackView> GetStack(const std::string& name) override {
    if (name != "web") return NotFound("stack \"" + name + "\" not found");
    StackView v;
    v.name = name;
    return v;
  }
  Result<std::vector<reconciler::HistoryRecord>> GetHistory(const std::string&) override {
    return std::vector<reconciler::HistoryRecord>{};
  }
  // stackctl has no pin or rollback command through the server.
  Status SetPinned(const std::string& stack, bool) override {
    return stack == "web" ? OkStatus() : NotFound("stack \"" + stack + "\" not found");
  }
  Result<std::string> Rollback(const std::string& stack, int64_t) override {
    if (stack != "web") return NotFound("stack \"" + stack + "\" not found");
    return std::string("op-8");
  }
  Result<Operation> GetOperation(const std::string& id) override {
    Operation o;
    o.id = id;
    o.state = OperationState::kRunning;
    return o;
  }

  std::string last_revision;
  long waited_ms = 0;
  Operation op = [] {
    Operation o;
    o.id = "op-7";
    o.stack = "web";
    o.state = OperationState::kSucceeded;
    return o;
  }();
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.api_token = "tok";
    server_ = std::make_unique<Server>(fake_, metrics_, o);
    ASSERT_TRUE(server_->Start().ok());
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  Client Make(const std::string& token = "tok") { return Client({base_, token, "", std::chrono::seconds(5)}); }

  FakeController fake_;
  metrics::Registry registry_;
  metrics::ControllerMetrics metrics_{registry_};
  std::unique_ptr<Server> server_;
  std::string base_;
};

TEST_F(ClientTest, ReadsAndSyncs) {
  Client c = Make();
  EXPECT_EQ(*c.ListStacks(), (Json{{"stacks", Json::array()}}));
  EXPECT_EQ((*c.GetStack("web"))["name"], "web");
  EXPECT_EQ(*c.GetHistory("web"), (Json{{"stack", "web"}, {"history", Json::array()}}));
  EXPECT_EQ(*c.GetOperation("op-7"), server::OperationJson(*fake_.GetOperation("op-7")));
  EXPECT_EQ((*c.GetOperation("op-7"))["state"], "running");
  EXPECT_EQ(*c.Sync("web", std::nullopt, false), (Json{{"operation", "op-7"}}));
  EXPECT_EQ(fake_.last_revision, "");
  EXPECT_EQ(*c.Sync("web", "v2", true, std::chrono::seconds(3)), server::OperationJson(fake_.op));
  EXPECT_EQ(fake_.last_revision, "v2");
  EXPECT_EQ(fake_.waited_ms, 3000);
}

TEST_F(ClientTest, ErrorsKeepServerCodes) {
  Client c = Make();
  EXPECT_EQ(c.GetStack("db").status(),
            NotFound("GET " + base_ + "/api/v1/stacks/db: stack \"db\" not found"));
  EXPECT_EQ(Make("bad").ListStacks().status(),
            Unauthenticated("GET " + base_ + "/api/v1/stacks: missing or invalid bearer token"));
  fake_.op.state = OperationState::kFailed;
  fake_.op.error = Unavailable("engine down");
  EXPECT_EQ(c.Sync("web", std::nullopt, true, std::chrono::seconds(1)).status(),
            Unavailable("POST " + base_ + "/api/v1/stacks/web/sync?wait=true&timeout=1000ms: engine down"));
  fake_.op.state = OperationState::kRunning;
  fake_.op.error.reset();
  EXPECT_EQ(c.Sync("web", std::nullopt, true, std::chrono::seconds(1)).status(),
            DeadlineExceeded("POST " + base_ +
                             "/api/v1/stacks/web/sync?wait=true&timeout=1000ms: operation op-7 "
                             "is still running after the wait timeout"));
}

TEST_F(ClientTest, ServerDownIsUnavailable) {
  const std::string base = base_;
  server_->Stop();
  Status st = Make().ListStacks().status();
  EXPECT_EQ(st.code(), Code::kUnavailable) << st.ToString();
  EXPECT_EQ(st.message().rfind("GET " + base + "/api/v1/stacks: ", 0), 0u) << st.message();
}

}  // namespace
}  // namespace stackctl::apiclient
