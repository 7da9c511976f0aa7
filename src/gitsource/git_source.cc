#include "gitsource/git_source.h"

#include <git2.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "common/crypto.h"
#include "common/log.h"
#include "common/secret_file.h"
#include "gitsource/known_hosts.h"
#include "gitsource/url.h"

namespace stackctl::gitsource {
namespace {

namespace fs = std::filesystem;

// Per-operation state shared with the libgit2 callbacks.
struct CallbackState {
  const RemoteSpec* spec = nullptr;
  int credential_calls = 0;
  bool auth_failed = false;
  std::string auth_detail;
  bool host_rejected = false;
  std::string host_detail;
  Status file_error;  // a credential or known_hosts file could not be read
};

Result<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return FailedPrecondition(path + ": cannot read file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Host and port of an ssh URL (ssh://[user@]host[:port]/path or user@host:path).
void SshHostPort(const std::string& url, std::string* host, int* port) {
  *port = 22;
  std::string authority;
  size_t p = url.find("://");
  if (p != std::string::npos) {
    std::string rest = url.substr(p + 3);
    authority = rest.substr(0, rest.find('/'));
  } else {
    authority = url.substr(0, url.find(':'));
  }
  size_t at = authority.rfind('@');
  if (at != std::string::npos) authority = authority.substr(at + 1);
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    *host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      *port = std::atoi(authority.c_str() + close + 2);
    }
    return;
  }
  size_t colon = authority.find(':');
  if (p != std::string::npos && colon != std::string::npos) {
    *port = std::atoi(authority.c_str() + colon + 1);
    authority.resize(colon);
  }
  *host = authority;
}

int CredentialsCallback(git_credential** out, const char* url, const char* username_from_url,
                        unsigned int allowed, void* payload) {
  auto* st = static_cast<CallbackState*>(payload);
  const Auth& a = st->spec->auth;
  std::string ssh_user = !a.username.empty()                               ? a.username
                         : (username_from_url && *username_from_url) ? username_from_url
                                                                             : "git";
  if (allowed & GIT_CREDENTIAL_USERNAME) {
    return git_credential_username_new(out, ssh_user.c_str());
  }
  if (++st->credential_calls > 1) {
    st->auth_failed = true;
    st->auth_detail = "authentication failed: credentials rejected";
    git_error_set_str(GIT_ERROR_NET, "authentication failed");
    return GIT_EAUTH;
  }
  if ((allowed & GIT_CREDENTIAL_SSH_KEY) && !a.ssh_private_key_file.empty()) {
    std::string passphrase;
    if (!a.ssh_passphrase_file.empty()) {
      Result<std::string> p = ReadSecretFile(a.ssh_passphrase_file);
      if (!p.ok()) {
        st->file_error = p.status();
        return GIT_EUSER;
      }
      passphrase = *p;
    }
    if (!fs::exists(a.ssh_private_key_file)) {
      st->file_error = FailedPrecondition(a.ssh_private_key_file + ": cannot read file");
      return GIT_EUSER;
    }
    int rc = git_credential_ssh_key_new(out, ssh_user.c_str(), nullptr,
                                        a.ssh_private_key_file.c_str(),
                                        passphrase.empty() ? nullptr : passphrase.c_str());
    SecureWipe(&passphrase);
    return rc;
  }
  if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
    std::string user = a.username, secret;
    if (!a.token_file.empty() || !a.password_file.empty()) {
      const std::string& file = a.token_file.empty() ? a.password_file : a.token_file;
      Result<std::string> s = ReadSecretFile(file);
      if (!s.ok()) {
        st->file_error = s.status();
        return GIT_EUSER;
      }
      secret = *s;
      if (user.empty()) user = a.token_file.empty() ? "git" : "x-access-token";
      int rc = git_credential_userpass_plaintext_new(out, user.c_str(), secret.c_str());
      SecureWipe(&secret);
      return rc;
    }
    st->auth_failed = true;
    st->auth_detail = "authentication required but no credentials are configured";
    git_error_set_str(GIT_ERROR_NET, "authentication required");
    return GIT_EAUTH;
  }
  st->auth_failed = true;
  st->auth_detail = (allowed & GIT_CREDENTIAL_SSH_KEY)
                        ? "authentication required but no ssh private key is configured"
                        : "authentication required by a method stackctl does not support";
  git_error_set_str(GIT_ERROR_NET, "authentication required");
  return GIT_EAUTH;
}

