#include "gitsource/cache_fault.h"

#include <git2.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace stackctl::gitsource {
namespace {

namespace fs = std::filesystem;

// Classes of errors in the object database, references and files of a
// repository: the cache's own when the step only touches the cache.
bool IsRepositoryClass(int klass) {
  switch (klass) {
    case GIT_ERROR_ODB:
    case GIT_ERROR_ZLIB:
    case GIT_ERROR_OBJECT:
    case GIT_ERROR_REFERENCE:
    case GIT_ERROR_REPOSITORY:
    case GIT_ERROR_OS:
    case GIT_ERROR_FILESYSTEM:
    case GIT_ERROR_INDEXER:
    case GIT_ERROR_TREE:
      return true;
    default:
      return false;
  }
}

bool IsTransportClass(int klass) {
  switch (klass) {
    case GIT_ERROR_NET:
    case GIT_ERROR_HTTP:
    case GIT_ERROR_SSL:
    case GIT_ERROR_SSH:
    case GIT_ERROR_CALLBACK:
    case GIT_ERROR_NOMEMORY:
      return true;
    default:
      return false;
  }
}

std::string LastGitMessage() {
  const git_error* e = git_error_last();
  return e && e->message ? e->message : "unknown libgit2 error";
}

// RAII holders for the few libgit2 objects used here.
template <typename T, void (*Free)(T*)>
struct Owned {
  T* p = nullptr;
  Owned() = default;
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() {
    if (p) Free(p);
  }
};

}  // namespace

CacheFault ClassifyGitFailure(const GitFailure& f) {
  if (f.remote_side || f.code == GIT_EAUTH || f.code == GIT_ECERTIFICATE) return CacheFault::kNone;
  if (IsTransportClass(f.klass)) return CacheFault::kNone;
  if (f.klass == GIT_ERROR_OS && (f.os_errno == ENOSPC || f.os_errno == EDQUOT)) {
    return CacheFault::kNoSpace;
  }
  if (f.step == GitStep::kOpen) return CacheFault::kDamaged;
  if (!IsRepositoryClass(f.klass)) return CacheFault::kNone;
  return f.step == GitStep::kRead ? CacheFault::kDamaged : CacheFault::kSuspect;
}

const char* CacheFaultName(CacheFault fault) {
  switch (fault) {
    case CacheFault::kNone: return "none";
    case CacheFault::kDamaged: return "damaged";
    case CacheFault::kSuspect: return "suspect";
    case CacheFault::kNoSpace: return "no-space";
  }
  return "?";
}

Status CheckCacheLayout(const std::string& path) {
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);  // a symlink to a directory is fine
  if (ec || !fs::exists(st)) return FailedPrecondition(path + ": does not exist");
  if (!fs::is_directory(st)) return FailedPrecondition(path + ": is not a directory");
  for (const char* sub : {"objects", "objects/pack", "refs"}) {
    if (!fs::is_directory(fs::path(path) / sub, ec)) {
      return FailedPrecondition(path + ": " + sub + " is missing or not a directory");
    }
  }
  return OkStatus();
}

GitFailure CaptureGitFailure(GitStep step, int code) {
  GitFailure f;
  f.os_errno = errno;
  f.step = step;
  f.code = code;
  const git_error* e = git_error_last();
  f.klass = e ? e->klass : 0;
  // libgit2 1.5 keeps no errno (it is usually gone by the time the call
  // returns); its OS errors end with strerror(errno), so that is where a
  // full disk is recovered from.
  if (f.klass == GIT_ERROR_OS && e && e->message && f.os_errno != ENOSPC && f.os_errno != EDQUOT) {
    const std::string msg = e->message;
    for (int candidate : {ENOSPC, EDQUOT}) {
      const std::string suffix = std::string(": ") + std::strerror(candidate);
      if (msg.size() >= suffix.size() && msg.compare(msg.size() - suffix.size(), suffix.size(), suffix) == 0) {
        f.os_errno = candidate;
      }
    }
  }
  return f;
}

int ReadReferenceTarget(git_reference* ref, git_object** out) {
  *out = nullptr;
  Owned<git_reference, git_reference_free> direct;
  int rc = git_reference_resolve(&direct.p, ref);
  if (rc != 0) return rc;
  rc = git_object_lookup(out, git_reference_owner(ref), git_reference_target(direct.p), GIT_OBJECT_ANY);
  while (rc == 0 && git_object_type(*out) == GIT_OBJECT_TAG) {
    git_object* target = nullptr;
    rc = git_tag_target(&target, reinterpret_cast<git_tag*>(*out));
    git_object_free(*out);
    *out = target;
  }
  if (rc != 0 && *out) {
    git_object_free(*out);
    *out = nullptr;
  }
  return rc;
}

Status CheckCacheRef(git_repository* repo, const std::string& path, const std::string& refname,
                     GitStep step, GitFailure* why) {
  Owned<git_reference, git_reference_free> ref;
  Owned<git_object, git_object_free> target;
  Owned<git_tree, git_tree_free> tree;
  int rc = git_reference_lookup(&ref.p, repo, refname.c_str());
  if (rc == GIT_ENOTFOUND) return OkStatus();
  if (rc == 0) rc = ReadReferenceTarget(ref.p, &target.p);
  if (rc == 0 && git_object_type(target.p) == GIT_OBJECT_COMMIT) {
    rc = git_commit_tree(&tree.p, reinterpret_cast<git_commit*>(target.p));
  }
  if (rc == 0) return OkStatus();
  GitFailure f = CaptureGitFailure(step, rc);
  if (why) *why = f;
  return FailedPrecondition(path + ": " + refname + ": " + LastGitMessage());
}

Status CheckCacheHealth(const std::string& path) {
  RETURN_IF_ERROR(CheckCacheLayout(path));
  Owned<git_repository, git_repository_free> repo;
  if (git_repository_open_bare(&repo.p, path.c_str()) != 0) {
    return FailedPrecondition(path + ": cannot be opened: " + LastGitMessage());
  }
  Owned<git_reference, git_reference_free> head;
  if (git_reference_lookup(&head.p, repo.p, "HEAD") != 0) {
    return FailedPrecondition(path + ": HEAD: " + LastGitMessage());
  }
  // Loose refs one by one: libgit2's iterator skips those that do not parse.
  std::error_code ec;
  for (fs::recursive_directory_iterator it(fs::path(path) / "refs", ec), end; !ec && it != end;
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    RETURN_IF_ERROR(CheckCacheRef(repo.p, path, fs::relative(it->path(), path, ec).string(), GitStep::kRead));
  }
  if (ec) return FailedPrecondition(path + ": cannot list refs/: " + ec.message());
  // Packed refs (and the loose ones again).
  Owned<git_reference_iterator, git_reference_iterator_free> it;
  if (git_reference_iterator_new(&it.p, repo.p) != 0) {
    return FailedPrecondition(path + ": cannot list references: " + LastGitMessage());
  }
  for (;;) {
    const char* name = nullptr;
    int rc = git_reference_next_name(&name, it.p);
    if (rc == GIT_ITEROVER) break;
    if (rc != 0) return FailedPrecondition(path + ": cannot list references: " + LastGitMessage());
    RETURN_IF_ERROR(CheckCacheRef(repo.p, path, name, GitStep::kRead));
  }
  return OkStatus();
}

}  // namespace stackctl::gitsource
