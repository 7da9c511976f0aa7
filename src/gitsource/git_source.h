// GitSource: the libgit2 implementation of Source.
//
// Each GitSource owns one bare cache repository, <cache_dir>/<name>.git,
// created on first Fetch. Fetches download only the configured branch or tag
// (everything for a pinned commit, or when a requested revision is not found
// otherwise). Files are read from the object database; no work tree exists.
//
// Remotes: file:// (and plain paths), git://, http(s):// with a token or a
// user name + password read from files at each connection (so rotated
// secrets are picked up), ssh:// and scp-like "git@host:repo" with a private
// key file and a mandatory known_hosts file (libgit2 must be built with
// libssh2: git_libgit2_features() & GIT_FEATURE_SSH, true on Debian 12).
// Secret values never appear in errors or logs.
//
// Timeouts: libgit2 1.5 has no connect or I/O timeout option. A refused
// connection fails at once (kUnavailable), a silent host fails after the
// kernel's TCP connect timeout, but a server that accepts and then stalls
// blocks the call. Run each repository's polls on its own thread (calls on
// distinct GitSources never wait for each other) so one stuck remote cannot
// delay the others.
//
// libgit2 is initialized per GitSource (git_libgit2_init is reference
// counted and thread-safe), so no global setup is needed.
//
// Thread safety: all methods are safe for concurrent calls; calls on one
// GitSource are serialized (one cache repository). Distinct GitSources run in
// parallel and must use distinct names. Snapshots are independent of the
// GitSource (their own repository handle, internally locked).
#pragma once

#include <memory>
#include <functional>
#include <mutex>
#include <string>

#include "gitsource/source.h"

struct git_repository;


namespace stackctl::gitsource {

struct Auth {
  // http(s): basic auth user name; with token_file it defaults to
  // "x-access-token" (GitHub; GitLab and Gitea accept any non-empty name).
  // ssh: the login; defaults to the user of the URL, else "git".
  std::string username;
  std::string password_file;  // http(s) basic auth
  std::string token_file;     // http(s) token, sent as the basic-auth password
  std::string ssh_private_key_file;
  std::string ssh_passphrase_file;  // optional
  std::string known_hosts_file;     // required for ssh

  bool operator==(const Auth&) const = default;
};

enum class RefKind { kBranch, kTag, kCommit };

struct RemoteSpec {
  std::string name;  // unique per controller; names the cache and metrics
  std::string url;
  RefKind kind = RefKind::kBranch;
  std::string ref;  // branch name, tag name or full commit id
  Auth auth;
  // https: a PEM bundle with the CA (and intermediates) that issued the
  // server's certificate, trusted instead of the system CAs; the host name
  // must match the certificate. Empty = libgit2's system trust.
  std::string ca_file{};

  bool operator==(const RemoteSpec&) const = default;
};

// Optional outcome counter hook: called once per ResolveRemote/Fetch network
// operation with result "success" or "error" (stackctl_git_fetch_total).
using FetchObserver = std::function<void(const std::string& repo, const std::string& result)>;

class GitSource : public Source {
 public:
  // Checks the spec (supported scheme, ssh support, known_hosts for ssh);
  // touches neither network nor disk.
  static Result<std::unique_ptr<GitSource>> Create(RemoteSpec spec, std::string cache_dir,
                                                   FetchObserver observer = nullptr);
  ~GitSource() override;

  std::string DisplayUrl() const override;
  Result<std::string> ResolveRemote() override;
  Result<Snapshot> Fetch(const std::string& revision) override;
  Result<std::vector<std::string>> ChangedPaths(const std::string& from,
                                                const std::string& to) override;

  // The cache repository's path.
  const std::string& cache_path() const { return cache_path_; }

 private:
  GitSource(RemoteSpec spec, std::string cache_path, FetchObserver observer);
  Status OpenCacheLocked();
  Status FetchRefspecsLocked(const std::vector<std::string>& refspecs);
  Result<std::string> LookupLocked(const std::string& revision);

  const RemoteSpec spec_;
  const std::string cache_path_;
  FetchObserver observer_;
  std::mutex mu_;
  git_repository* repo_ = nullptr;  // guarded by mu_
};

// True when this libgit2 supports ssh:// (built with libssh2).
bool SshSupported();

}  // namespace stackctl::gitsource