// Verifies the server's certificate (DER) against the CA bundle `ca_file`
// and the host name (or IP address) the client connected to.
Status VerifyServerCertificate(const void* der, size_t len, const std::string& host,
                               const std::string& ca_file) {
  const unsigned char* p = static_cast<const unsigned char*>(der);
  std::unique_ptr<X509, void (*)(X509*)> leaf(d2i_X509(nullptr, &p, static_cast<long>(len)), X509_free);
  if (!leaf) return PermissionDenied("the server's certificate cannot be parsed");
  std::unique_ptr<X509_STORE, void (*)(X509_STORE*)> store(X509_STORE_new(), X509_STORE_free);
  if (!store || X509_STORE_load_file(store.get(), ca_file.c_str()) != 1) {
    return FailedPrecondition("cannot read CA file " + ca_file);
  }
  std::unique_ptr<X509_STORE_CTX, void (*)(X509_STORE_CTX*)> ctx(X509_STORE_CTX_new(), X509_STORE_CTX_free);
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr) != 1) {
    return Internal("X509_STORE_CTX_init failed");
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  // An IP address must be in the certificate's IP SANs, a name in its DNS SANs.
  if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    return PermissionDenied("server certificate not trusted by " + ca_file + ": " +
                            X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())));
  }
  return OkStatus();
}

int CertificateCheckCallback(git_cert* cert, int valid, const char* host, void* payload) {
  auto* st = static_cast<CallbackState*>(payload);
  if (cert->cert_type == GIT_CERT_X509) {
    if (st->spec->ca_file.empty()) return valid ? 0 : GIT_PASSTHROUGH;  // system trust decides
    auto* x = reinterpret_cast<git_cert_x509*>(cert);
    Status verified = VerifyServerCertificate(x->data, x->len, host ? host : "", st->spec->ca_file);
    if (verified.ok()) return 0;
    if (verified.code() != Code::kPermissionDenied) {
      st->file_error = verified;
      return GIT_EUSER;
    }
    st->host_rejected = true;
    st->host_detail = verified.message();
    git_error_set_str(GIT_ERROR_SSL, "certificate verification failed");
    return GIT_ECERTIFICATE;
  }
  if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2) return valid ? 0 : GIT_PASSTHROUGH;
  const Auth& a = st->spec->auth;
  auto reject = [&](std::string detail) {
    st->host_rejected = true;
    st->host_detail = std::move(detail);
    git_error_set_str(GIT_ERROR_SSH, "host key verification failed");
    return GIT_ECERTIFICATE;
  };
  if (a.known_hosts_file.empty()) return reject("no known_hosts file configured");
  auto* hk = reinterpret_cast<git_cert_hostkey*>(cert);
  if (!(hk->type & GIT_CERT_SSH_RAW)) return reject("the server's raw host key is unavailable");
  Result<std::string> text = ReadTextFile(a.known_hosts_file);
  if (!text.ok()) {
    st->file_error = text.status();
    return GIT_EUSER;
  }
  Result<KnownHosts> kh = KnownHosts::Parse(*text, a.known_hosts_file);
  if (!kh.ok()) {
    st->file_error = kh.status();
    return GIT_EUSER;
  }
  std::string h;
  int port = 22;
  SshHostPort(st->spec->url, &h, &port);
  if (h.empty() && host) h = host;
  switch (kh->Check(h, port, std::string(hk->hostkey, hk->hostkey_len))) {
    case KnownHosts::Match::kMatch: return 0;
    case KnownHosts::Match::kMismatch:
      return reject("host key of " + h + " does not match " + a.known_hosts_file);
    case KnownHosts::Match::kRevoked:
      return reject("host key of " + h + " is revoked in " + a.known_hosts_file);
    case KnownHosts::Match::kUnknownHost:
      return reject("host " + h + " is not in " + a.known_hosts_file);
  }
  return reject("host key check failed");
}

git_remote_callbacks MakeCallbacks(CallbackState* st) {
  git_remote_callbacks cb = GIT_REMOTE_CALLBACKS_INIT;
  cb.credentials = CredentialsCallback;
  cb.certificate_check = CertificateCheckCallback;
  cb.payload = st;
  return cb;
}

int HttpStatusIn(const std::string& msg) {
  size_t p = msg.find("status code: ");
  if (p == std::string::npos) return 0;
  return std::atoi(msg.c_str() + p + 13);
}

