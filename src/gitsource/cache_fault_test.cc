// The cache-fault table and the cache checks (on repositories made with the
// git CLI in a temp dir).
#include "gitsource/cache_fault.h"

#include <git2.h>
#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace stackctl::gitsource {
namespace {

namespace fs = std::filesystem;

GitFailure Failure(GitStep step, int code, int klass, int os_errno = 0, bool remote_side = false) {
  GitFailure f;
  f.step = step;
  f.code = code;
  f.klass = klass;
  f.os_errno = os_errno;
  f.remote_side = remote_side;
  return f;
}

struct Row {
  const char* what;
  GitFailure failure;
  CacheFault want;
};

TEST(ClassifyGitFailureTest, Table) {
  using S = GitStep;
  const Row rows[] = {
      // The remote's side, whatever the step.
      {"credentials rejected", Failure(S::kFetch, GIT_EAUTH, GIT_ERROR_NET), CacheFault::kNone},
      {"credentials callback", Failure(S::kFetch, GIT_EUSER, 0, 0, true), CacheFault::kNone},
      {"callback, odb class", Failure(S::kFetch, GIT_ERROR, GIT_ERROR_ODB, 0, true), CacheFault::kNone},
      {"certificate", Failure(S::kFetch, GIT_ECERTIFICATE, GIT_ERROR_SSL), CacheFault::kNone},
      {"connection refused", Failure(S::kFetch, GIT_ERROR, GIT_ERROR_NET), CacheFault::kNone},
      {"http 404", Failure(S::kFetch, GIT_ERROR, GIT_ERROR_HTTP), CacheFault::kNone},
      {"tls", Failure(S::kFetch, GIT_ERROR, GIT_ERROR_SSL), CacheFault::kNone},
      {"ssh", Failure(S::kFetch, GIT_ERROR, GIT_ERROR_SSH), CacheFault::kNone},
      {"callback", Failure(S::kFetch, GIT_EUSER, GIT_ERROR_CALLBACK), CacheFault::kNone},
      {"out of memory", Failure(S::kRead, GIT_ERROR, GIT_ERROR_NOMEMORY), CacheFault::kNone},
      {"net class at open", Failure(S::kOpen, GIT_ERROR, GIT_ERROR_NET), CacheFault::kNone},
      // Disk full, wherever it happens: said so, never rebuilt.
      {"ENOSPC on fetch", Failure(S::kFetch, GIT_ERROR, GIT_ERROR_OS, ENOSPC), CacheFault::kNoSpace},
      {"EDQUOT on fetch", Failure(S::kFetch, GIT_ERROR, GIT_ERROR_OS, EDQUOT), CacheFault::kNoSpace},
      {"ENOSPC on init", Failure(S::kOpen, GIT_ERROR, GIT_ERROR_OS, ENOSPC), CacheFault::kNoSpace},
      {"ENOSPC, odb class", Failure(S::kFetch, GIT_ERROR, GIT_ERROR_ODB, ENOSPC), CacheFault::kSuspect},
      // Opening the cache touches nothing else.
      {"not a repository", Failure(S::kOpen, GIT_ENOTFOUND, GIT_ERROR_REPOSITORY), CacheFault::kDamaged},
      {"corrupt HEAD", Failure(S::kOpen, GIT_ERROR, GIT_ERROR_REFERENCE), CacheFault::kDamaged},
      {"layout check", Failure(S::kOpen, 0, 0), CacheFault::kDamaged},
      {"tracked ref object", Failure(S::kOpen, GIT_ENOTFOUND, GIT_ERROR_ODB), CacheFault::kDamaged},
      {"open, EACCES", Failure(S::kOpen, GIT_ERROR, GIT_ERROR_OS, EACCES), CacheFault::kDamaged},
      // Reading what the cache claims to have.
      {"object a ref names", Failure(S::kRead, GIT_ENOTFOUND, GIT_ERROR_ODB), CacheFault::kDamaged},
      {"zlib", Failure(S::kRead, GIT_ERROR, GIT_ERROR_ZLIB), CacheFault::kDamaged},
      {"broken ref", Failure(S::kRead, GIT_ERROR, GIT_ERROR_REFERENCE), CacheFault::kDamaged},
      {"object type", Failure(S::kRead, GIT_ERROR, GIT_ERROR_OBJECT), CacheFault::kDamaged},
      {"tree", Failure(S::kRead, GIT_ERROR, GIT_ERROR_TREE), CacheFault::kDamaged},
      {"read, os", Failure(S::kRead, GIT_ERROR, GIT_ERROR_OS, EIO), CacheFault::kDamaged},
      {"read, invalid", Failure(S::kRead, GIT_EINVALIDSPEC, GIT_ERROR_INVALID), CacheFault::kNone},
      // Fetching: a file:// remote's own repository fails in the same classes.
      {"fetch, ref target missing", Failure(S::kFetch, GIT_ERROR, GIT_ERROR_REFERENCE), CacheFault::kSuspect},
      {"fetch, temp pack", Failure(S::kFetch, GIT_ERROR, GIT_ERROR_OS, ENOENT), CacheFault::kSuspect},
      {"fetch, object missing", Failure(S::kFetch, GIT_ENOTFOUND, GIT_ERROR_ODB), CacheFault::kSuspect},
      {"fetch, no repository", Failure(S::kFetch, GIT_ENOTFOUND, GIT_ERROR_REPOSITORY), CacheFault::kSuspect},
      {"fetch, indexer", Failure(S::kFetch, GIT_ERROR, GIT_ERROR_INDEXER), CacheFault::kSuspect},
      {"fetch, filesystem", Failure(S::kFetch, GIT_ERROR, GIT_ERROR_FILESYSTEM), CacheFault::kSuspect},
      {"fetch, invalid", Failure(S::kFetch, GIT_ERROR, GIT_ERROR_INVALID), CacheFault::kNone},
      {"fetch, no class", Failure(S::kFetch, GIT_ERROR, 0), CacheFault::kNone},
      {"nothing failed in libgit2", GitFailure{}, CacheFault::kNone},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(ClassifyGitFailure(row.failure), row.want)
        << row.what << ": got " << CacheFaultName(ClassifyGitFailure(row.failure)) << ", want "
        << CacheFaultName(row.want);
  }
}

TEST(CaptureGitFailureTest, ReadsClassCodeAndFullDisk) {
  git_libgit2_init();
  git_error_set_str(GIT_ERROR_OS, (std::string("cannot extend packfile '/c/r.git/objects/pack/p': ") +
                                   std::strerror(ENOSPC)).c_str());
  errno = 0;
  GitFailure f = CaptureGitFailure(GitStep::kFetch, GIT_ERROR);
  EXPECT_EQ(f.step, GitStep::kFetch);
  EXPECT_EQ(f.code, GIT_ERROR);
  EXPECT_EQ(f.klass, GIT_ERROR_OS);
  EXPECT_EQ(f.os_errno, ENOSPC);
  EXPECT_EQ(ClassifyGitFailure(f), CacheFault::kNoSpace);

  git_error_set_str(GIT_ERROR_OS, (std::string("failed to write: ") + std::strerror(EDQUOT)).c_str());
  EXPECT_EQ(CaptureGitFailure(GitStep::kFetch, GIT_ERROR).os_errno, EDQUOT);

  // Another OS error; and the same words in another class mean nothing.
  git_error_set_str(GIT_ERROR_OS, (std::string("failed to create temporary file: ") + std::strerror(ENOENT)).c_str());
  errno = ENOENT;
  f = CaptureGitFailure(GitStep::kFetch, GIT_ERROR);
  EXPECT_EQ(f.os_errno, ENOENT);
  EXPECT_EQ(ClassifyGitFailure(f), CacheFault::kSuspect);
  git_error_set_str(GIT_ERROR_NET, (std::string("remote said: ") + std::strerror(ENOSPC)).c_str());
  errno = 0;
  f = CaptureGitFailure(GitStep::kFetch, GIT_ERROR);
  EXPECT_EQ(f.klass, GIT_ERROR_NET);
  EXPECT_EQ(f.os_errno, 0);
  EXPECT_EQ(ClassifyGitFailure(f), CacheFault::kNone);
  git_libgit2_shutdown();
}

std::string Sh(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  EXPECT_EQ(pclose(p), 0) << cmd << ": " << out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class CacheHealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    git_libgit2_init();
    char tmpl[] = "/tmp/cache_fault_test.XXXXXX";
    root_ = mkdtemp(tmpl);
    cache_ = root_ + "/r.git";
    Sh("git init -q -b main " + root_ + "/work && cd " + root_ +
       "/work && echo a > a && git add a && git -c user.name=t -c user.email=t@t commit -qm one");
    Sh("git init -q --bare " + cache_ + " && git -C " + cache_ + " fetch -q " + root_ +
       "/work +refs/heads/main:refs/remotes/origin/main && git -C " + cache_ + " repack -qad");
  }
  void TearDown() override {
    fs::remove_all(root_);
    git_libgit2_shutdown();
  }
  std::string root_, cache_;
};

