#include "engineapi/docker_engine.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <curl/curl.h>

#include "common/http.h"
#include "common/log.h"

namespace stackctl::engine {
namespace {

bool HasPrefix(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool FileExists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

bool ParseApiVersion(std::string_view v, int* major, int* minor) {
  auto dot = v.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == v.size()) return false;
  int parts[2] = {0, 0};
  std::string_view halves[2] = {v.substr(0, dot), v.substr(dot + 1)};
  for (int i = 0; i < 2; ++i) {
    if (halves[i].size() > 4) return false;
    for (char c : halves[i]) {
      if (c < '0' || c > '9') return false;
      parts[i] = parts[i] * 10 + (c - '0');
    }
  }
  *major = parts[0];
  *minor = parts[1];
  return true;
}

// {"label":{"a=b":true}} — the engine's filter encoding.
std::string FiltersQuery(const Filters& filters) {
  Json j = Json::object();
  for (const auto& [key, values] : filters) {
    if (values.empty()) continue;
    for (const auto& v : values) j[key][v] = true;
  }
  if (j.empty()) return "";
  return "filters=" + PercentEncode(j.dump());
}

std::string WithQuery(std::string path, const std::vector<std::string>& params) {
  char sep = '?';
  for (const auto& p : params) {
    if (p.empty()) continue;
    path += sep;
    path += p;
    sep = '&';
  }
  return path;
}

std::string Plural(Kind kind) { return std::string(KindName(kind)) + "s"; }

std::string What(std::string_view verb, std::string_view kind, std::string_view ref) {
  std::string out = std::string(verb) + " " + std::string(kind);
  if (!ref.empty()) out += " " + std::string(ref);
  return out;
}

std::map<std::string, std::string> LabelsOf(const Json& j) {
  std::map<std::string, std::string> out;
  if (j.is_object()) {
    auto it = j.find("Labels");
    if (it != j.end() && it->is_object())
      for (const auto& [k, v] : it->items())
        if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

std::string Str(const Json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

const Json& Sub(const Json& j, const char* key) {
  static const Json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

uint64_t VersionIndex(const Json& j) {
  const Json& idx = Sub(Sub(j, "Version"), "Index");
  return idx.is_number_unsigned() ? idx.get<uint64_t>() : 0;
}

uint64_t U64(const Json& j) { return j.is_number_unsigned() ? j.get<uint64_t>() : 0; }

// The subtree under `key`, moved out of `j`; null when absent.
Json Take(Json& j, const char* key) {
  if (!j.is_object()) return Json();
  auto it = j.find(key);
  return it == j.end() ? Json() : std::move(*it);
}

Service ParseService(Json&& j) {
  Service s;
  s.id = Str(j, "ID");
  s.version = VersionIndex(j);
  s.created_at = Str(j, "CreatedAt");
  s.spec = Take(j, "Spec");
  s.name = Str(s.spec, "Name");
  s.labels = LabelsOf(s.spec);
  s.update_status = Take(j, "UpdateStatus");
  const Json& st = Sub(j, "ServiceStatus");
  s.status.running_tasks = U64(Sub(st, "RunningTasks"));
  s.status.desired_tasks = U64(Sub(st, "DesiredTasks"));
  return s;
}

Task ParseTask(Json&& j) {
  Task t;
  t.id = Str(j, "ID");
  t.service_id = Str(j, "ServiceID");
  t.node_id = Str(j, "NodeID");
  const Json& slot = Sub(j, "Slot");
  t.slot = slot.is_number_integer() ? slot.get<int64_t>() : 0;
  t.desired_state = Str(j, "DesiredState");
  const Json& st = Sub(j, "Status");
  t.state = Str(st, "State");
  t.message = Str(st, "Message");
  t.error = Str(st, "Err");
  t.timestamp = Str(st, "Timestamp");
  t.created_at = Str(j, "CreatedAt");
  t.updated_at = Str(j, "UpdatedAt");
  t.spec = PackedJson(Sub(j, "Spec"));
  return t;
}

Node ParseNode(Json&& j) {
  Node n;
  n.id = Str(j, "ID");
  const Json& spec = Sub(j, "Spec");
  n.hostname = Str(Sub(j, "Description"), "Hostname");
  n.role = Str(spec, "Role");
  n.availability = Str(spec, "Availability");
  n.state = Str(Sub(j, "Status"), "State");
  n.addr = Str(Sub(j, "Status"), "Addr");
  n.labels = LabelsOf(spec);
  n.raw = std::move(j);
  return n;
}

Object ParseObject(Kind kind, Json&& j) {
  Object o;
  if (kind == Kind::kNetwork) {
    o.id = Str(j, "Id");
    o.name = Str(j, "Name");
    o.labels = LabelsOf(j);
    o.created_at = Str(j, "Created");
    o.spec = j.is_object() ? std::move(j) : Json::object();
    for (const char* k : {"Id", "Created", "Containers", "Peers", "Services", "Status"})
      o.spec.erase(k);
  } else {
    o.id = Str(j, "ID");
    o.version = VersionIndex(j);
    o.created_at = Str(j, "CreatedAt");
    o.spec = Take(j, "Spec");
    o.name = Str(o.spec, "Name");
    o.labels = LabelsOf(o.spec);
  }
  return o;
}

// Converts a parsed body with `f` (which may move out of it), nlohmann
// exceptions in `f` becoming Statuses.
template <typename T, typename F>
Result<T> Convert(Json& j, std::string_view what, F&& f) {
  try {
    return f(j);
  } catch (const Json::exception& e) {
    return Internal(std::string(what) + ": unexpected engine response: " + e.what());
  }
}

void CurlGlobalInit() {
  // Once per process, thread safe (function-local static); never cleaned up.
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)rc;
}

}  // namespace

// ---------------------------------------------------------------- config ----

Environment ProcessEnvironment() {
  Environment env;
  for (const char* name :
       {"DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION", "HOME"}) {
    if (const char* v = std::getenv(name)) env[name] = v;
  }
  return env;
}

int CompareApiVersions(std::string_view a, std::string_view b) {
  int amaj = 0, amin = 0, bmaj = 0, bmin = 0;
  if (!ParseApiVersion(a, &amaj, &amin)) amaj = amin = 0;
  if (!ParseApiVersion(b, &bmaj, &bmin)) bmaj = bmin = 0;
  if (amaj != bmaj) return amaj < bmaj ? -1 : 1;
  if (amin != bmin) return amin < bmin ? -1 : 1;
  return 0;
}

Result<std::string> ChooseApiVersion(std::string_view engine_version, std::string_view host) {
  int major, minor;
  if (!ParseApiVersion(engine_version, &major, &minor))
    return FailedPrecondition("engine at " + std::string(host) +
                              " did not report a usable API version (API-Version: \"" +
                              std::string(engine_version) + "\")");
  if (CompareApiVersions(engine_version, kMinApiVersion) < 0)
    return FailedPrecondition("engine at " + std::string(host) + " speaks API " +
                              std::string(engine_version) + ", stackctl needs at least " +
                              kMinApiVersion + " (Docker 20.10)");
  if (CompareApiVersions(engine_version, kMaxApiVersion) > 0) return std::string(kMaxApiVersion);
  return std::to_string(major) + "." + std::to_string(minor);
}

Result<ClientConfig> ClientConfigFromEnvironment(const Environment& env,
                                                 const ConfigOverrides& o) {
  auto get = [&](const char* name) -> std::string {
    auto it = env.find(name);
    return it == env.end() ? "" : it->second;
  };
  ClientConfig c;
  std::string host = !o.host.empty() ? o.host : get("DOCKER_HOST");
  if (host.empty()) host = kDefaultDockerHost;
  bool tls = o.tls_verify || !get("DOCKER_TLS_VERIFY").empty() || !o.tls_cacert.empty() ||
             !o.tls_cert.empty() || !o.tls_key.empty();

  if (HasPrefix(host, "unix://")) {
    std::string path = host.substr(7);
    if (path.empty() || path[0] != '/')
      return InvalidArgument("docker host " + host + ": unix socket path must be absolute");
    c.host = host;
  } else if (HasPrefix(host, "tcp://") || host.find("://") == std::string::npos) {
    std::string hostport = HasPrefix(host, "tcp://") ? host.substr(6) : host;
    while (!hostport.empty() && hostport.back() == '/') hostport.pop_back();
    if (hostport.empty()) return InvalidArgument("docker host " + host + ": missing address");
    if (hostport.find('/') != std::string::npos)
      return InvalidArgument("docker host " + host + ": paths are not supported");
    bool bracketed = hostport[0] == '[';
    auto colon = hostport.rfind(':');
    bool has_port = colon != std::string::npos && (!bracketed || colon > hostport.find(']'));
    if (has_port) {
      std::string port = hostport.substr(colon + 1);
      if (port.empty() || port.size() > 5 ||
          port.find_first_not_of("0123456789") != std::string::npos)
        return InvalidArgument("docker host " + host + ": invalid port \"" + port + "\"");
    } else {
      hostport += tls ? ":2376" : ":2375";
    }
    c.host = "tcp://" + hostport;
    c.tls = tls;
  } else {
    return InvalidArgument("docker host " + host +
                           ": unsupported scheme (use unix:// or tcp://)");
  }

  if (c.tls) {
    std::string cert_path = get("DOCKER_CERT_PATH");
    if (cert_path.empty()) {
      std::string home = get("HOME");
      if (!home.empty()) cert_path = home + "/.docker";
    }
    auto pick = [&](const std::string& flag_value, const char* flag, const char* file,
                    std::string* out) -> Status {
      if (!flag_value.empty()) {
        if (!FileExists(flag_value))
          return InvalidArgument(std::string(flag) + " " + flag_value + ": no such file");
        *out = flag_value;
      } else if (!cert_path.empty() && FileExists(cert_path + "/" + file)) {
        *out = cert_path + "/" + file;
      }
      return OkStatus();
    };
    RETURN_IF_ERROR(pick(o.tls_cacert, "--tlscacert", "ca.pem", &c.ca_file));
    RETURN_IF_ERROR(pick(o.tls_cert, "--tlscert", "cert.pem", &c.cert_file));
    RETURN_IF_ERROR(pick(o.tls_key, "--tlskey", "key.pem", &c.key_file));
    if (c.cert_file.empty() != c.key_file.empty())
      return InvalidArgument(c.cert_file.empty()
                                 ? "TLS: client key " + c.key_file + " given without a certificate"
                                 : "TLS: client certificate " + c.cert_file +
                                       " given without a key");
  }

  std::string pinned = get("DOCKER_API_VERSION");
  if (!pinned.empty()) {
    int major, minor;
    if (!ParseApiVersion(pinned, &major, &minor))
      return InvalidArgument("DOCKER_API_VERSION " + pinned + ": not a version like 1.41");
    if (CompareApiVersions(pinned, kMinApiVersion) < 0 ||
        CompareApiVersions(pinned, kMaxApiVersion) > 0)
      return InvalidArgument("DOCKER_API_VERSION " + pinned + ": stackctl speaks " +
                             kMinApiVersion + " to " + kMaxApiVersion);
    c.api_version = pinned;
  }
  return c;
}

// ---------------------------------------------------------------- errors ----

Status MapEngineError(long http_status, std::string_view body, std::string_view what) {
  std::string message;
  auto parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && parsed.contains("message") && parsed["message"].is_string())
    message = parsed["message"].get<std::string>();
  else
    message = Trim(body);
  if (message.empty()) message = "HTTP " + std::to_string(http_status);
  std::string text = std::string(what) + ": " + message;

  if (message.find("update out of sequence") != std::string::npos) return Aborted(text);
  if (message.find("HTTP request to an HTTPS server") != std::string::npos)
    return FailedPrecondition(text + " (the engine expects TLS: use --tlsverify or DOCKER_TLS_VERIFY=1)");
  for (const char* p : {"only updates to Labels are allowed", "does not have a previous spec",
                        "is in use", "not a swarm manager", "not part of a swarm"}) {
    if (message.find(p) != std::string::npos) return FailedPrecondition(text);
  }
  switch (http_status) {
    case 400:
      return InvalidArgument(text);
    case 401:
      return Unauthenticated(text);
    case 403:
      return PermissionDenied(text);
    case 404:
      return NotFound(text);
    case 409:
      return AlreadyExists(text);
    case 501:
      return FailedPrecondition(text);
    default:
      break;
  }
  if (http_status >= 500) return Unavailable(text);
  return Status(Code::kUnknown, text + " (HTTP " + std::to_string(http_status) + ")");
}

Status MapTransportError(int curl_code, std::string_view detail, const ClientConfig& config,
                         std::string_view what, int64_t timeout_ms) {
  const std::string& host = config.host;
  std::string pre = std::string(what) + ": ";
  std::string d(detail);
  switch (static_cast<CURLcode>(curl_code)) {
    case CURLE_OPERATION_TIMEDOUT:
      return DeadlineExceeded(pre + "the Docker engine at " + host + " did not answer within " +
                              std::to_string(timeout_ms) + " ms (" + d + ")");
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
      return Unavailable(pre + "cannot connect to the Docker engine at " + host + ": " + d +
                         " (is the docker daemon running?)");
    case CURLE_PEER_FAILED_VERIFICATION:
      return Unavailable(pre + "TLS handshake with " + host +
                         " failed: certificate verify failed: the server certificate is not "
                         "trusted by CA " +
                         (config.ca_file.empty() ? "(system CAs)" : config.ca_file) + " (" + d +
                         ")");
    case CURLE_SSL_CERTPROBLEM:
      return Unavailable(pre + "TLS handshake with " + host + " failed: cannot use client certificate " +
                         config.cert_file + " / key " + config.key_file + " (" + d + ")");
    case CURLE_SSL_CACERT_BADFILE:
      return Unavailable(pre + "TLS handshake with " + host + " failed: cannot read CA file " +
                         config.ca_file + " (" + d + ")");
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
      if (config.tls) {
        std::string ld = Lower(d);
        std::string why;
        if (ld.find("certificate required") != std::string::npos ||
            (config.cert_file.empty() &&
             (ld.find("alert") != std::string::npos || ld.find("handshake") != std::string::npos)))
          why = "the engine requires a client certificate and none was configured";
        else if (ld.find("unknown ca") != std::string::npos ||
                 ld.find("bad certificate") != std::string::npos ||
                 ld.find("alert") != std::string::npos)
          why = "the engine rejected the client certificate " + config.cert_file +
                " (not signed by a CA it trusts?)";
        else
          why = "connection failed";
        return Unavailable(pre + "TLS handshake with " + host + " failed: " + why + " (" + d +
                           ")");
      }
      return Unavailable(pre + "connection to the Docker engine at " + host + " failed: " + d);
    default:
      return Unavailable(pre + "Docker engine at " + host + ": " +
                         curl_easy_strerror(static_cast<CURLcode>(curl_code)) +
                         (d.empty() ? "" : " (" + d + ")"));
  }
}

// ---------------------------------------------------------------- client ----

struct DockerEngine::Request {
  std::string method = "GET";
  std::string path;  // with query, already versioned
  const std::string* body = nullptr;
  std::string registry_auth;
  std::string what;
  int64_t timeout_ms = 0;  // 0 = none
  // Streaming: receives body bytes of a 2xx response; false stops the transfer.
  std::function<bool(std::string_view)> on_data;
  bool* stopped = nullptr;    // set when on_data stopped the transfer
  // Set when a streaming request hit timeout_ms; without it, that is an error.
  bool* timed_out = nullptr;
  // Streaming: the transfer stops (as if on_data had stopped it) once this is
  // true; curl looks at it at least once a second, also while no data comes.
  const std::atomic<bool>* cancel = nullptr;
  // A long-lived stream (events): it gets a connection of its own, opened for
  // it and closed after, so it never holds one that other calls wait for.
  bool long_lived = false;
};

// The connections kept open between calls. libcurl keeps a connection open in
// the easy handle that used it; idle handles wait here for the next call, so a
// call reuses a warm connection (no TCP connect, no TLS handshake) whenever one
// is idle, and opens a new one only when every kept one is busy. The share
// object gives every handle the same TLS session cache (a new connection
// resumes a session instead of a full handshake) and DNS cache.
// Why not CURL_LOCK_DATA_CONNECT (one connection cache in the share object):
// libcurl 7.88 (Debian 12) documents that sharing connections between threads
// is not supported, and the reconciler calls the engine from up to 8 threads.
class DockerEngine::Connections {
 public:
  Connections() : share_(curl_share_init()) {
    if (!share_) return;  // handles then work unshared
    curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, Lock);
    curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, Unlock);
    curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  }
  ~Connections() {
    for (CURL* h : idle_) curl_easy_cleanup(h);  // before the share they use
    if (share_) curl_share_cleanup(share_);
  }
  Connections(const Connections&) = delete;
  Connections& operator=(const Connections&) = delete;