bool Contains(const std::string& s, const char* needle) {
  return s.find(needle) != std::string::npos;
}

// Converts a libgit2 failure into a Status naming the operation and URL.
Status GitError(int rc, const std::string& op, const std::string& url, const CallbackState& st) {
  const git_error* e = git_error_last();
  std::string msg = e && e->message ? e->message : "libgit2 error " + std::to_string(rc);
  int klass = e ? e->klass : 0;
  const std::string prefix = "git " + op + " " + url + ": ";
  if (!st.file_error.ok()) return Status(st.file_error.code(), prefix + st.file_error.message());
  if (st.host_rejected) return PermissionDenied(prefix + st.host_detail);
  if (st.auth_failed) return Unauthenticated(prefix + st.auth_detail);
  if (rc == GIT_EAUTH) return Unauthenticated(prefix + msg);
  if (rc == GIT_ECERTIFICATE) return PermissionDenied(prefix + msg);
  int http = HttpStatusIn(msg);
  if (http == 401) return Unauthenticated(prefix + msg);
  if (http == 403) return PermissionDenied(prefix + msg);
  if (http == 404) return NotFound(prefix + msg);
  if (http >= 500) return Unavailable(prefix + msg);
  if (klass == GIT_ERROR_SSH && Contains(msg, "uthenticat")) return Unauthenticated(prefix + msg);
  if (rc == GIT_ENOTFOUND || Contains(msg, "not found") || Contains(msg, "not exported") ||
      Contains(msg, "could not find repository") || Contains(msg, "failed to resolve path")) {
    return NotFound(prefix + msg);
  }
  if (klass == GIT_ERROR_NET || klass == GIT_ERROR_SSH || klass == GIT_ERROR_OS ||
      klass == GIT_ERROR_HTTP || klass == GIT_ERROR_SSL) {
    return Unavailable(prefix + msg);
  }
  return Unavailable(prefix + msg);
}

std::string OidHex(const git_oid* oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, oid);
  return buf;
}

bool IsHex(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsSafeRevision(const std::string& s) {
  if (s.empty() || s[0] == '-' || s[0] == '/' || Contains(s, "..") || Contains(s, "//")) {
    return false;
  }
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' &&
        c != '/') {
      return false;
    }
  }
  return true;
}

// RAII holders for libgit2 objects.
template <typename T, void (*Free)(T*)>
struct GitPtr {
  T* p = nullptr;
  GitPtr() = default;
  GitPtr(const GitPtr&) = delete;
  GitPtr& operator=(const GitPtr&) = delete;
  ~GitPtr() {
    if (p) Free(p);
  }
};
using RemotePtr = GitPtr<git_remote, git_remote_free>;
using CommitPtr = GitPtr<git_commit, git_commit_free>;
using TreePtr = GitPtr<git_tree, git_tree_free>;
using EntryPtr = GitPtr<git_tree_entry, git_tree_entry_free>;
using BlobPtr = GitPtr<git_blob, git_blob_free>;
using ObjectPtr = GitPtr<git_object, git_object_free>;
using DiffPtr = GitPtr<git_diff, git_diff_free>;
using RepoPtr = GitPtr<git_repository, git_repository_free>;
using RefPtr = GitPtr<git_reference, git_reference_free>;
using OdbPtr = GitPtr<git_odb, git_odb_free>;

std::string LastGitMessage() {
  const git_error* e = git_error_last();
  return e && e->message ? e->message : "unknown libgit2 error";
}

// Reads every tree of `tree` and the header of every file in it, so that a
// snapshot never meets an object the cache lost. Fills *why on failure.
Status VerifyTree(git_repository* repo, const git_tree* tree, const std::string& what,
                  GitFailure* why) {
  OdbPtr odb;
  int rc = git_repository_odb(&odb.p, repo);
  struct Walk {
    git_odb* odb;
    int rc = 0;
  } walk{odb.p};
  if (rc == 0) {
    rc = git_tree_walk(
        tree, GIT_TREEWALK_PRE,
        [](const char*, const git_tree_entry* entry, void* payload) -> int {
          auto* w = static_cast<Walk*>(payload);
          if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB) return 0;  // trees: read by the walk
          size_t size = 0;
          git_object_t type = GIT_OBJECT_INVALID;
          w->rc = git_odb_read_header(&size, &type, w->odb, git_tree_entry_id(entry));
          return w->rc == 0 ? 0 : -1;
        },
        &walk);
    if (walk.rc != 0) rc = walk.rc;
  }
  if (rc == 0) return OkStatus();
  *why = CaptureGitFailure(GitStep::kRead, rc);
  return Unavailable(what + ": " + LastGitMessage());
}

