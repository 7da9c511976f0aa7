#include "integration/testbed.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace stackctl::testing {

bool LoadTestbed(Testbed* tb) {
  tb->dir = Env("STACKCTL_TESTBED");
  tb->docker_host = Env("STACKCTL_TEST_DOCKER_HOST");
  tb->docker_cli = Env("STACKCTL_TEST_DOCKER_CLI");
  tb->tls_host = Env("STACKCTL_TEST_TLS_HOST");
  tb->tls_dir = Env("STACKCTL_TEST_TLS_DIR");
  tb->registry = Env("STACKCTL_TEST_REGISTRY");
  tb->image = Env("STACKCTL_TEST_IMAGE");
  tb->image_digest = Env("STACKCTL_TEST_IMAGE_DIGEST");
  tb->bin_dir = Env("STACKCTL_BIN_DIR");
  if (tb->bin_dir.empty()) tb->bin_dir = STACKCTL_BINARY_DIR "/src/cli";
  return !tb->docker_host.empty();
}

std::string GitInRepo(const std::string& repo_dir, const std::string& args, const std::string& name,
                      const std::string& email) {
  std::string out;
  // Exported, so every git command of a chain ("init && add && commit") commits as them.
  EXPECT_EQ(RunCommand("cd " + repo_dir + " && export GIT_AUTHOR_NAME='" + name + "' GIT_AUTHOR_EMAIL='" + email +
                           "' GIT_COMMITTER_NAME='" + name + "' GIT_COMMITTER_EMAIL='" + email + "' && git " + args +
                           " && git rev-parse HEAD",
                       &out),
            0)
      << out;
  return out.substr(0, out.find('\n'));
}

std::string WriteSleepStack(const std::string& dir, const std::string& image, const std::string& token,
                            const SleepStack& s) {
  std::filesystem::create_directories(dir);
  WriteFile(dir + "/token.txt", token);
  std::ostringstream y;
  y << "version: \"3.8\"\nsecrets:\n  token: {file: ./token.txt}\nservices:\n";
  for (int i = 0; i < s.services; ++i) {
    y << "  s" << i << ":\n    image: " << image << "\n"
      << "    command: [\"" << (i == 0 ? s.first_command : "sleep") << "\", \"86400\"]\n"
      << "    environment: {GEN: \"" << s.gen << "\"}\n"
      << "    secrets: [token]\n"
      << "    stop_grace_period: 1s\n"
      << "    deploy:\n"
      << "      update_config: {parallelism: 1, delay: 1s, order: stop-first}\n"
      << s.extra_deploy;
  }
  WriteFile(dir + "/docker-compose.yml", y.str());
  return dir + "/docker-compose.yml";
}

int RunCommand(const std::string& cmd, std::string* out, bool merge_stderr) {
  std::string full = merge_stderr ? cmd + " 2>&1" : cmd;
  FILE* p = popen(full.c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf;
  out->clear();
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out->append(buf.data(), n);
  int rc = pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string Testbed::Docker(const std::string& args) const {
  std::string out;
  int rc = RunCommand(docker_cli + " -H " + docker_host + " " + args, &out, false);
  EXPECT_EQ(rc, 0) << "docker " << args << " failed: " << out;
  return out;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
}

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

std::string HmacSha256Hex(const std::string& key, const std::string& body) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), out, &len);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) {
    s += hex[out[i] >> 4];
    s += hex[out[i] & 15];
  }
  return s;
}

bool Stackctld::Start() {
  // Everything the child needs is prepared before fork (only async-signal-safe calls after).
  const std::string bin = tb_.bin_dir + "/stackctld";
  const std::string log = dir_ + "/stackctld.log";
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    if (chdir(dir_.c_str()) != 0) _exit(127);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) _exit(127);
    dup2(fd, 1);
    dup2(fd, 2);
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    execl(bin.c_str(), bin.c_str(), "-c", "stackctld.yml", static_cast<char*>(nullptr));
    _exit(127);
  }
  pid_ = pid;
  if (!tb_.dir.empty()) {
    WriteFile(tb_.dir + "/pids/stackctld-" + std::to_string(pid) + ".pid", std::to_string(pid));
  }
  return WaitFor([&] { return Http("GET", "/healthz", "").first == 200; }, 30);
}