  // A handle with no option set but the share: an idle one (its connection
  // still open) unless `fresh` or none is idle. nullptr when curl fails.
  CURL* Take(bool fresh) {
    CURL* h = nullptr;
    if (!fresh) {
      std::lock_guard<std::mutex> l(mu_);
      if (!idle_.empty()) {
        h = idle_.back();  // the most recently used: the least likely to be closed by the peer
        idle_.pop_back();
      }
    }
    if (!h) h = curl_easy_init();
    if (!h) return nullptr;
    if (share_) curl_easy_setopt(h, CURLOPT_SHARE, share_);
    return h;
  }
  // Back after a call: kept for the next one (with its connection, unless
  // curl closed it), or closed when `fresh` or enough are idle already.
  void Give(CURL* h, bool fresh) {
    // Forgets the options, which point at the call's buffers and callbacks;
    // the connection, the caches and the share stay.
    curl_easy_reset(h);
    if (!fresh) {
      std::lock_guard<std::mutex> l(mu_);
      if (idle_.size() < kMaxIdle) {
        idle_.push_back(h);
        return;
      }
    }
    curl_easy_cleanup(h);
  }

 private:
  // As many as the reconciler has writes in flight (deployer.cc).
  static constexpr size_t kMaxIdle = 8;
  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
    static_cast<Connections*>(self)->locks_[data].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* self) {
    static_cast<Connections*>(self)->locks_[data].unlock();
  }

