// DockerEngine: the real Engine, a Docker Engine API client over libcurl.
//
// Transports: `unix:///path/docker.sock`, `tcp://host:port` plain, and
// `tcp://host:port` with TLS (server always verified against the configured
// CA; client certificate and key sent when configured). Configuration follows
// the docker CLI (ClientConfigFromEnvironment): DOCKER_HOST, DOCKER_TLS_VERIFY,
// DOCKER_CERT_PATH (default ~/.docker: ca.pem, cert.pem, key.pem),
// DOCKER_API_VERSION, overridden by --host/--tlsverify/--tlscacert/--tlscert/
// --tlskey.
//
// API version: on first use the client GETs /_ping and speaks
// min(engine's API-Version header, kMaxApiVersion); engines below
// kMinApiVersion are refused (kFailedPrecondition). DOCKER_API_VERSION pins the
// version and skips negotiation. Every request path is versioned (/v1.41/...).
//
// Object.spec per kind:
//   services          Spec as stored (inspected with insertDefaults=false)
//   secrets, configs  Spec (the engine never returns secret Data; configs keep it)
//   networks          the inspect body minus runtime fields (Id, Created,
//                     Containers, Peers, Services, Status): Name, Driver, Scope,
//                     EnableIPv6, IPAM, Internal, Attachable, Ingress,
//                     ConfigFrom, ConfigOnly, Options, Labels. Note that the
//                     engine adds allocated values there (IPAM.Config subnets,
//                     Options "com.docker.network.driver.overlay.vxlanid_list"),
//                     so compare only the keys you set. Networks have no version (0).
// CreateObject(kNetwork) sends CheckDuplicate=true unless the spec says otherwise.
// RollbackService inspects the service and posts its current Spec with
// rollback=previous (the engine refuses an empty body), using the caller's version.
//
// Errors: "<verb> <kind> <ref>: <engine message>", codes as in engine.h; see
// MapEngineError / MapTransportError below (exposed for unit tests).
//
// Connections: kept open and reused across calls and threads. A call takes an
// idle curl easy handle (libcurl keeps the handle's connection open) or makes
// a new one; up to 8 idle handles are kept. All handles share one TLS session
// cache and DNS cache (a curl share object), so a new connection to a TLS
// engine resumes a session. The events stream opens a connection of its own
// and closes it when it ends: it never holds a kept one. See
// docs/benchmarks.md ("Engine connections") for what this saves.
//
// Thread safety: every method is safe to call concurrently; a curl easy handle
// is used by one call at a time, the idle list and the share object are
// locked. curl_global_init runs once, from a function-local
// static initialised by the first DockerEngine::Create (C++11 guarantees that
// initialisation is thread safe); it is never cleaned up (process lifetime).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engineapi/engine.h"

namespace stackctl::engine {

inline constexpr char kMinApiVersion[] = "1.41";
inline constexpr char kMaxApiVersion[] = "1.43";
inline constexpr char kDefaultDockerHost[] = "unix:///var/run/docker.sock";

struct ClientConfig {
  // Normalized: "unix:///abs/path" or "tcp://host:port".
  std::string host = kDefaultDockerHost;
  bool tls = false;  // tcp only; the server certificate is always verified
  std::string ca_file;    // PEM CA bundle; "" = system CAs
  std::string cert_file;  // client certificate (PEM); "" = none
  std::string key_file;   // client key (PEM)
  std::string api_version;  // pinned ("1.41"); "" = negotiate
  int64_t connect_timeout_ms = 5000;
  int64_t request_timeout_ms = 60000;  // not applied to the events stream
};

// Command-line overrides (cli::GlobalOptions is converted into this).
// Every member has an initializer, so designated initializers may name only
// the flags given (GCC warns of a member without one left out).
struct ConfigOverrides {
  std::string host{};      // --host
  bool tls_verify = false; // --tlsverify
  std::string tls_cacert{}, tls_cert{}, tls_key{};
};

// The environment the config is read from: variable -> value (unset = absent).
using Environment = std::map<std::string, std::string>;
// DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_API_VERSION and HOME
// from the process environment.
Environment ProcessEnvironment();

// Builds the config like the docker CLI: flags win over the environment.
// TLS is on when --tlsverify or DOCKER_TLS_VERIFY is set (non-empty) or any
// --tlscacert/--tlscert/--tlskey is given, and only for tcp:// hosts. Default
// certificate files that do not exist are skipped (as docker does); files
// given explicitly must exist. A tcp host without port gets 2375 (2376 with TLS).
// Errors (kInvalidArgument): unsupported scheme, bad API version, missing file,
// cert without key.
Result<ClientConfig> ClientConfigFromEnvironment(const Environment& env,
                                                 const ConfigOverrides& overrides);

// "1.43" > "1.41"; malformed versions compare as 0.0.
int CompareApiVersions(std::string_view a, std::string_view b);
// The version to speak with an engine reporting `engine_version` (from
// /_ping's API-Version header): min(engine, kMaxApiVersion); kFailedPrecondition
// below kMinApiVersion.
Result<std::string> ChooseApiVersion(std::string_view engine_version, std::string_view host);

// Maps an engine error response to a Status: `what` is the message prefix
// ("update service web"), the engine's "message" field is kept.
//   404 NotFound, 409 AlreadyExists, 400 InvalidArgument, 401 Unauthenticated,
//   403 PermissionDenied, other 5xx Unavailable; whatever the status:
//   "update out of sequence" -> Aborted; "only updates to Labels are allowed",
//   "does not have a previous spec", "is in use", "not a swarm manager",
//   "not part of a swarm", 501 Not Implemented -> FailedPrecondition.
Status MapEngineError(long http_status, std::string_view body, std::string_view what);
// Maps a libcurl failure (CURLcode) to a Status naming the host:
// timeout -> DeadlineExceeded; refused/no socket/TLS/other -> Unavailable.
Status MapTransportError(int curl_code, std::string_view curl_detail, const ClientConfig& config,
                         std::string_view what, int64_t timeout_ms);

class DockerEngine : public Engine {
 public:
  // Validates the config; does not connect (the first call does).
  static Result<std::unique_ptr<DockerEngine>> Create(ClientConfig config);
  ~DockerEngine() override;