// The files of one commit, read from its own handle on the cache repository.
class GitTreeSource : public FileSource {
 public:
  static Result<std::shared_ptr<GitTreeSource>> Open(const std::string& repo_path,
                                                     const git_oid& tree,
                                                     const std::string& commit) {
    auto src = std::shared_ptr<GitTreeSource>(new GitTreeSource(commit));
    if (git_repository_open_bare(&src->repo_, repo_path.c_str()) != 0 ||
        git_tree_lookup(&src->tree_, src->repo_, &tree) != 0) {
      const git_error* e = git_error_last();
      return Internal(repo_path + ": cannot open tree of commit " + commit + ": " +
                      (e && e->message ? e->message : "unknown error"));
    }
    return src;
  }
  ~GitTreeSource() override {
    if (tree_) git_tree_free(tree_);
    if (repo_) git_repository_free(repo_);
    git_libgit2_shutdown();
  }

  Result<std::string> Read(const std::string& path) override {
    ASSIGN_OR_RETURN(std::string norm, JoinRepoPath("", path));
    std::lock_guard<std::mutex> lock(mu_);
    EntryPtr entry;
    if (norm.empty() || git_tree_entry_bypath(&entry.p, tree_, norm.c_str()) != 0) {
      return NotFound(norm + ": no such file at commit " + commit_.substr(0, 12));
    }
    if (git_tree_entry_type(entry.p) != GIT_OBJECT_BLOB) {
      return InvalidArgument(norm + ": is a directory at commit " + commit_.substr(0, 12));
    }
    if (git_tree_entry_filemode(entry.p) == GIT_FILEMODE_LINK) {
      return InvalidArgument(norm + ": is a symbolic link (not supported) at commit " +
                             commit_.substr(0, 12));
    }
    BlobPtr blob;
    if (git_blob_lookup(&blob.p, repo_, git_tree_entry_id(entry.p)) != 0) {
      return Internal(norm + ": cannot read blob at commit " + commit_.substr(0, 12));
    }
    return std::string(static_cast<const char*>(git_blob_rawcontent(blob.p)),
                       static_cast<size_t>(git_blob_rawsize(blob.p)));
  }

  bool Exists(const std::string& path) override {
    Result<std::string> norm = JoinRepoPath("", path);
    if (!norm.ok() || norm->empty()) return false;
    std::lock_guard<std::mutex> lock(mu_);
    EntryPtr entry;
    return git_tree_entry_bypath(&entry.p, tree_, norm->c_str()) == 0 &&
           git_tree_entry_type(entry.p) == GIT_OBJECT_BLOB;
  }

 private:
  explicit GitTreeSource(std::string commit) : commit_(std::move(commit)) {
    git_libgit2_init();
  }
  const std::string commit_;
  std::mutex mu_;
  git_repository* repo_ = nullptr;
  git_tree* tree_ = nullptr;
};

// Every branch and tag of the remote.
const std::vector<std::string>& AllRefspecs() {
  static const std::vector<std::string> kAll = {"+refs/heads/*:refs/remotes/origin/*",
                                                "+refs/tags/*:refs/tags/*"};
  return kAll;
}

// An in-memory remote for `url`. url.*.insteadOf rewriting from the user's Git
// configuration is skipped: the configured URL is the one used (and libgit2
// 1.5 leaks PCRE2 match data on every insteadOf lookup, libgit2 PR #6382).
int CreateRemote(git_remote** out, git_repository* repo, const std::string& url) {
  git_remote_create_options opts = GIT_REMOTE_CREATE_OPTIONS_INIT;
  opts.repository = repo;
  opts.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
  return git_remote_create_with_opts(out, url.c_str(), &opts);
}

