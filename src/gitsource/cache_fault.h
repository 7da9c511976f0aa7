// Cache faults: does a failed libgit2 call point at a repository's own bare
// cache (<cache_dir>/<name>.git), or at the remote?
//
// GitSource (git_source.h) keeps one bare cache per repository. The cache is
// not authoritative (the remote and the swarm are), so when it is damaged
// (objects or packs missing or unreadable, a broken ref or HEAD, a failed
// write inside it, the folder replaced by a file) the right answer is to move
// it aside and clone again, once. Errors of the remote (network, credentials,
// certificates, a missing repository or branch) must never cause that: they
// keep the controller's backoff.
//
// The decision is made from libgit2's error class and code, never from the
// text of its messages:
//   ClassifyGitFailure    the table below, for one failed step;
//   CheckCacheHealth      the cache's own state, for the failures a local
//                         (file://) remote produces in the same classes.
//
// Thread safety: ClassifyGitFailure is a pure function; the checks only read
// the file system (callers serialize them with writes to the same cache).
#pragma once

#include <string>

#include "common/status.h"

struct git_object;
struct git_reference;
struct git_repository;

namespace stackctl::gitsource {

// Where in an operation on the cache the failure happened.
enum class GitStep {
  kOpen,   // opening the cache: its folder, objects/, objects/pack/, refs/, HEAD
  kFetch,  // fetching from the remote into the cache
  kRead,   // reading from the cache: a ref, the commit it names, its trees
};

// One failed libgit2 call.
struct GitFailure {
  GitStep step = GitStep::kFetch;
  int code = 0;      // libgit2 return code (GIT_ENOTFOUND, GIT_EAUTH, ...)
  int klass = 0;     // git_error_last()->klass (GIT_ERROR_ODB, ...); 0 when none
  int os_errno = 0;  // errno of the call (see CaptureGitFailure); read only with GIT_ERROR_OS
  // The credentials, certificate or host key callback refused (or could not
  // read its file): the remote's side by definition.
  bool remote_side = false;
};

enum class CacheFault {
  kNone,     // not the cache: network, credentials, remote, memory -> as is
  kDamaged,  // the cache is damaged -> move it aside, clone again
  kSuspect,  // the same classes come from a file:// remote's own repository
             // -> damaged only if CheckCacheHealth finds the cache broken
  kNoSpace,  // no space left on the device (or quota) -> say so, keep the cache
};

// The table (first match wins):
//   remote_side, GIT_EAUTH, GIT_ECERTIFICATE                     kNone
//   class NET, HTTP, SSL, SSH, CALLBACK, NOMEMORY                kNone
//   class OS with errno ENOSPC or EDQUOT                         kNoSpace
//   step kOpen                                                   kDamaged
//   class ODB, ZLIB, OBJECT, REFERENCE, REPOSITORY, OS,
//         FILESYSTEM, INDEXER, TREE    step kRead                kDamaged
//                                      step kFetch               kSuspect
//   anything else                                                kNone
// A step kRead failure is only reported for an object the cache claims to
// have (named by one of its refs, or reachable from a commit found in it), so
// GIT_ENOTFOUND there is damage; a revision that is simply not cached yet is
// not a failure.
CacheFault ClassifyGitFailure(const GitFailure& failure);

// "damaged", "suspect", ...
const char* CacheFaultName(CacheFault fault);

// The failure of the libgit2 call that just returned `code` (reads errno and
// git_error_last(); call it before anything else can change them). libgit2
// 1.5 does not keep errno, so for GIT_ERROR_OS a message ending in
// strerror(ENOSPC) or strerror(EDQUOT), as libgit2 formats them, sets os_errno.
GitFailure CaptureGitFailure(GitStep step, int code);

// The layout every operation checks before it opens the cache at `path`: a
// directory with objects/, objects/pack/ and refs/ directories. OK, or
// kFailedPrecondition "PATH: what is wrong".
Status CheckCacheLayout(const std::string& path);

// The object `ref` names, annotated tags peeled (*out owned by the caller).
// Unlike git_reference_peel, a missing object fails with the object
// database's class (GIT_ERROR_ODB, GIT_ENOTFOUND), not GIT_ERROR_INVALID.
int ReadReferenceTarget(git_reference* ref, git_object** out);

// Reference `refname` of `repo` (the cache at `path`) parses and names an
// object that can be read (tags peeled; a commit with its root tree). An
// absent reference is fine. Otherwise kFailedPrecondition "PATH: REFNAME ...",
// and *why (when given) holds the libgit2 failure, at `step`.
Status CheckCacheRef(git_repository* repo, const std::string& path, const std::string& refname,
                     GitStep step, GitFailure* why = nullptr);

// The whole check, for failures that may be the remote's (kSuspect): the
// layout, libgit2 opens it, HEAD parses, and CheckCacheRef holds for every
// reference (every file under refs/ too, as libgit2's iterator skips loose
// refs that do not parse). OK, or kFailedPrecondition "PATH: what is wrong".
Status CheckCacheHealth(const std::string& path);

}  // namespace stackctl::gitsource