  const ClientConfig& config() const { return config_; }
  // The API version in use, negotiating first when needed.
  Result<std::string> ApiVersion();

  Status Ping() override;
  Result<VersionInfo> Version() override;
  Result<SwarmInfo> Info() override;

  Status VisitServices(const Filters& filters, bool with_status,
                       const std::function<void(Service&&)>& visit) override;
  Result<Service> InspectService(const std::string& id_or_name) override;
  Result<std::string> CreateService(const Json& spec, const std::string& registry_auth) override;
  Result<std::vector<std::string>> UpdateService(const std::string& id, uint64_t version,
                                                 const Json& spec,
                                                 const std::string& registry_auth) override;
  Status RollbackService(const std::string& id, uint64_t version) override;
  Status RemoveService(const std::string& id) override;

  Result<std::vector<Task>> ListTasks(const Filters& filters) override;
  Result<std::vector<Node>> ListNodes(const Filters& filters) override;

  Result<std::vector<Object>> ListObjects(Kind kind, const Filters& filters) override;
  Result<Object> InspectObject(Kind kind, const std::string& id_or_name) override;
  Result<std::string> CreateObject(Kind kind, const Json& spec) override;
  Status UpdateObject(Kind kind, const std::string& id, uint64_t version,
                      const Json& spec) override;
  Status RemoveObject(Kind kind, const std::string& id) override;

  Result<std::string> DistributionDigest(const std::string& image,
                                         const std::string& registry_auth) override;
  Status StreamEvents(const Filters& filters, int64_t since_nano,
                      const std::function<bool(const Json&)>& on_event, int64_t timeout_ms,
                      const std::atomic<bool>* cancel = nullptr) override;

 private:
  struct Request;
  struct Response {
    long status = 0;
    std::string body;
    std::map<std::string, std::string> headers;  // lower-case names
  };
  explicit DockerEngine(ClientConfig config);

  // ApiVersion() with `what` naming the operation in errors.
  Result<std::string> NegotiatedVersion(std::string_view what);
  // Chooses the API version from a /_ping answer; mu_ held.
  Status AdoptVersionLocked(const Response& ping, std::string_view what);
  // A request for `path` under the negotiated API version (negotiating first
  // when needed), with the request timeout.
  Result<Request> VersionedRequest(std::string_view method, const std::string& path, std::string_view what);
  // Sends one request; transport failures become Statuses, HTTP errors do not.
  Result<Response> Send(const Request& req);
  // Versioned call: negotiates, sends, maps HTTP >= 400 to a Status; the response body.
  Result<std::string> CallForText(std::string_view method, const std::string& path,
                                  const Json* body, std::string_view what,
                                  const std::string& registry_auth = "");
  // CallForText, then the body parsed as JSON (null when empty).
  Result<Json> Call(std::string_view method, const std::string& path, const Json* body,
                    std::string_view what, const std::string& registry_auth = "");
  // GET of a list endpoint, each element handed to `each` as soon as it has
  // arrived (JsonArrayStream): the whole list never exists as text or DOM.
  Status VisitList(const std::string& path, const std::string& what,
                   const std::function<void(Json&&)>& each);
  // VisitList with each element converted by `parse` into a vector.
  template <typename T>
  Result<std::vector<T>> List(const std::string& path, const std::string& what,
                              const std::function<T(Json&&)>& parse);

  class Connections;  // the kept connections (docker_engine.cc)

  ClientConfig config_;
  std::unique_ptr<Connections> connections_;
  std::mutex mu_;
  std::string api_version_;  // guarded by mu_; "" until negotiated
};

}  // namespace stackctl::engine
