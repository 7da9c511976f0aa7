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
// The cache repairs itself (cache_fault.h): when opening it, fetching into it
// or reading a commit from it fails in a way that points at the cache
// (missing or unreadable objects or packs, a broken ref or HEAD, a failed
// write inside it, the folder replaced by a file), the cache is moved aside
// to <name>.git.damaged, cloned again (the configured branch or tag), and the
// operation is retried once; if that clone fails, its error (the remote's) is
// returned. The damaged copy is removed once the cache works again. Errors of the
// remote (network, credentials, a missing repository or branch) never cause
// this. Every operation opens the cache afresh and checks its layout, HEAD and
// the ref it follows, so damage done between two operations is found by the
// next one; Fetch also reads every tree of the commit and the header of every
// file. No space left on the cache's device is reported as such
// (kUnavailable), the cache kept.
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

#include "gitsource/cache_fault.h"
#include "gitsource/source.h"

struct git_repository;


namespace stackctl::gitsource {

// Optional outcome counter hook: called once per ResolveRemote/Fetch network
// operation with result "success" or "error" (stackctl_git_fetch_total).
using FetchObserver = std::function<void(const std::string& repo, const std::string& result)>;
// Optional hook called when a repository's cache is found damaged, before it
// is moved aside and cloned again; `reason` says what is wrong
// (stackctl_git_cache_rebuilds_total).
using CacheRebuildObserver = std::function<void(const std::string& repo, const std::string& reason)>;

class GitSource : public Source {
 public:
  // Checks the spec (supported scheme, ssh support, known_hosts for ssh);
  // touches neither network nor disk.
  static Result<std::unique_ptr<GitSource>> Create(RemoteSpec spec, std::string cache_dir,
                                                   FetchObserver observer = nullptr,
                                                   CacheRebuildObserver rebuild_observer = nullptr);
  ~GitSource() override;

  std::string DisplayUrl() const override;
  Result<std::string> ResolveRemote() override;
  Result<Snapshot> Fetch(const std::string& revision) override;
  Result<std::vector<std::string>> ChangedPaths(const std::string& from,
                                                const std::string& to) override;

  // The cache repository's path.
  const std::string& cache_path() const { return cache_path_; }
  // Where a damaged cache is moved while it is cloned again.
  std::string DamagedPath() const { return cache_path_ + ".damaged"; }

 private:
  GitSource(RemoteSpec spec, std::string cache_path, FetchObserver observer,
            CacheRebuildObserver rebuild_observer);
  // The ref the configured branch or tag is fetched to ("" for a commit).
  std::string TrackedRef() const;
  // The refspecs that fetch the configured branch or tag (all for a commit).
  std::vector<std::string> ConfiguredRefspecs() const;
  Status NoSpace(const std::string& op, const std::string& detail) const;
  // Runs `op` on a freshly opened cache; when it (or the opening) fails in a
  // way that points at the cache, rebuilds the cache and runs it once more.
  Status RunOnCacheLocked(const std::function<Status(git_repository*, GitFailure*)>& op);
  Status InitCacheLocked(git_repository** repo, GitFailure* why);
  Status OpenCacheLocked(git_repository** repo, GitFailure* why);
  // Moves the cache aside and clones again; the clone's error when it fails.
  Status RebuildLocked(const std::string& reason);
  // Removes the copy a rebuild moved aside, if any (the cache works again).
  void RemoveDamagedCopyLocked();
  Status FetchRefspecsLocked(git_repository* repo, const std::vector<std::string>& refspecs,
                             GitFailure* why);
  Result<std::string> LookupLocked(git_repository* repo, const std::string& revision,
                                   GitFailure* why);
  Result<Snapshot> FetchLocked(git_repository* repo, const std::string& revision, GitFailure* why);

  const RemoteSpec spec_;
  const std::string cache_path_;
  FetchObserver observer_;
  CacheRebuildObserver rebuild_observer_;
  std::mutex mu_;  // serializes operations on the cache
};

// True when this libgit2 supports ssh:// (built with libssh2).
bool SshSupported();

}  // namespace stackctl::gitsource
