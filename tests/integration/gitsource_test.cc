// GitSource against real Git servers on loopback, started by the test with
// tests/testbed/git-server.sh: git daemon (git://), git http-backend behind
// lighttpd + fcgiwrap with basic auth (http://) and TLS (https://), sshd
// (ssh://, key login checked against known_hosts), and file://.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "gitsource/git_source.h"
#include "integration/testbed.h"

namespace stackctl::gitsource {
namespace {

namespace fs = std::filesystem;
using ::stackctl::testing::RunCommand;

constexpr char kScript[] = STACKCTL_SOURCE_DIR "/tests/testbed/git-server.sh";

class GitServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gitsrv_test.XXXXXX";
    dir_ = mkdtemp(tmpl);
    Sh("git init -q --bare -b main " + dir_ + "/repos/infra.git");
    Sh("git init -q -b main " + dir_ + "/work");
    Git("config user.name Tester");
    Git("config user.email tester@example.com");
    Git("remote add origin " + dir_ + "/repos/infra.git");
  }
  void TearDown() override {
    for (const std::string& name : started_) Sh(std::string(kScript) + " stop " + name);
    fs::remove_all(dir_);
  }

  std::string Sh(const std::string& cmd) {
    std::string out;
    int rc = RunCommand(cmd, &out);
    EXPECT_EQ(rc, 0) << cmd << ": " << out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  std::string Git(const std::string& args) { return Sh("git -C " + dir_ + "/work " + args); }
  // Commits `files` and pushes main; returns the commit id.
  std::string Push(const std::map<std::string, std::string>& files, const std::string& msg) {
    for (const auto& [path, content] : files) {
      fs::create_directories(fs::path(dir_ + "/work/" + path).parent_path());
      std::ofstream(dir_ + "/work/" + path) << content;
    }
    Git("add -A");
    Git("commit -q -m '" + msg + "'");
    Git("push -q origin HEAD:main");
    return Git("rev-parse HEAD");
  }
  // Starts a server; returns its base URL.
  std::string Start(const std::string& kind, const std::string& name,
                    const std::string& auth = "") {
    started_.push_back(name);
    std::string out;
    std::string cmd = "GIT_SERVER_STATE_DIR=" + dir_ + "/state-" + name + " " + kScript + " " +
                      kind + " " + name + " " + dir_ + "/repos " + auth;
    EXPECT_EQ(RunCommand(cmd, &out, false), 0) << cmd << ": " << out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  void Stop(const std::string& name) { Sh(std::string(kScript) + " stop " + name); }
  std::string SecretFile(const std::string& name, const std::string& value) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << value << "\n";
    return path;
  }
  std::unique_ptr<GitSource> Make(const std::string& url, const std::string& branch = "main",
                                  Auth auth = {}) {
    RemoteSpec spec{"infra", url, RefKind::kBranch, branch, auth, ""};
    auto src = GitSource::Create(spec, dir_ + "/cache");
    EXPECT_TRUE(src.ok()) << src.status().ToString();
    return std::move(src).value();
  }

  // Clone, a new push seen by ResolveRemote, fetch, ChangedPaths, file reads.
  void Lifecycle(GitSource& src) {
    std::string c1 = Push({{"stacks/web/docker-compose.yml", "services: {web: {image: a}}\n"},
                           {"stacks/db/docker-compose.yml", "services: {db: {image: b}}\n"}},
                          "first");
    auto head = src.ResolveRemote();
    ASSERT_TRUE(head.ok()) << head.status().ToString();
    EXPECT_EQ(*head, c1);
    auto snap1 = src.Fetch(*head);
    ASSERT_TRUE(snap1.ok()) << snap1.status().ToString();
    EXPECT_EQ(snap1->info().summary, "first");
    EXPECT_EQ(*snap1->Files("stacks/web")->Read("docker-compose.yml"),
              "services: {web: {image: a}}\n");

    std::string c2 = Push({{"stacks/db/docker-compose.yml", "services: {db: {image: c}}\n"}},
                          "second");
    EXPECT_EQ(*src.ResolveRemote(), c2);
    auto snap2 = src.Fetch(c2);
    ASSERT_TRUE(snap2.ok()) << snap2.status().ToString();
    EXPECT_EQ(*snap2->Files("stacks/db")->Read("docker-compose.yml"),
              "services: {db: {image: c}}\n");
    EXPECT_EQ(*snap1->Files("stacks/db")->Read("docker-compose.yml"),
              "services: {db: {image: b}}\n");
    EXPECT_EQ(*src.ChangedPaths(c1, c2),
              std::vector<std::string>{"stacks/db/docker-compose.yml"});
  }

  // Stops server `name`: ls-remote and fetch of `url` are UNAVAILABLE naming
  // it, and `head`, fetched before, stays readable without the server.
  void ExpectServerDownKeepsCache(GitSource& src, const std::string& name, const std::string& url,
                                  const std::string& head) {
    Stop(name);
    Status down = src.ResolveRemote().status();
    EXPECT_EQ(down.code(), Code::kUnavailable) << down.ToString();
    EXPECT_EQ(down.message().rfind("git ls-remote " + url + ": ", 0), 0u) << down.message();
    down = src.Fetch("main").status();
    EXPECT_EQ(down.code(), Code::kUnavailable) << down.ToString();
    EXPECT_EQ(down.message().rfind("git fetch " + url + ": ", 0), 0u) << down.message();
    auto cached = src.Fetch(head);
    ASSERT_TRUE(cached.ok()) << cached.status().ToString();
    EXPECT_TRUE(cached->Files("stacks/web")->Exists("docker-compose.yml"));
    EXPECT_TRUE(cached->Files("stacks/db")->Exists("docker-compose.yml"));
  }

  std::string dir_;
  std::vector<std::string> started_;
};

TEST_F(GitServerTest, FileProtocol) {
  testing::Testbed tb;
  REQUIRE_TESTBED(tb);
  auto src = Make("file://" + dir_ + "/repos/infra.git");
  Lifecycle(*src);
}

TEST_F(GitServerTest, GitDaemon) {
  testing::Testbed tb;
  REQUIRE_TESTBED(tb);
  std::string base = Start("daemon", "gsd");
  ASSERT_EQ(base.rfind("git://127.0.0.1:", 0), 0u) << base;
  auto src = Make(base + "infra.git");
  Lifecycle(*src);
  std::string head = *src->ResolveRemote();

  auto missing = Make(base + "infra.git", "release");
  EXPECT_EQ(missing->ResolveRemote().status(),
            NotFound("git ls-remote " + base + "infra.git: branch \"release\" not found"));

  ExpectServerDownKeepsCache(*src, "gsd", base + "infra.git", head);
}

TEST_F(GitServerTest, HttpWithBasicAuth) {
  testing::Testbed tb;
  REQUIRE_TESTBED(tb);
  std::string base = Start("http", "gsh", "deploy s3cret-pw");
  ASSERT_EQ(base.rfind("http://127.0.0.1:", 0), 0u) << base;
  const std::string url = base + "infra.git";
  Auth good;
  good.username = "deploy";
  good.password_file = SecretFile("password", "s3cret-pw");
  auto src = Make(url, "main", good);
  Lifecycle(*src);

  // The same secret given as a token (sent as the basic-auth password).
  Auth token;
  token.username = "deploy";
  token.token_file = SecretFile("token", "s3cret-pw");
  EXPECT_TRUE(Make(url, "main", token)->ResolveRemote().ok());

  Auth bad = good;
  bad.password_file = SecretFile("wrong", "nope");
  Status st = Make(url, "main", bad)->ResolveRemote().status();
  EXPECT_EQ(st, Unauthenticated("git ls-remote " + url +
                                ": authentication failed: credentials rejected"));
  st = Make(url, "main", bad)->Fetch("").status();
  EXPECT_EQ(st, Unauthenticated("git fetch " + url +
                                ": authentication failed: credentials rejected"));
  st = Make(url)->ResolveRemote().status();
  EXPECT_EQ(st, Unauthenticated("git ls-remote " + url +
                                ": authentication required but no credentials are configured"));
  Auth unreadable = good;
  unreadable.password_file = dir_ + "/no-such-file";
  st = Make(url, "main", unreadable)->ResolveRemote().status();
  EXPECT_EQ(st, FailedPrecondition("git ls-remote " + url + ": " + dir_ +
                                   "/no-such-file: cannot read secret file"));
  st = Make(base + "other.git", "main", good)->ResolveRemote().status();
  EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();

  Stop("gsh");
  st = src->ResolveRemote().status();
  EXPECT_EQ(st.code(), Code::kUnavailable) << st.ToString();
  EXPECT_EQ(st.message().rfind("git ls-remote " + url + ": ", 0), 0u) << st.message();
}

// A Git server with a private CA: trusted through the repository's ca_file
// only, for the address in its certificate.
TEST_F(GitServerTest, HttpsWithPrivateCa) {
  testing::Testbed tb;
  REQUIRE_TESTBED(tb);
  const std::string d = dir_ + "/tls";
  std::string out;
  const std::string mk =
      "set -e; mkdir -p " + d + "; cd " + d + "; "
      "for ca in ca other; do openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=$ca "
      "-keyout $ca.key -out $ca.pem 2>/dev/null; done; "
      "openssl req -newkey rsa:2048 -nodes -subj /CN=git -keyout srv.key -out srv.csr 2>/dev/null; "
      "printf 'subjectAltName=IP:127.0.0.1\n' > san.ext; "
      "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
      "-extfile san.ext -out srv.pem 2>/dev/null; cat srv.pem srv.key > server.pem";
  ASSERT_EQ(RunCommand(mk, &out, false), 0) << out;
  std::string base = Start("https", "gss", d + "/server.pem");
  ASSERT_EQ(base.rfind("https://127.0.0.1:", 0), 0u) << base;
  const std::string url = base + "infra.git";
  auto make = [&](const std::string& ca_file) {
    RemoteSpec spec{"infra", url, RefKind::kBranch, "main", {}, ca_file};
    auto src = GitSource::Create(spec, dir_ + "/cache-" + std::to_string(std::hash<std::string>{}(ca_file)));
    EXPECT_TRUE(src.ok()) << src.status().ToString();
    return std::move(src).value();
  };

  auto trusted = make(d + "/ca.pem");
  Lifecycle(*trusted);

  // The system CAs do not know the private CA.
  Status st = make("")->ResolveRemote().status();
  EXPECT_EQ(st.code(), Code::kPermissionDenied) << st.ToString();
  EXPECT_EQ(st.message().rfind("git ls-remote " + url + ": ", 0), 0u) << st.message();
  // Nor does another CA.
  st = make(d + "/other.pem")->ResolveRemote().status();
  EXPECT_EQ(st, PermissionDenied("git ls-remote " + url + ": server certificate not trusted by " + d +
                                 "/other.pem: unable to get local issuer certificate"));
  st = make(d + "/missing.pem")->ResolveRemote().status();
  EXPECT_EQ(st, FailedPrecondition("git ls-remote " + url + ": cannot read CA file " + d + "/missing.pem"));
}

// An ssh:// remote served by sshd on loopback: key login, the server's host key
// checked against known_hosts, an encrypted key with its passphrase file.
TEST_F(GitServerTest, SshWithKeyAndKnownHosts) {
  testing::Testbed tb;
  REQUIRE_TESTBED(tb);
  const std::string d = dir_ + "/ssh";
  std::string out;
  ASSERT_EQ(RunCommand("set -e; mkdir -p " + d + "; cd " + d + "; "
                       "ssh-keygen -q -t ed25519 -N '' -C deploy -f deploy; "
                       "ssh-keygen -q -t ed25519 -N 'k3y-pass' -C locked -f locked; "
                       "ssh-keygen -q -t ed25519 -N '' -C stranger -f stranger; "
                       "cat deploy.pub locked.pub > allowed.pub",
                       &out, false),
            0)
      << out;
  std::string base = Start("ssh", "gssh", d + "/allowed.pub");
  ASSERT_EQ(base.rfind("ssh://", 0), 0u) << base;
  const std::string url = base + "infra.git";
  const std::string known_hosts = dir_ + "/state-gssh/known_hosts";
  Auth good;
  good.ssh_private_key_file = d + "/deploy";
  good.known_hosts_file = known_hosts;
  auto src = Make(url, "main", good);
  Lifecycle(*src);

  Auth locked = good;
  locked.ssh_private_key_file = d + "/locked";
  locked.ssh_passphrase_file = SecretFile("passphrase", "k3y-pass");
  EXPECT_EQ(*Make(url, "main", locked)->ResolveRemote(), *src->ResolveRemote());

  // A key the server does not know.
  Auth stranger = good;
  stranger.ssh_private_key_file = d + "/stranger";
  EXPECT_EQ(Make(url, "main", stranger)->ResolveRemote().status(),
            Unauthenticated("git ls-remote " + url + ": authentication failed: credentials rejected"));
  Auth missing_key = good;
  missing_key.ssh_private_key_file = d + "/no-such-key";
  EXPECT_EQ(Make(url, "main", missing_key)->ResolveRemote().status(),
            FailedPrecondition("git ls-remote " + url + ": " + d + "/no-such-key: cannot read file"));

  // The server's host key must be the one in known_hosts: another key for the
  // same address, or no line for it, is refused before any credential is sent.
  auto field = [](const std::string& path, int n) {  // the n-th (from 1) of a file
    std::ifstream in(path);
    std::string f;
    for (int i = 0; i < n; ++i) in >> f;
    return f;
  };
  Auth spoofed = good;  // "[127.0.0.1]:PORT" with the stranger's "ssh-ed25519 KEY"
  spoofed.known_hosts_file =
      SecretFile("known_hosts.other", field(known_hosts, 1) + " " + field(d + "/stranger.pub", 1) +
                                          " " + field(d + "/stranger.pub", 2));
  EXPECT_EQ(Make(url, "main", spoofed)->ResolveRemote().status(),
            PermissionDenied("git ls-remote " + url + ": host key of 127.0.0.1 does not match " +
                             spoofed.known_hosts_file));
  Auth unknown = good;
  unknown.known_hosts_file = SecretFile("known_hosts.empty", "# no hosts");
  EXPECT_EQ(Make(url, "main", unknown)->Fetch("").status(),
            PermissionDenied("git fetch " + url + ": host 127.0.0.1 is not in " +
                             unknown.known_hosts_file));

  ExpectServerDownKeepsCache(*src, "gssh", url, *src->ResolveRemote());
}

}  // namespace
}  // namespace stackctl::gitsource