TEST_F(CacheHealthTest, HealthyCache) {
  EXPECT_EQ(CheckCacheLayout(cache_), OkStatus());
  EXPECT_EQ(CheckCacheHealth(cache_), OkStatus());
}

TEST_F(CacheHealthTest, LayoutProblems) {
  EXPECT_EQ(CheckCacheHealth(root_ + "/nope.git"),
            FailedPrecondition(root_ + "/nope.git: does not exist"));
  fs::remove_all(cache_ + "/objects/pack");
  EXPECT_EQ(CheckCacheLayout(cache_),
            FailedPrecondition(cache_ + ": objects/pack is missing or not a directory"));
  fs::remove_all(cache_);
  std::ofstream(cache_) << "not a repository\n";
  EXPECT_EQ(CheckCacheHealth(cache_), FailedPrecondition(cache_ + ": is not a directory"));
}

TEST_F(CacheHealthTest, GarbageInHead) {
  std::ofstream(cache_ + "/HEAD") << "garbage\n";
  EXPECT_EQ(CheckCacheLayout(cache_), OkStatus());
  Status st = CheckCacheHealth(cache_);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_EQ(st.message().rfind(cache_ + ": HEAD: ", 0), 0u) << st.message();
}

TEST_F(CacheHealthTest, GarbageInALooseRef) {
  fs::create_directories(cache_ + "/refs/tags");
  std::ofstream(cache_ + "/refs/tags/v1") << "garbage\n";
  Status st = CheckCacheHealth(cache_);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_EQ(st.message().rfind(cache_ + ": refs/tags/v1: ", 0), 0u) << st.message();
}