  CURLSH* share_;
  std::mutex locks_[CURL_LOCK_DATA_LAST];  // one per kind of shared data
  std::mutex mu_;
  std::vector<CURL*> idle_;  // guarded by mu_
};

namespace {

struct Transfer {
  CURL* handle = nullptr;
  std::string* body = nullptr;
  std::map<std::string, std::string>* headers = nullptr;
  const std::function<bool(std::string_view)>* on_data = nullptr;
  const std::atomic<bool>* cancel = nullptr;
  bool stopped = false;
};

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->cancel && *t->cancel) {
    t->stopped = true;
    return 1;  // aborts the transfer (CURLE_ABORTED_BY_CALLBACK)
  }
  return 0;
}

size_t OnWrite(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  if (t->on_data && *t->on_data) {
    long status = 0;
    curl_easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
      if (!(*t->on_data)(std::string_view(data, len))) {
        t->stopped = true;
        return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
      }
      return len;
    }
  }
  t->body->append(data, len);
  return len;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  std::string_view line(data, len);
  auto colon = line.find(':');
  if (colon != std::string_view::npos)
    (*t->headers)[Lower(std::string(line.substr(0, colon)))] = Trim(line.substr(colon + 1));
  return len;
}

}  // namespace

Result<std::unique_ptr<DockerEngine>> DockerEngine::Create(ClientConfig config) {
  CurlGlobalInit();
  if (!HasPrefix(config.host, "unix://") && !HasPrefix(config.host, "tcp://"))
    return InvalidArgument("docker host " + config.host + ": unsupported scheme");
  if (config.tls && !HasPrefix(config.host, "tcp://"))
    return InvalidArgument("docker host " + config.host + ": TLS needs a tcp:// host");
  return std::unique_ptr<DockerEngine>(new DockerEngine(std::move(config)));
}