bool ValidName(const std::string& name) {
  if (name.empty() || name[0] == '.') return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace

bool SshSupported() {
  git_libgit2_init();
  bool ok = (git_libgit2_features() & GIT_FEATURE_SSH) != 0;
  git_libgit2_shutdown();
  return ok;
}

Result<std::unique_ptr<GitSource>> GitSource::Create(RemoteSpec spec, std::string cache_dir,
                                                     FetchObserver observer,
                                                     CacheRebuildObserver rebuild_observer) {
  const std::string what = "repository " + spec.name;
  if (!ValidName(spec.name)) {
    return InvalidArgument(what + ": name must be letters, digits, '.', '_' or '-'");
  }
  if (spec.url.empty()) return InvalidArgument(what + ": url is empty");
  const std::string scheme = UrlScheme(spec.url);
  const std::string url = RedactUrl(spec.url);
  if (scheme != "file" && scheme != "http" && scheme != "https" && scheme != "ssh" &&
      scheme != "git") {
    return InvalidArgument(what + ": " + url + ": unsupported scheme \"" + scheme + "\"");
  }
  if (scheme == "ssh") {
    if (!SshSupported()) {
      return FailedPrecondition(what + ": " + url + ": this libgit2 is built without ssh support");
    }
    if (spec.auth.known_hosts_file.empty()) {
      return InvalidArgument(what + ": " + url + ": ssh needs a known_hosts file");
    }
  }
  if (spec.kind == RefKind::kCommit && (spec.ref.size() != GIT_OID_HEXSZ || !IsHex(spec.ref))) {
    return InvalidArgument(what + ": commit must be a full 40-character hex id, got \"" +
                           spec.ref + "\"");
  }
  if (spec.kind != RefKind::kCommit && !IsSafeRevision(spec.ref)) {
    return InvalidArgument(what + ": invalid " +
                           (spec.kind == RefKind::kBranch ? "branch" : "tag") + " name \"" +
                           spec.ref + "\"");
  }
  std::string path = (fs::path(cache_dir) / (spec.name + ".git")).string();
  return std::unique_ptr<GitSource>(
      new GitSource(std::move(spec), path, std::move(observer), std::move(rebuild_observer)));
}

GitSource::GitSource(RemoteSpec spec, std::string cache_path, FetchObserver observer,
                     CacheRebuildObserver rebuild_observer)
    : spec_(std::move(spec)),
      cache_path_(std::move(cache_path)),
      observer_(std::move(observer)),
      rebuild_observer_(std::move(rebuild_observer)) {
  git_libgit2_init();
}

GitSource::~GitSource() {
  git_libgit2_shutdown();
}

std::string GitSource::DisplayUrl() const { return RedactUrl(spec_.url); }

Result<std::string> GitSource::ResolveRemote() {
  if (spec_.kind == RefKind::kCommit) return spec_.ref;
  const std::string url = DisplayUrl();
  CallbackState st;
  st.spec = &spec_;
  git_remote_callbacks cb = MakeCallbacks(&st);
  RemotePtr remote;
  auto finish = [&](Result<std::string> r) {
    if (observer_) observer_(spec_.name, r.ok() ? "success" : "error");
    return r;
  };
  int rc = CreateRemote(&remote.p, nullptr, spec_.url);
  if (rc == 0) rc = git_remote_connect(remote.p, GIT_DIRECTION_FETCH, &cb, nullptr, nullptr);
  if (rc != 0) return finish(GitError(rc, "ls-remote", url, st));
  const git_remote_head** heads = nullptr;
  size_t count = 0;
  rc = git_remote_ls(&heads, &count, remote.p);
  if (rc != 0) return finish(GitError(rc, "ls-remote", url, st));
  const std::string want =
      (spec_.kind == RefKind::kBranch ? "refs/heads/" : "refs/tags/") + spec_.ref;
  const std::string peeled = want + "^{}";
  std::string found;
  for (size_t i = 0; i < count; ++i) {
    if (heads[i]->name == peeled) {
      found = OidHex(&heads[i]->oid);
      break;
    }
    if (heads[i]->name == want) found = OidHex(&heads[i]->oid);
  }
  git_remote_disconnect(remote.p);
  if (found.empty()) {
    return finish(NotFound("git ls-remote " + url + ": " +
                           (spec_.kind == RefKind::kBranch ? "branch" : "tag") + " \"" +
                           spec_.ref + "\" not found"));
  }
  return finish(found);
}

std::string GitSource::TrackedRef() const {
  switch (spec_.kind) {
    case RefKind::kBranch: return "refs/remotes/origin/" + spec_.ref;
    case RefKind::kTag: return "refs/tags/" + spec_.ref;
    case RefKind::kCommit: return "";
  }
  return "";
}

Status GitSource::NoSpace(const std::string& op, const std::string& detail) const {
  return Unavailable("git " + op + " " + DisplayUrl() + ": no space left on the device of the Git cache " +
                     cache_path_ + " (" + detail + ")");
}

std::vector<std::string> GitSource::ConfiguredRefspecs() const {
  switch (spec_.kind) {
    case RefKind::kBranch: return {"+refs/heads/" + spec_.ref + ":" + TrackedRef()};
    case RefKind::kTag: return {"+refs/tags/" + spec_.ref + ":" + TrackedRef()};
    case RefKind::kCommit: break;
  }
  return AllRefspecs();
}

Status GitSource::InitCacheLocked(git_repository** repo, GitFailure* why) {
  std::error_code ec;
  fs::create_directories(fs::path(cache_path_).parent_path(), ec);
  if (ec == std::errc::no_space_on_device) return NoSpace("init", ec.message());
  if (ec) return Internal(cache_path_ + ": cannot create cache directory: " + ec.message());
  int rc = git_repository_init(repo, cache_path_.c_str(), /*is_bare=*/1);
  if (rc == 0) return OkStatus();
  *repo = nullptr;
  *why = CaptureGitFailure(GitStep::kOpen, rc);
  if (ClassifyGitFailure(*why) == CacheFault::kNoSpace) return NoSpace("init", LastGitMessage());
  return Internal(cache_path_ + ": cannot create cache repository: " + LastGitMessage());
}

Status GitSource::OpenCacheLocked(git_repository** repo, GitFailure* why) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(cache_path_, ec))) return InitCacheLocked(repo, why);
  // Damage that no operation might trip over, but that the next one could:
  // the layout, HEAD, and the ref this source follows.
  why->step = GitStep::kOpen;
  RETURN_IF_ERROR(CheckCacheLayout(cache_path_));
  int rc = git_repository_open_bare(repo, cache_path_.c_str());
  if (rc != 0) {
    *repo = nullptr;
    *why = CaptureGitFailure(GitStep::kOpen, rc);
    return FailedPrecondition(cache_path_ + ": cannot be opened: " + LastGitMessage());
  }
  RefPtr head;
  rc = git_reference_lookup(&head.p, *repo, "HEAD");
  if (rc != 0) {
    *why = CaptureGitFailure(GitStep::kOpen, rc);
    return FailedPrecondition(cache_path_ + ": HEAD: " + LastGitMessage());
  }
  const std::string tracked = TrackedRef();
  if (!tracked.empty()) RETURN_IF_ERROR(CheckCacheRef(*repo, cache_path_, tracked, GitStep::kOpen, why));
  return OkStatus();
}

