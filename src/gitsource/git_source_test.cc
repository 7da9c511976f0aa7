// GitSource against file:// repositories made with the git CLI in a temp dir
// (hermetic: no network). Servers (git://, http://) are covered by
// tests/integration/gitsource_test.cc.
#include "gitsource/git_source.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gitsource/cache_fault.h"

namespace stackctl::gitsource {
namespace {

namespace fs = std::filesystem;

std::string Sh(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int rc = pclose(p);
  EXPECT_EQ(rc, 0) << cmd << ": " << out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class GitSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gitsource_test.XXXXXX";
    root_ = mkdtemp(tmpl);
    work_ = root_ + "/work";
    Sh("git init -q -b main " + work_);
    Git("config user.name Tester");
    Git("config user.email tester@example.com");
    Git("config commit.gpgsign false");
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string Git(const std::string& args) { return Sh("git -C " + work_ + " " + args); }
  void Write(const std::string& path, const std::string& content) {
    fs::create_directories(fs::path(work_ + "/" + path).parent_path());
    std::ofstream(work_ + "/" + path) << content;
  }
  std::string Commit(const std::string& msg) {
    Git("add -A");
    Git("commit -q -m '" + msg + "'");
    return Git("rev-parse HEAD");
  }
  std::unique_ptr<GitSource> Make(RefKind kind, const std::string& ref,
                                  const std::string& name = "infra") {
    RemoteSpec spec;
    spec.name = name;
    spec.url = "file://" + work_;
    spec.kind = kind;
    spec.ref = ref;
    auto src = GitSource::Create(
        spec, root_ + "/cache",
        [this](const std::string& repo, const std::string& result) {
          observed_.push_back(repo + ":" + result);
        },
        [this](const std::string& repo, const std::string& reason) {
          rebuilds_.push_back(repo + ": " + reason);
        });
    EXPECT_TRUE(src.ok()) << src.status().ToString();
    return std::move(src).value();
  }

  std::string root_, work_;
  std::vector<std::string> observed_;
  std::vector<std::string> rebuilds_;  // "repo: reason"
};

TEST_F(GitSourceTest, ResolveFetchReadAndChangedPaths) {
  Write("stacks/web/docker-compose.yml", "services: {web: {image: nginx}}\n");
  Write("stacks/db/docker-compose.yml", "services: {db: {image: postgres}}\n");
  Write("README.md", "hello\n");
  std::string c1 = Commit("first commit\n\nbody text");
  auto src = Make(RefKind::kBranch, "main");

  auto head = src->ResolveRemote();
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(*head, c1);
  auto snap = src->Fetch(*head);
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ(snap->info().commit, c1);
  EXPECT_EQ(snap->info().summary, "first commit");
  EXPECT_EQ(snap->info().author, "Tester <tester@example.com>");
  EXPECT_GT(snap->info().time, 0);
  auto web = snap->Files("stacks/web");
  EXPECT_EQ(*web->Read("docker-compose.yml"), "services: {web: {image: nginx}}\n");
  EXPECT_EQ(*web->Read("../../README.md"), "hello\n");
  EXPECT_TRUE(web->Exists("docker-compose.yml"));
  EXPECT_FALSE(web->Exists("nope.yml"));
  EXPECT_FALSE(snap->Files("")->Exists("stacks"));
  EXPECT_EQ(web->Read("nope.yml").status(),
            NotFound("stacks/web/nope.yml: no such file at commit " + c1.substr(0, 12)));
  EXPECT_EQ(snap->Files("")->Read("stacks/web").status(),
            InvalidArgument("stacks/web: is a directory at commit " + c1.substr(0, 12)));
  EXPECT_TRUE(fs::exists(root_ + "/cache/infra.git/HEAD"));
  EXPECT_FALSE(fs::exists(root_ + "/cache/infra.git/stacks"));

  // A new push: ResolveRemote sees it; the old snapshot still reads the old files.
  Write("stacks/web/docker-compose.yml", "services: {web: {image: nginx:2}}\n");
  Write("stacks/web/nginx.conf", "x\n");
  std::string c2 = Commit("second");
  EXPECT_EQ(*src->ResolveRemote(), c2);
  auto snap2 = src->Fetch(c2);
  ASSERT_TRUE(snap2.ok()) << snap2.status().ToString();
  EXPECT_EQ(*snap2->Files("stacks/web")->Read("docker-compose.yml"),
            "services: {web: {image: nginx:2}}\n");
  EXPECT_EQ(*web->Read("docker-compose.yml"), "services: {web: {image: nginx}}\n");

  auto changed = src->ChangedPaths(c1, c2);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_EQ(*changed, (std::vector<std::string>{"stacks/web/docker-compose.yml",
                                                "stacks/web/nginx.conf"}));
  EXPECT_TRUE(AnyChangedUnder(*changed, "stacks/web"));
  EXPECT_FALSE(AnyChangedUnder(*changed, "stacks/db"));
  EXPECT_EQ(*src->ChangedPaths("", c1),
            (std::vector<std::string>{"README.md", "stacks/db/docker-compose.yml",
                                      "stacks/web/docker-compose.yml"}));
  EXPECT_EQ(src->ChangedPaths(c2, std::string(40, 'a')).status(),
            NotFound("git diff file://" + work_ + ": commit \"" + std::string(40, 'a') +
                     "\" is not in the cache (fetch it first)"));
  EXPECT_EQ(observed_, (std::vector<std::string>{"infra:success", "infra:success",
                                                 "infra:success", "infra:success"}));
}

TEST_F(GitSourceTest, CachedCommitNeedsNoServerAndRenamesAreBothPaths) {
  Write("a.yml", "a\n");
  std::string c1 = Commit("one");
  Git("mv a.yml b.yml");
  std::string c2 = Commit("two");
  auto src = Make(RefKind::kBranch, "main");
  ASSERT_TRUE(src->Fetch("").ok());
  fs::remove_all(work_);
  auto snap = src->Fetch(c1);  // history came with the branch
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ(*snap->Files("")->Read("a.yml"), "a\n");
  EXPECT_EQ(*src->ChangedPaths(c1, c2), (std::vector<std::string>{"a.yml", "b.yml"}));
  // Re-created source over the same cache still works offline.
  src.reset();
  auto again = Make(RefKind::kBranch, "main");
  EXPECT_EQ(again->Fetch(c2)->commit(), c2);
}

TEST_F(GitSourceTest, ConcurrentFetchesAndReads) {
  std::vector<std::string> commits;
  for (int i = 0; i < 4; ++i) {
    Write("f.txt", std::to_string(i));
    commits.push_back(Commit("c" + std::to_string(i)));
  }
  auto src = Make(RefKind::kBranch, "main");
  auto snap = src->Fetch("");
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  auto files = snap->Files("");
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        auto s = src->Fetch(commits[(t + i) % 4]);
        if (!s.ok() || *s->Files("")->Read("f.txt") != std::to_string((t + i) % 4)) ++failures;
        if (*files->Read("f.txt") != "3") ++failures;
        if (!src->ChangedPaths(commits[0], commits[3]).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(GitSourceTest, TagsAnnotatedAndLightweight) {
  Write("a", "1");
  std::string c1 = Commit("one");
  Git("tag -a v1 -m release");
  Write("a", "2");
  std::string c2 = Commit("two");
  Git("tag v2");
  auto v1 = Make(RefKind::kTag, "v1");
  EXPECT_EQ(*v1->ResolveRemote(), c1);
  EXPECT_EQ(v1->Fetch("")->commit(), c1);
  auto v2 = Make(RefKind::kTag, "v2", "other");
  EXPECT_EQ(*v2->ResolveRemote(), c2);
  EXPECT_EQ(*v2->Fetch("v2")->Files("")->Read("a"), "2");
}

TEST_F(GitSourceTest, PinnedCommitAndOtherRevisions) {
  Write("a", "1");
  std::string c1 = Commit("one");
  Git("checkout -q -b feature");
  Write("a", "feature");
  std::string cf = Commit("feature work");
  Git("checkout -q main");
  auto pinned = Make(RefKind::kCommit, c1);
  EXPECT_EQ(*pinned->ResolveRemote(), c1);
  EXPECT_EQ(pinned->Fetch(c1)->commit(), c1);
  // A branch that is not the configured one, and an abbreviated id.
  auto main = Make(RefKind::kBranch, "main", "main");
  EXPECT_EQ(main->Fetch("feature")->commit(), cf);
  EXPECT_EQ(main->Fetch(cf.substr(0, 10))->commit(), cf);
  EXPECT_EQ(main->Fetch("nope").status(),
            NotFound("git fetch file://" + work_ + ": revision \"nope\" not found"));
  EXPECT_EQ(main->Fetch("HEAD@{1}").status(),
            InvalidArgument("git fetch file://" + work_ + ": invalid revision \"HEAD@{1}\""));
}

TEST_F(GitSourceTest, UnknownBranchAndMissingRepository) {
  Write("a", "1");
  Commit("one");
  auto src = Make(RefKind::kBranch, "release");
  EXPECT_EQ(src->ResolveRemote().status(),
            NotFound("git ls-remote file://" + work_ + ": branch \"release\" not found"));
  EXPECT_EQ(observed_, (std::vector<std::string>{"infra:error"}));

  RemoteSpec spec{"gone", "file://" + root_ + "/missing", RefKind::kBranch, "main", {}};
  auto gone = GitSource::Create(spec, root_ + "/cache").value();
  Status st = gone->ResolveRemote().status();
  EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();
  EXPECT_EQ(st.message().rfind("git ls-remote file://" + root_ + "/missing: ", 0), 0u)
      << st.message();
  st = gone->Fetch("").status();
  EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();
  EXPECT_EQ(st.message().rfind("git fetch file://" + root_ + "/missing: ", 0), 0u)
      << st.message();
  EXPECT_EQ(src->Fetch("").status(),
            NotFound("git fetch file://" + work_ + ": revision \"release\" not found"));
  EXPECT_EQ(rebuilds_, std::vector<std::string>{});  // remote errors are not damage
}

// Damage done to the cache between two operations, as a crash during a
// repack, a full disk or a stray command can leave it.
struct Damage {
  const char* name;
  void (*apply)(const std::string& cache);
  // The reason given for the rebuild ("" + cache path prefix when it carries
  // libgit2's own words).
  std::string (*reason)(const std::string& cache);
  bool reason_is_prefix;
};

void ForEachPack(const std::string& cache, void (*f)(const fs::path&)) {
  int packs = 0;
  for (const auto& e : fs::directory_iterator(cache + "/objects/pack")) {
    if (e.path().extension() == ".pack") {
      f(e.path());
      ++packs;
    }
  }
  ASSERT_GT(packs, 0) << "no pack in " << cache;
}

void RemoveObjects(const std::string& cache) {
  fs::remove_all(cache + "/objects/pack");
  for (const auto& e : fs::directory_iterator(cache + "/objects")) {
    if (e.path().filename().string().size() == 2) fs::remove_all(e.path());
  }
}

const Damage kDamages[] = {
    {"PackFolderAndLooseObjectsRemoved", RemoveObjects,
     [](const std::string& c) { return c + ": objects/pack is missing or not a directory"; }, false},
    {"PackFilesRemoved",
     [](const std::string& c) {
       for (const auto& e : fs::directory_iterator(c + "/objects/pack")) fs::remove(e.path());
     },
     [](const std::string& c) { return c + ": refs/remotes/origin/main: "; }, true},
    {"PackTruncated",
     [](const std::string& c) {
       ForEachPack(c, [](const fs::path& p) { fs::resize_file(p, fs::file_size(p) / 2); });
     },
     [](const std::string& c) { return c + ": refs/remotes/origin/main: "; }, true},
    {"GarbageInHead", [](const std::string& c) { std::ofstream(c + "/HEAD") << "garbage\n"; },
     [](const std::string& c) { return c + ": HEAD: "; }, true},
    {"GarbageInTrackedRef",
     [](const std::string& c) { std::ofstream(c + "/refs/remotes/origin/main") << "garbage\n"; },
     [](const std::string& c) { return c + ": refs/remotes/origin/main: "; }, true},
    {"FolderReplacedByFile",
     [](const std::string& c) {
       fs::remove_all(c);
       std::ofstream(c) << "not a repository\n";
     },
     [](const std::string& c) { return c + ": is not a directory"; }, false},
};

class CacheDamageTest : public GitSourceTest, public ::testing::WithParamInterface<Damage> {};

// Damaged between two fetches: the next fetch moves the cache aside, clones
// again, succeeds, removes the damaged copy, and counts one rebuild; the one
// after that counts none.
TEST_P(CacheDamageTest, RebuildsOnceAndRecovers) {
  const Damage& damage = GetParam();
  Write("stacks/web/a.yml", "one\n");
  std::string c1 = Commit("one");
  auto src = Make(RefKind::kBranch, "main");
  ASSERT_TRUE(src->Fetch(c1).ok());
  const std::string cache = src->cache_path();

  damage.apply(cache);
  Write("stacks/web/a.yml", "two\n");
  std::string c2 = Commit("two");
  auto snap = src->Fetch(c2);
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ(snap->commit(), c2);
  EXPECT_EQ(*snap->Files("stacks/web")->Read("a.yml"), "two\n");
  ASSERT_EQ(rebuilds_.size(), 1u);
  const std::string want = "infra: " + damage.reason(cache);
  if (damage.reason_is_prefix) {
    EXPECT_EQ(rebuilds_[0].rfind(want, 0), 0u) << rebuilds_[0];
  } else {
    EXPECT_EQ(rebuilds_[0], want);
  }
  EXPECT_FALSE(fs::exists(src->DamagedPath()));
  EXPECT_EQ(CheckCacheHealth(cache), OkStatus());
  // The branch's history came with the clone.
  EXPECT_EQ(*src->ChangedPaths(c1, c2), std::vector<std::string>{"stacks/web/a.yml"});
  EXPECT_EQ(src->Fetch(c1)->commit(), c1);
  EXPECT_EQ(rebuilds_.size(), 1u);
}

// A cached commit needs no fetch, but the damage is still found.
TEST_P(CacheDamageTest, CachedCommitRebuildsToo) {
  Write("a.yml", "one\n");
  std::string c1 = Commit("one");
  auto src = Make(RefKind::kBranch, "main");
  ASSERT_TRUE(src->Fetch(c1).ok());
  GetParam().apply(src->cache_path());
  auto snap = src->Fetch(c1);
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ(*snap->Files("")->Read("a.yml"), "one\n");
  EXPECT_EQ(rebuilds_.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Damages, CacheDamageTest, ::testing::ValuesIn(kDamages),
                         [](const auto& info) { return std::string(info.param.name); });

// Objects of the commit's tree lost while its ref and commit stay readable:
// found when the commit is read, not only when a ref is.
TEST_F(GitSourceTest, LostTreeObjectIsDamage) {
  Write("a.yml", "one\n");
  Write("b.yml", "b\n");
  std::string c1 = Commit("one");
  auto src = Make(RefKind::kBranch, "main");
  ASSERT_TRUE(src->Fetch(c1).ok());
  const std::string cache = src->cache_path();
  // Unpack into loose objects, then lose the blob of b.yml only.
  Sh("cd " + cache + " && mkdir -p ../unpacked && mv objects/pack/*.pack ../unpacked/p.pack && "
     "rm -f objects/pack/* && git unpack-objects -q < ../unpacked/p.pack && rm -rf ../unpacked");
  std::string blob = Git("rev-parse HEAD:b.yml");
  fs::remove(cache + "/objects/" + blob.substr(0, 2) + "/" + blob.substr(2));
  auto snap = src->Fetch(c1);
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ(*snap->Files("")->Read("b.yml"), "b\n");
  ASSERT_EQ(rebuilds_.size(), 1u);
  EXPECT_EQ(rebuilds_[0].rfind("infra: git fetch file://" + work_ + ": Git cache " + cache + ": commit " +
                                   c1 + ": ",
                               0),
            0u)
      << rebuilds_[0];
}

// A ref the open check does not look at (another branch) is damaged: the
// fetch that updates it fails (a reference error, which a file:// remote could
// cause too), and the full check of the cache finds the ref.
TEST_F(GitSourceTest, DamagedRefOfAnotherBranchIsFoundByTheFullCheck) {
  Write("a", "1");
  Commit("one");
  Git("checkout -q -b feature");
  Write("a", "feature");
  std::string cf = Commit("feature work");
  Git("checkout -q main");
  auto src = Make(RefKind::kBranch, "main");
  ASSERT_EQ(src->Fetch("feature")->commit(), cf);
  std::ofstream(src->cache_path() + "/refs/remotes/origin/feature") << "garbage\n";
  auto snap = src->Fetch("feature");
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ(snap->commit(), cf);
  ASSERT_EQ(rebuilds_.size(), 1u);
  EXPECT_EQ(rebuilds_[0].rfind("infra: " + src->cache_path() + ": refs/remotes/origin/feature: ", 0), 0u)
      << rebuilds_[0];
}

// When cloning again fails, the remote's error is returned and the next call
// does not clone again (the new, empty cache is healthy); the damaged copy
// stays until the cache works again.
TEST_F(GitSourceTest, FailedCloneReportsTheRemoteErrorWithoutLooping) {
  Write("a.yml", "one\n");
  std::string c1 = Commit("one");
  auto src = Make(RefKind::kBranch, "main");
  ASSERT_TRUE(src->Fetch(c1).ok());
  fs::remove_all(src->cache_path());
  std::ofstream(src->cache_path()) << "x";
  fs::rename(work_, root_ + "/moved");  // the remote is gone

  const std::string prefix = "git fetch file://" + work_ + ": ";
  Status st = src->Fetch(c1).status();
  EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();
  EXPECT_EQ(st.message().rfind(prefix, 0), 0u) << st.message();
  EXPECT_EQ(rebuilds_, std::vector<std::string>{"infra: " + src->cache_path() + ": is not a directory"});
  EXPECT_TRUE(fs::is_regular_file(src->DamagedPath()));
  st = src->Fetch(c1).status();
  EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();
  EXPECT_EQ(st.message().rfind(prefix, 0), 0u) << st.message();
  EXPECT_EQ(rebuilds_.size(), 1u);

  fs::rename(root_ + "/moved", work_);
  EXPECT_EQ(src->Fetch(c1)->commit(), c1);
  EXPECT_EQ(rebuilds_.size(), 1u);
  EXPECT_FALSE(fs::exists(src->DamagedPath()));
}

// A file:// remote whose own objects are gone fails in the classes a damaged
// cache would (object database, references): the cache is checked, found
// healthy, and kept.
TEST_F(GitSourceTest, BrokenLocalRemoteIsNotCacheDamage) {
  Write("a.yml", "one\n");
  std::string c1 = Commit("one");
  auto src = Make(RefKind::kBranch, "main");
  ASSERT_TRUE(src->Fetch(c1).ok());
  std::ofstream(src->cache_path() + "/marker") << "kept";  // a rebuild would lose it
  Write("a.yml", "two\n");
  std::string c2 = Commit("two");
  Sh("rm -rf " + work_ + "/.git/objects/pack " + work_ + "/.git/objects/??");
  Status st = src->Fetch(c2).status();
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.message().rfind("git fetch file://" + work_ + ": ", 0), 0u) << st.message();
  EXPECT_EQ(rebuilds_, std::vector<std::string>{});
  EXPECT_FALSE(fs::exists(src->DamagedPath()));
  EXPECT_TRUE(fs::exists(src->cache_path() + "/marker"));
  EXPECT_EQ(src->Fetch(c1)->commit(), c1);  // the cache still serves what it had
}

// A fetch that runs out of space on the cache's device says so plainly, and
// the cache is neither counted as damaged nor moved. The cache is copied to a
// 256 KiB tmpfs mounted in a private mount namespace of a child process
// (needs root: CI and scripts/test.sh run as root), which reports back
// through a pipe.
TEST_F(GitSourceTest, FetchOntoAFullDeviceSaysSoAndKeepsTheCache) {
  if (geteuid() != 0) {
    if (std::getenv("CI") && std::string(std::getenv("CI")) == "true")
      FAIL() << "needs root to mount a tmpfs";
    GTEST_SKIP() << "needs root to mount a small tmpfs in a private mount namespace";
  }
  Write("a.yml", "one\n");
  const std::string c1 = Commit("one");
  ASSERT_TRUE(Make(RefKind::kBranch, "main")->Fetch(c1).ok());  // a small cache, on the disk
  // Then 1 MiB that does not compress (libgit2's file:// transport sends
  // every branch, so the next fetch brings it).
  Sh("head -c 1048576 /dev/urandom > " + work_ + "/big.bin");
  const std::string c2 = Commit("big");
  const std::string small = root_ + "/small";
  fs::create_directories(small);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // the child: no gtest assertions, one report line per result
    close(fds[0]);
    auto say = [&](const std::string& line) {
      std::string l = line + "\n";
      if (write(fds[1], l.data(), l.size()) < 0) _exit(2);
    };
    if (unshare(CLONE_NEWNS) != 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tmpfs", small.c_str(), "tmpfs", 0, "size=256k") != 0) {
      say(std::string("setup: ") + std::strerror(errno));
      _exit(1);
    }
    std::error_code ec;
    fs::copy(root_ + "/cache/infra.git", small + "/infra.git", fs::copy_options::recursive, ec);
    if (ec) {
      say("copy: " + ec.message());
      _exit(1);
    }
    int rebuilds = 0;
    RemoteSpec spec{"infra", "file://" + work_, RefKind::kBranch, "main", {}, ""};
    auto src = GitSource::Create(spec, small, nullptr,
                                 [&](const std::string&, const std::string&) { ++rebuilds; });
    if (!src.ok()) {
      say("create: " + src.status().ToString());
      _exit(1);
    }
    say("c2 " + (*src)->Fetch(c2).status().ToString());
    say("rebuilds " + std::to_string(rebuilds));
    say(std::string("damaged copy ") + (fs::exists((*src)->DamagedPath()) ? "exists" : "absent"));
    Result<Snapshot> cached = (*src)->Fetch(c1);
    say("c1 " + (cached.ok() ? *cached->Files("")->Read("a.yml") : cached.status().ToString()));
    _exit(0);
  }
  close(fds[1]);
  std::string report;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
    report.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << report;
  const std::string prefix = "c2 UNAVAILABLE: git fetch file://" + work_ +
                             ": no space left on the device of the Git cache " + small +
                             "/infra.git (";
  EXPECT_EQ(report.rfind(prefix, 0), 0u) << report;
  EXPECT_NE(report.find(std::string(": ") + std::strerror(ENOSPC) + ")\n"), std::string::npos)
      << report;  // libgit2's own words, kept
  // Not damage: nothing moved aside or cloned, and the cache still serves what it had.
  EXPECT_NE(report.find(")\nrebuilds 0\ndamaged copy absent\nc1 one\n"), std::string::npos)
      << report;
}

TEST(GitSourceCreateTest, RejectsBadSpecs) {
  auto make = [](RemoteSpec s) { return GitSource::Create(std::move(s), "/tmp/x").status(); };
  EXPECT_EQ(make({"a/b", "file:///r", RefKind::kBranch, "main", {}}),
            InvalidArgument("repository a/b: name must be letters, digits, '.', '_' or '-'"));
  EXPECT_EQ(make({"r", "ftp://h/r", RefKind::kBranch, "main", {}}),
            InvalidArgument("repository r: ftp://h/r: unsupported scheme \"ftp\""));
  EXPECT_EQ(make({"r", "file:///r", RefKind::kCommit, "abc", {}}),
            InvalidArgument(
                "repository r: commit must be a full 40-character hex id, got \"abc\""));
  EXPECT_EQ(make({"r", "file:///r", RefKind::kBranch, "-x", {}}),
            InvalidArgument("repository r: invalid branch name \"-x\""));
  EXPECT_TRUE(SshSupported());
  EXPECT_EQ(make({"r", "git@host:r.git", RefKind::kBranch, "main", {}}),
            InvalidArgument("repository r: git@host:r.git: ssh needs a known_hosts file"));
}

TEST(GitSourceCreateTest, SshHostKeyIsChecked) {
  // Nothing listens on port 1 of loopback: the connection fails before any
  // key exchange, and the error names the URL and says "unavailable".
  RemoteSpec spec{"r", "ssh://git@127.0.0.1:1/r.git", RefKind::kBranch, "main", {}};
  spec.auth.known_hosts_file = "/dev/null";
  auto src = GitSource::Create(spec, "/tmp/x").value();
  Status st = src->ResolveRemote().status();
  EXPECT_EQ(st.code(), Code::kUnavailable) << st.ToString();
  EXPECT_EQ(st.message().rfind("git ls-remote ssh://git@127.0.0.1:1/r.git: ", 0), 0u)
      << st.message();
}

}  // namespace
}  // namespace stackctl::gitsource