DockerEngine::DockerEngine(ClientConfig config)
    : config_(std::move(config)), connections_(std::make_unique<Connections>()) {
  api_version_ = config_.api_version;
}

DockerEngine::~DockerEngine() = default;

Result<DockerEngine::Response> DockerEngine::Send(const Request& req) {
  CURL* c = connections_->Take(req.long_lived);
  if (!c) return Internal(req.what + ": curl_easy_init failed");
  struct Release {
    Connections& pool;
    CURL* handle;
    bool fresh;
    ~Release() { pool.Give(handle, fresh); }
  } release{*connections_, c, req.long_lived};
  Response resp;
  Transfer t;
  t.handle = c;
  t.body = &resp.body;
  t.headers = &resp.headers;
  t.on_data = req.on_data ? &req.on_data : nullptr;
  t.cancel = req.cancel;
  char errbuf[CURL_ERROR_SIZE] = {0};

  std::string url;
  if (HasPrefix(config_.host, "unix://")) {
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, config_.host.c_str() + 7);
    url = "http://localhost" + req.path;
  } else {
    url = (config_.tls ? "https://" : "http://") + config_.host.substr(6) + req.path;
  }
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config_.connect_timeout_ms));
  if (req.timeout_ms > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout_ms));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnWrite);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  if (req.on_data && req.timeout_ms == 0 && HasPrefix(config_.host, "tcp://")) {
    // A stream with no timeout over TCP: keepalive probes notice a peer that
    // vanished without closing (a manager's host lost), instead of waiting forever.
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 10L);
  }
  if (req.cancel) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  }
  curl_easy_setopt(c, CURLOPT_USERAGENT, "stackctl/" STACKCTL_VERSION);
  if (config_.tls) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!config_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, config_.ca_file.c_str());
    if (!config_.cert_file.empty()) {
      curl_easy_setopt(c, CURLOPT_SSLCERT, config_.cert_file.c_str());
      curl_easy_setopt(c, CURLOPT_SSLKEY, config_.key_file.c_str());
    }
  }

  struct curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Expect:");
  if (req.body) headers = curl_slist_append(headers, "Content-Type: application/json");
  std::string auth;
  if (!req.registry_auth.empty()) {
    auth = "X-Registry-Auth: " + req.registry_auth;
    headers = curl_slist_append(headers, auth.c_str());
  }
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_guard(headers, curl_slist_free_all);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

  static const std::string kEmpty;
  const std::string& body = req.body ? *req.body : kEmpty;  // outlives curl_easy_perform
  if (req.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  } else if (req.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }

  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  if (rc != CURLE_OK) {
    if (t.stopped) {
      if (req.stopped) *req.stopped = true;
      return resp;
    }
    if (rc == CURLE_OPERATION_TIMEDOUT && req.timed_out && resp.status >= 200 && resp.status < 300) {
      *req.timed_out = true;  // a stream that ran for as long as it was asked to
      return resp;
    }
    std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_COULDNT_CONNECT) {
      long os_errno = 0;
      curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
      if (os_errno != 0) detail = std::strerror(static_cast<int>(os_errno));
    }
    return MapTransportError(rc, detail, config_, req.what,
                             req.timeout_ms > 0 ? req.timeout_ms : config_.connect_timeout_ms);
  }
  return resp;
}