TEST_F(CacheHealthTest, RefNamesAMissingObject) {
  for (const auto& e : fs::directory_iterator(cache_ + "/objects/pack")) fs::remove(e.path());
  Status st = CheckCacheHealth(cache_);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_EQ(st.message().rfind(cache_ + ": refs/remotes/origin/main: ", 0), 0u) << st.message();

  git_repository* repo = nullptr;
  ASSERT_EQ(git_repository_open_bare(&repo, cache_.c_str()), 0);
  GitFailure why;
  st = CheckCacheRef(repo, cache_, "refs/remotes/origin/main", GitStep::kOpen, &why);
  EXPECT_EQ(st.message().rfind(cache_ + ": refs/remotes/origin/main: ", 0), 0u) << st.message();
  EXPECT_EQ(why.step, GitStep::kOpen);
  EXPECT_EQ(why.code, GIT_ENOTFOUND);
  EXPECT_EQ(why.klass, GIT_ERROR_ODB);
  EXPECT_EQ(ClassifyGitFailure(why), CacheFault::kDamaged);
  // An absent ref is not damage.
  EXPECT_EQ(CheckCacheRef(repo, cache_, "refs/tags/none", GitStep::kOpen, &why), OkStatus());
  git_repository_free(repo);
}

TEST_F(CacheHealthTest, TruncatedPack) {
  for (const auto& e : fs::directory_iterator(cache_ + "/objects/pack")) {
    if (e.path().extension() == ".pack") fs::resize_file(e.path(), fs::file_size(e.path()) / 2);
  }
  Status st = CheckCacheHealth(cache_);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_EQ(st.message().rfind(cache_ + ": refs/remotes/origin/main: ", 0), 0u) << st.message();
}

}  // namespace
}  // namespace stackctl::gitsource