void GitSource::RemoveDamagedCopyLocked() {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(DamagedPath(), ec))) return;
  fs::remove_all(DamagedPath(), ec);
  if (ec) log::Get("gitsource")->warn("repository {}: cannot remove {}: {}", spec_.name, DamagedPath(), ec.message());
}

Status GitSource::RebuildLocked(const std::string& reason) {
  const std::string aside = DamagedPath();
  log::Get("gitsource")->info("repository {}: Git cache is damaged ({}); moving it to {} and cloning {} again",
                              spec_.name, reason, aside, DisplayUrl());
  if (rebuild_observer_) rebuild_observer_(spec_.name, reason);
  std::error_code ec;
  fs::remove_all(aside, ec);  // a copy left by an earlier rebuild whose clone failed
  fs::rename(cache_path_, aside, ec);
  if (ec) {
    return Internal(cache_path_ + ": cannot move the damaged Git cache aside to " + aside + ": " +
                    ec.message());
  }
  RepoPtr repo;
  GitFailure why;
  RETURN_IF_ERROR(InitCacheLocked(&repo.p, &why));
  // "Clone": what Fetch brings for the configured ref.
  Status cloned = FetchRefspecsLocked(repo.p, ConfiguredRefspecs(), &why);
  if (!cloned.ok()) {
    log::Get("gitsource")->warn("repository {}: cloning the Git cache again failed: {}", spec_.name,
                                cloned.message());
    return cloned;
  }
  RemoveDamagedCopyLocked();
  log::Get("gitsource")->info("repository {}: Git cache cloned again from {}", spec_.name, DisplayUrl());
  return OkStatus();
}