Result<std::string> DockerEngine::ApiVersion() { return NegotiatedVersion("ping"); }

Result<std::string> DockerEngine::NegotiatedVersion(std::string_view what) {
  std::lock_guard<std::mutex> l(mu_);
  if (!api_version_.empty()) return api_version_;
  Request req;
  req.path = "/_ping";
  req.what = std::string(what);
  req.timeout_ms = config_.request_timeout_ms;
  ASSIGN_OR_RETURN(Response resp, Send(req));
  if (resp.status != 200) return MapEngineError(resp.status, resp.body, what);
  RETURN_IF_ERROR(AdoptVersionLocked(resp, what));
  return api_version_;
}

Status DockerEngine::AdoptVersionLocked(const Response& ping, std::string_view what) {
  auto it = ping.headers.find("api-version");
  auto chosen = ChooseApiVersion(it == ping.headers.end() ? "" : it->second, config_.host);
  if (!chosen.ok()) return chosen.status().WithPrefix(what);
  api_version_ = *chosen;
  log::Get("engine")->debug("engine at {} speaks API {}, using {}", config_.host,
                            it == ping.headers.end() ? "" : it->second, api_version_);
  return OkStatus();
}

Result<DockerEngine::Request> DockerEngine::VersionedRequest(std::string_view method, const std::string& path,
                                                            std::string_view what) {
  ASSIGN_OR_RETURN(std::string version, NegotiatedVersion(what));
  Request req;
  req.method = std::string(method);
  req.path = "/v" + version + path;
  req.what = std::string(what);
  req.timeout_ms = config_.request_timeout_ms;
  return req;
}

