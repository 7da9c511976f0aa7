// gitsource::Source: where the desired state comes from.
//
// A Source watches one Git repository at one branch, tag or pinned commit.
// The controller asks it two things:
//   ResolveRemote()  the cheap "anything new?" check: one ref advertisement
//                    (ls-remote) of the configured branch/tag, or the pinned
//                    commit without any network traffic;
//   Fetch(revision)  brings that revision into a local bare cache (clone on
//                    first use) and returns a Snapshot from which files are
//                    read straight out of the object database (no work tree).
// ChangedPaths(from, to) lists the files that differ between two fetched
// commits so only the stacks whose files changed are reconciled.
//
// The interface is small so tests can fake it (a Snapshot over a
// stackctl::MemoryFileSource, common/file_source.h); GitSource (git_source.h)
// is the libgit2 implementation.
//
// Error codes (common/status.h), every message naming the repository URL
// (credentials removed):
//   kUnavailable       server unreachable, transport failure -> retry later
//   kUnauthenticated   credentials missing or rejected
//   kPermissionDenied  host key / server certificate not trusted, access denied
//   kNotFound          unknown repository, branch, tag or revision
//   kFailedPrecondition configuration cannot work (e.g. ssh without libssh2)
//
// Thread safety: implementations are safe for concurrent calls. A Snapshot and
// the FileSources it hands out are safe for concurrent use and stay valid
// after the Source that made them is gone.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/file_source.h"
#include "common/status.h"

namespace stackctl::gitsource {

// Where a Source reads from: configured per repository (config/config.h)
// and given to the Source that serves it (GitSource::Create).
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

// Short description of a commit, for status, history and logs.
struct CommitInfo {
  std::string commit;   // full hex object id
  std::string summary;  // first line of the message
  std::string author;   // "Name <email>"
  int64_t time = 0;     // commit time, seconds since the epoch

  bool operator==(const CommitInfo&) const = default;
};

// The files of one commit. Cheap to copy (shares the reader).
class Snapshot {
 public:
  Snapshot(CommitInfo info, std::shared_ptr<FileSource> root)
      : info_(std::move(info)), root_(std::move(root)) {}

  const CommitInfo& info() const { return info_; }
  const std::string& commit() const { return info_.commit; }
  // A FileSource rooted at `dir` (a stack's `path`; "" or "." = repository
  // root). Paths given to it may use ".." as long as they stay inside the
  // repository; escaping it, or an absolute path, is kInvalidArgument.
  std::unique_ptr<FileSource> Files(const std::string& dir) const;

 private:
  CommitInfo info_;
  std::shared_ptr<FileSource> root_;
};

class Source {
 public:
  virtual ~Source() = default;

  // The repository URL with any credentials removed (for messages).
  virtual std::string DisplayUrl() const = 0;
  // The commit the configured branch/tag points at on the remote now, or the
  // pinned commit.
  virtual Result<std::string> ResolveRemote() = 0;
  // `revision`: a commit id (full or abbreviated hex), or a branch or tag name
  // of the remote. A commit already in the cache needs no network traffic.
  virtual Result<Snapshot> Fetch(const std::string& revision) = 0;
  // Paths ('/'-separated, from the repository root, sorted, no duplicates)
  // added, removed, modified or renamed (both names) between two commits that
  // were fetched before. An empty `from` lists every file of `to`.
  virtual Result<std::vector<std::string>> ChangedPaths(const std::string& from,
                                                        const std::string& to) = 0;
};

// True when any of `changed` lies inside directory `dir` ("" or "." = root).
bool AnyChangedUnder(const std::vector<std::string>& changed, const std::string& dir);

// True when a commit that changed `changed` can change what a stack renders
// to: a path inside its directory `dir`, or one of `inputs`, the repository
// paths its last render read or looked for (RecordingFileSource), wherever
// they are ("../common.env", "../base.yml", a secret's "../secrets/x").
bool StackInputsChanged(const std::vector<std::string>& changed, const std::string& dir,
                        const std::set<std::string>& inputs);

// Joins `dir` and the relative `path` lexically ("a/b" + "../c" -> "a/c").
// Fails with kInvalidArgument for absolute paths and paths leaving the root.
Result<std::string> JoinRepoPath(const std::string& dir, const std::string& path);

}  // namespace stackctl::gitsource