Status GitSource::RunOnCacheLocked(const std::function<Status(git_repository*, GitFailure*)>& op) {
  for (bool rebuilt = false;; rebuilt = true) {
    // A fresh handle per operation: nothing of a cache that changed on disk
    // (or was moved aside) stays mapped or cached between operations.
    Status st;
    GitFailure why;
    {
      RepoPtr repo;
      st = OpenCacheLocked(&repo.p, &why);
      if (st.ok()) {
        why = GitFailure{};
        st = op(repo.p, &why);
      }
    }
    if (st.ok()) {
      RemoveDamagedCopyLocked();
      return st;
    }
    CacheFault fault = ClassifyGitFailure(why);
    std::string reason = st.message();
    if (fault == CacheFault::kSuspect) {
      Status health = CheckCacheHealth(cache_path_);
      fault = health.ok() ? CacheFault::kNone : CacheFault::kDamaged;
      reason = health.message();
    }
    if (fault != CacheFault::kDamaged) return st;
    // Once cloned again, a cache that is still unreadable is not retried here.
    if (rebuilt) return Unavailable(st.message() + " (after cloning the Git cache again)");
    RETURN_IF_ERROR(RebuildLocked(reason));
  }
}

Status GitSource::FetchRefspecsLocked(git_repository* repo, const std::vector<std::string>& refspecs,
                                      GitFailure* why) {
  const std::string url = DisplayUrl();
  CallbackState st;
  st.spec = &spec_;
  git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
  opts.callbacks = MakeCallbacks(&st);
  opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  std::vector<char*> specs;
  for (const std::string& s : refspecs) specs.push_back(const_cast<char*>(s.c_str()));
  git_strarray arr{specs.data(), specs.size()};
  RemotePtr remote;
  int rc = CreateRemote(&remote.p, repo, spec_.url);
  if (rc == 0) rc = git_remote_fetch(remote.p, &arr, &opts, nullptr);
  Status status;
  if (rc != 0) {
    *why = CaptureGitFailure(GitStep::kFetch, rc);
    why->remote_side = st.auth_failed || st.host_rejected || !st.file_error.ok();
    status = ClassifyGitFailure(*why) == CacheFault::kNoSpace ? NoSpace("fetch", LastGitMessage())
                                                              : GitError(rc, "fetch", url, st);
  }
  if (observer_) observer_(spec_.name, status.ok() ? "success" : "error");
  return status;
}

Result<std::string> GitSource::LookupLocked(git_repository* repo, const std::string& revision,
                                            GitFailure* why) {
  if (IsHex(revision)) {
    ObjectPtr obj;
    if (git_revparse_single(&obj.p, repo, (revision + "^{commit}").c_str()) == 0) {
      return OidHex(git_object_id(obj.p));
    }
    // Not in the cache (yet): a ref below may be named so, else a fetch brings it.
  }
  for (const std::string& name : {"refs/remotes/origin/" + revision, "refs/tags/" + revision}) {
    RefPtr ref;
    ObjectPtr target;
    int rc = git_reference_lookup(&ref.p, repo, name.c_str());
    if (rc == GIT_ENOTFOUND || rc == GIT_EINVALIDSPEC) continue;
    if (rc == 0) rc = ReadReferenceTarget(ref.p, &target.p);
    if (rc == 0) {
      if (git_object_type(target.p) != GIT_OBJECT_COMMIT) continue;  // a tag of a tree or blob
      return OidHex(git_object_id(target.p));
    }
    // The cache names an object it cannot read.
    *why = CaptureGitFailure(GitStep::kRead, rc);
    return Unavailable("git fetch " + DisplayUrl() + ": Git cache " + cache_path_ + ": " + name + ": " +
                       LastGitMessage());
  }
  return NotFound("git fetch " + DisplayUrl() + ": revision \"" + revision + "\" not found");
}