Result<std::string> DockerEngine::CallForText(std::string_view method, const std::string& path,
                                              const Json* body, std::string_view what,
                                              const std::string& registry_auth) {
  ASSIGN_OR_RETURN(Request req, VersionedRequest(method, path, what));
  std::string body_text;
  if (body) {
    body_text = body->dump();
    req.body = &body_text;
  }
  req.registry_auth = registry_auth;
  ASSIGN_OR_RETURN(Response resp, Send(req));
  if (resp.status >= 400 || resp.status < 200) return MapEngineError(resp.status, resp.body, what);
  return std::move(resp.body);
}

Result<Json> DockerEngine::Call(std::string_view method, const std::string& path, const Json* body,
                                std::string_view what, const std::string& registry_auth) {
  ASSIGN_OR_RETURN(std::string text, CallForText(method, path, body, what, registry_auth));
  if (Trim(text).empty()) return Json();
  return ParseJson(text, std::string(what) + " response");
}

Status DockerEngine::VisitList(const std::string& path, const std::string& what,
                               const std::function<void(Json&&)>& each) {
  ASSIGN_OR_RETURN(Request req, VersionedRequest("GET", path, what));
  // Read as it arrives: the response of a 1,000-service list is megabytes.
  JsonArrayStream list(what + ": unexpected engine response", each);
  req.on_data = [&](std::string_view data) { return list.Feed(data); };
  bool stopped = false;
  req.stopped = &stopped;
  ASSIGN_OR_RETURN(Response resp, Send(req));
  if (resp.status >= 400 || resp.status < 200) return MapEngineError(resp.status, resp.body, what);
  Status st = stopped ? list.status() : list.Finish();
  return st.ok() ? st : Internal(st.message());
}

template <typename T>
Result<std::vector<T>> DockerEngine::List(const std::string& path, const std::string& what,
                                          const std::function<T(Json&&)>& parse) {
  std::vector<T> out;
  RETURN_IF_ERROR(VisitList(path, what, [&](Json&& element) { out.push_back(parse(std::move(element))); }));
  return out;
}