void Stackctld::Stop(int sig) {
  if (pid_ <= 0) return;
  kill(pid_, sig);
  int status = 0;
  for (int i = 0; i < 600 && waitpid(pid_, &status, WNOHANG) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (i == 599) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
  }
  if (!tb_.dir.empty()) std::remove((tb_.dir + "/pids/stackctld-" + std::to_string(pid_) + ".pid").c_str());
  pid_ = 0;
}

std::pair<int, std::string> Stackctld::Http(const std::string& method, const std::string& path,
                                            const std::string& body, const std::string& headers) {
  const std::string n = std::to_string(seq_++);
  const std::string req = dir_ + "/req-" + n, resp = dir_ + "/resp-" + n;
  WriteFile(req, body);
  std::string out;
  RunCommand("curl -s -o " + resp + " -w '%{http_code}' -X " + method +
                 " -H 'Content-Type: application/json' " + headers + " --data-binary @" + req +
                 " http://127.0.0.1:" + std::to_string(port_) + path,
             &out, false);
  std::string text = ReadFile(resp);
  std::remove(req.c_str());
  std::remove(resp.c_str());
  return {out.empty() ? 0 : std::atoi(out.c_str()), text};
}

std::pair<int, std::string> Stackctld::Api(const std::string& method, const std::string& path,
                                           const std::string& body) {
  return Http(method, path, body, "-H 'Authorization: Bearer " + token_ + "'");
}

std::pair<int, std::string> Stackctld::GenericHook(const std::string& secret,
                                                   const std::string& body) {
  return Http("POST", "/hooks/generic", body,
              "-H 'X-Signature: sha256=" + HmacSha256Hex(secret, body) + "'");
}

nlohmann::json Stackctld::Stack(const std::string& name) {
  auto r = Api("GET", "/api/v1/stacks/" + name, "");
  if (r.first != 200) return nullptr;
  return nlohmann::json::parse(r.second, nullptr, false);
}

double Stackctld::Metric(const std::string& sample) {
  std::istringstream in(Http("GET", "/metrics", "").second);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > sample.size() && line.compare(0, sample.size(), sample) == 0 &&
        line[sample.size()] == ' ') {
      return std::atof(line.c_str() + sample.size() + 1);
    }
  }
  return -1;
}

std::vector<NotaryExpected> ReadNotaryExpected(const std::string& path) {
  std::vector<NotaryExpected> rows;
  std::stringstream in(ReadFile(path));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, '\t')) f.push_back(cell);
    if (f.size() < 4) {
      ADD_FAILURE() << path << ": short row: " << line;
      continue;
    }
    rows.push_back({f[0], f[1], f[2], f[3]});
  }
  return rows;
}

EngineProxy::EngineProxy(const Testbed& tb, const std::string& dir, const std::string& name)
    : sock_(dir + "/" + name + ".sock"), log_(dir + "/" + name + ".log"), faults_(dir + "/" + name + ".faults") {
  std::string target = tb.docker_host.substr(std::string("unix://").size());
  std::filesystem::create_directories(tb.dir + "/pids");
  std::string out;
  RunCommand("ENGINE_PROXY_TIMES=1 ENGINE_PROXY_FAULTS=" + faults_ + " setsid python3 " STACKCTL_SOURCE_DIR
             "/tests/tools/engine_proxy.py " + sock_ + " " + target + " " + log_ +
                 " >/dev/null 2>&1 </dev/null & echo $!",
             &out, false);
  pid_ = std::stoi(out);
  WriteFile(tb.dir + "/pids/" + name + "-" + std::to_string(getpid()) + ".pid", out);
  EXPECT_TRUE(WaitFor([&] { return access(sock_.c_str(), F_OK) == 0; }, 10));
}

EngineProxy::~EngineProxy() { kill(pid_, SIGTERM); }

void EngineProxy::Cut() { kill(pid_, SIGUSR1); }

std::vector<EngineProxy::Call> EngineProxy::CallsSince(size_t mark) const {
  std::istringstream in(ReadFile(log_).substr(mark));
  std::vector<Call> calls;
  Call c;
  std::string rest;
  while (in >> c.t >> c.method >> c.target) {
    std::getline(in, rest);
    calls.push_back(c);
  }
  return calls;
}

}  // namespace stackctl::testing