Result<Snapshot> GitSource::FetchLocked(git_repository* repo, const std::string& rev, GitFailure* why) {
  // kNotFound: not cached (yet); any other error: the cache cannot be read.
  auto cached = [](const Result<std::string>& r) { return r.ok() || r.status().code() != Code::kNotFound; };
  Result<std::string> oid = NotFound("");
  if (IsHex(rev) && rev.size() == GIT_OID_HEXSZ) oid = LookupLocked(repo, rev, why);  // no network
  if (!cached(oid) && spec_.kind != RefKind::kCommit && (rev == spec_.ref || IsHex(rev))) {
    RETURN_IF_ERROR(FetchRefspecsLocked(repo, ConfiguredRefspecs(), why));
    oid = LookupLocked(repo, rev, why);
  }
  if (!cached(oid)) {
    RETURN_IF_ERROR(FetchRefspecsLocked(repo, AllRefspecs(), why));
    oid = LookupLocked(repo, rev, why);
  }
  if (!oid.ok()) return oid.status();
  const std::string where = "git fetch " + DisplayUrl() + ": Git cache " + cache_path_ + ": commit " + *oid;
  git_oid id;
  git_oid_fromstr(&id, oid->c_str());
  CommitPtr commit;
  TreePtr tree;
  int rc = git_commit_lookup(&commit.p, repo, &id);
  if (rc == 0) rc = git_commit_tree(&tree.p, commit.p);
  if (rc != 0) {
    *why = CaptureGitFailure(GitStep::kRead, rc);
    return Unavailable(where + ": " + LastGitMessage());
  }
  RETURN_IF_ERROR(VerifyTree(repo, tree.p, where, why));
  CommitInfo info;
  info.commit = *oid;
  const char* summary = git_commit_summary(commit.p);
  info.summary = summary ? summary : "";
  const git_signature* author = git_commit_author(commit.p);
  if (author) info.author = std::string(author->name) + " <" + author->email + ">";
  info.time = static_cast<int64_t>(git_commit_time(commit.p));
  ASSIGN_OR_RETURN(std::shared_ptr<GitTreeSource> files,
                   GitTreeSource::Open(cache_path_, *git_commit_tree_id(commit.p), *oid));
  return Snapshot(std::move(info), std::move(files));
}

Result<Snapshot> GitSource::Fetch(const std::string& revision) {
  std::string rev = revision;
  if (rev.empty()) rev = spec_.ref;
  if (!IsSafeRevision(rev)) {
    return InvalidArgument("git fetch " + DisplayUrl() + ": invalid revision \"" + rev + "\"");
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<Snapshot> snapshot;
  RETURN_IF_ERROR(RunOnCacheLocked([&](git_repository* repo, GitFailure* why) -> Status {
    ASSIGN_OR_RETURN(Snapshot s, FetchLocked(repo, rev, why));
    snapshot = std::move(s);
    return OkStatus();
  }));
  return *std::move(snapshot);
}

Result<std::vector<std::string>> GitSource::ChangedPaths(const std::string& from,
                                                         const std::string& to) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> changed;
  RETURN_IF_ERROR(RunOnCacheLocked([&](git_repository* repo, GitFailure* why) -> Status {
    auto tree_of = [&](const std::string& rev, TreePtr* out) -> Status {
      git_oid id;
      CommitPtr commit;
      if (!IsHex(rev) || rev.size() != GIT_OID_HEXSZ || git_oid_fromstr(&id, rev.c_str()) != 0 ||
          git_commit_lookup(&commit.p, repo, &id) != 0) {
        return NotFound("git diff " + DisplayUrl() + ": commit \"" + rev +
                        "\" is not in the cache (fetch it first)");
      }
      int rc = git_commit_tree(&out->p, commit.p);
      if (rc != 0) {
        *why = CaptureGitFailure(GitStep::kRead, rc);
        return Unavailable("git diff " + DisplayUrl() + ": Git cache " + cache_path_ +
                           ": cannot read the tree of " + rev + ": " + LastGitMessage());
      }
      return OkStatus();
    };
    TreePtr from_tree, to_tree;
    if (!from.empty()) RETURN_IF_ERROR(tree_of(from, &from_tree));
    RETURN_IF_ERROR(tree_of(to, &to_tree));
    DiffPtr diff;
    git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
    int rc = git_diff_tree_to_tree(&diff.p, repo, from_tree.p, to_tree.p, &opts);
    if (rc != 0) {
      *why = CaptureGitFailure(GitStep::kRead, rc);
      return Unavailable("git diff " + DisplayUrl() + ": Git cache " + cache_path_ + ": " +
                         LastGitMessage());
    }
    std::set<std::string> paths;
    for (size_t i = 0, n = git_diff_num_deltas(diff.p); i < n; ++i) {
      const git_diff_delta* d = git_diff_get_delta(diff.p, i);
      if (d->old_file.path) paths.insert(d->old_file.path);
      if (d->new_file.path) paths.insert(d->new_file.path);
    }
    changed.assign(paths.begin(), paths.end());
    return OkStatus();
  }));
  return changed;
}

}  // namespace stackctl::gitsource