Status DockerEngine::Ping() {
  // Forces a fresh /_ping even when the version is known or pinned.
  Request req;
  req.path = "/_ping";
  req.what = "ping";
  req.timeout_ms = config_.request_timeout_ms;
  ASSIGN_OR_RETURN(Response resp, Send(req));
  if (resp.status != 200) return MapEngineError(resp.status, resp.body, "ping");
  // The answer carries the engine's API version: negotiate from it rather
  // than with a second /_ping (once per process).
  std::lock_guard<std::mutex> l(mu_);
  return api_version_.empty() ? AdoptVersionLocked(resp, "ping") : OkStatus();
}

Result<VersionInfo> DockerEngine::Version() {
  ASSIGN_OR_RETURN(Json j, Call("GET", "/version", nullptr, "version"));
  VersionInfo v;
  v.version = Str(j, "Version");
  v.api_version = Str(j, "ApiVersion");
  v.min_api_version = Str(j, "MinAPIVersion");
  v.os = Str(j, "Os");
  v.arch = Str(j, "Arch");
  return v;
}

Result<SwarmInfo> DockerEngine::Info() {
  ASSIGN_OR_RETURN(Json j, Call("GET", "/info", nullptr, "info"));
  const Json& swarm = Sub(j, "Swarm");
  SwarmInfo s;
  s.node_id = Str(swarm, "NodeID");
  s.local_node_state = Str(swarm, "LocalNodeState");
  s.control_available = Sub(swarm, "ControlAvailable").is_boolean() &&
                        Sub(swarm, "ControlAvailable").get<bool>();
  s.cluster_id = Str(Sub(swarm, "Cluster"), "ID");
  return s;
}

Status DockerEngine::VisitServices(const Filters& filters, bool with_status,
                                   const std::function<void(Service&&)>& visit) {
  return VisitList(WithQuery("/services", {FiltersQuery(filters), with_status ? "status=true" : ""}),
                   "list services", [&](Json&& element) { visit(ParseService(std::move(element))); });
}

Result<Service> DockerEngine::InspectService(const std::string& ref) {
  std::string what = What("inspect", "service", ref);
  ASSIGN_OR_RETURN(Json j, Call("GET", "/services/" + PercentEncode(ref) + "?insertDefaults=false",
                                nullptr, what));
  return Convert<Service>(j, what, [](Json& j) { return ParseService(std::move(j)); });
}

Result<std::string> DockerEngine::CreateService(const Json& spec,
                                                const std::string& registry_auth) {
  std::string what = What("create", "service", Str(spec, "Name"));
  ASSIGN_OR_RETURN(Json j, Call("POST", "/services/create", &spec, what, registry_auth));
  std::string id = Str(j, "ID");
  if (id.empty()) return Internal(what + ": engine response has no ID: " + j.dump());
  return id;
}

Result<std::vector<std::string>> DockerEngine::UpdateService(const std::string& id,
                                                             uint64_t version, const Json& spec,
                                                             const std::string& registry_auth) {
  std::string what = What("update", "service", id);
  ASSIGN_OR_RETURN(
      Json j,
      Call("POST", "/services/" + PercentEncode(id) + "/update?version=" + std::to_string(version),
           &spec, what, registry_auth));
  std::vector<std::string> warnings;
  const Json& w = Sub(j, "Warnings");
  if (w.is_array())
    for (const auto& s : w)
      if (s.is_string()) warnings.push_back(s.get<std::string>());
  return warnings;
}

Status DockerEngine::RollbackService(const std::string& id, uint64_t version) {
  std::string what = What("rollback", "service", id);
  auto current = InspectService(id);
  if (!current.ok()) return Status(current.status().code(), what + ": " + current.status().message());
  ASSIGN_OR_RETURN(Json j, Call("POST",
                                "/services/" + PercentEncode(id) + "/update?version=" +
                                    std::to_string(version) + "&rollback=previous",
                                &current->spec, what));
  return OkStatus();
}

Status DockerEngine::RemoveService(const std::string& id) {
  std::string what = What("remove", "service", id);
  ASSIGN_OR_RETURN(Json j, Call("DELETE", "/services/" + PercentEncode(id), nullptr, what));
  return OkStatus();
}

Result<std::vector<Task>> DockerEngine::ListTasks(const Filters& filters) {
  return List<Task>(WithQuery("/tasks", {FiltersQuery(filters)}), "list tasks", ParseTask);
}

Result<std::vector<Node>> DockerEngine::ListNodes(const Filters& filters) {
  return List<Node>(WithQuery("/nodes", {FiltersQuery(filters)}), "list nodes", ParseNode);
}

Result<std::vector<Object>> DockerEngine::ListObjects(Kind kind, const Filters& filters) {
  return List<Object>(WithQuery("/" + Plural(kind), {FiltersQuery(filters)}), "list " + Plural(kind),
                      [kind](Json&& j) { return ParseObject(kind, std::move(j)); });
}

Result<Object> DockerEngine::InspectObject(Kind kind, const std::string& ref) {
  std::string what = What("inspect", KindName(kind), ref);
  ASSIGN_OR_RETURN(Json j,
                   Call("GET", "/" + Plural(kind) + "/" + PercentEncode(ref), nullptr, what));
  return Convert<Object>(j, what, [kind](Json& j) { return ParseObject(kind, std::move(j)); });
}

Result<std::string> DockerEngine::CreateObject(Kind kind, const Json& spec) {
  std::string what = What("create", KindName(kind), Str(spec, "Name"));
  Json body = spec;
  if (kind == Kind::kNetwork && body.is_object() && !body.contains("CheckDuplicate"))
    body["CheckDuplicate"] = true;
  ASSIGN_OR_RETURN(Json j, Call("POST", "/" + Plural(kind) + "/create", &body, what));
  std::string id = kind == Kind::kNetwork ? Str(j, "Id") : Str(j, "ID");
  if (id.empty()) return Internal(what + ": engine response has no ID: " + j.dump());
  return id;
}

Status DockerEngine::UpdateObject(Kind kind, const std::string& id, uint64_t version,
                                  const Json& spec) {
  std::string what = What("update", KindName(kind), id);
  if (kind == Kind::kNetwork) return FailedPrecondition(what + ": networks cannot be updated");
  ASSIGN_OR_RETURN(Json j, Call("POST",
                                "/" + Plural(kind) + "/" + PercentEncode(id) +
                                    "/update?version=" + std::to_string(version),
                                &spec, what));
  return OkStatus();
}

Status DockerEngine::RemoveObject(Kind kind, const std::string& id) {
  std::string what = What("remove", KindName(kind), id);
  ASSIGN_OR_RETURN(Json j,
                   Call("DELETE", "/" + Plural(kind) + "/" + PercentEncode(id), nullptr, what));
  return OkStatus();
}

Result<std::string> DockerEngine::DistributionDigest(const std::string& image,
                                                     const std::string& registry_auth) {
  std::string what = "distribution " + image;
  ASSIGN_OR_RETURN(Json j, Call("GET", "/distribution/" + PercentEncode(image, "/:@") + "/json",
                                nullptr, what, registry_auth));
  std::string digest = Str(Sub(j, "Descriptor"), "digest");
  if (digest.empty()) return Internal(what + ": engine response has no Descriptor.digest");
  return digest;
}

Status DockerEngine::StreamEvents(const Filters& filters, int64_t since_nano,
                                  const std::function<bool(const Json&)>& on_event,
                                  int64_t timeout_ms, const std::atomic<bool>* cancel) {
  const std::string what = "events";
  // dockerd reads `since` as "<seconds>.<nanoseconds>" (docker's timetypes).
  std::string since;
  if (since_nano > 0) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "since=%lld.%09lld", static_cast<long long>(since_nano / 1000000000LL),
                  static_cast<long long>(since_nano % 1000000000LL));
    since = buf;
  }
  ASSIGN_OR_RETURN(Request req,
                   VersionedRequest("GET", WithQuery("/events", {FiltersQuery(filters), since}), what));
  req.timeout_ms = timeout_ms;  // the stream's own, not the request timeout
  req.cancel = cancel;
  req.long_lived = true;
  std::string pending;
  Status parse_error;
  req.on_data = [&](std::string_view data) {
    pending.append(data);
    size_t start = 0;
    for (;;) {
      size_t nl = pending.find('\n', start);
      if (nl == std::string::npos) break;
      std::string_view line(pending.data() + start, nl - start);
      start = nl + 1;
      if (Trim(line).empty()) continue;
      auto event = ParseJson(line, "events stream");
      if (!event.ok()) {
        parse_error = event.status();
        return false;
      }
      if (!on_event(*event)) {
        pending.erase(0, start);
        return false;
      }
    }
    pending.erase(0, start);
    return true;
  };
  bool stopped = false, timed_out = false;
  req.stopped = &stopped;
  req.timed_out = &timed_out;
  ASSIGN_OR_RETURN(Response resp, Send(req));
  if (!parse_error.ok()) return parse_error;
  if (stopped || timed_out) return OkStatus();
  if (resp.status >= 400) return MapEngineError(resp.status, resp.body, what);
  return Unavailable(what + ": the Docker engine at " + config_.host + " closed the stream");
}

}  // namespace stackctl::engine
