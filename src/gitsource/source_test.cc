#include "gitsource/source.h"

#include <gtest/gtest.h>

namespace stackctl::gitsource {
namespace {

TEST(JoinRepoPathTest, Normalizes) {
  EXPECT_EQ(*JoinRepoPath("stacks/web", "docker-compose.yml"), "stacks/web/docker-compose.yml");
  EXPECT_EQ(*JoinRepoPath("stacks/web/", "./a//b.yml"), "stacks/web/a/b.yml");
  EXPECT_EQ(*JoinRepoPath("stacks/web", "../common.env"), "stacks/common.env");
  EXPECT_EQ(*JoinRepoPath(".", "x"), "x");
  EXPECT_EQ(*JoinRepoPath("", ""), "");
  EXPECT_EQ(JoinRepoPath("stacks", "../../etc/passwd").status(),
            InvalidArgument("stacks/../../etc/passwd: path leaves the repository"));
  EXPECT_EQ(JoinRepoPath("stacks", "/etc/passwd").status(),
            InvalidArgument("/etc/passwd: absolute paths are not allowed in a repository"));
}

TEST(AnyChangedUnderTest, MatchesDirectoryPrefixOnly) {
  std::vector<std::string> changed = {"README.md", "stacks/web/docker-compose.yml"};
  EXPECT_TRUE(AnyChangedUnder(changed, "stacks/web"));
  EXPECT_TRUE(AnyChangedUnder(changed, "./stacks/web/"));
  EXPECT_TRUE(AnyChangedUnder(changed, "stacks"));
  EXPECT_FALSE(AnyChangedUnder(changed, "stacks/we"));
  EXPECT_FALSE(AnyChangedUnder(changed, "stacks/db"));
  EXPECT_TRUE(AnyChangedUnder(changed, ""));
  EXPECT_FALSE(AnyChangedUnder({}, ""));
}

TEST(StackInputsChangedTest, DirectoryOrAnyFileTheRenderRead) {
  const std::set<std::string> inputs = {"app/docker-compose.yml", "app/.env", "shared/common.env",
                                        "secrets/db.txt"};
  EXPECT_TRUE(StackInputsChanged({"shared/common.env"}, "app", inputs));
  EXPECT_TRUE(StackInputsChanged({"README.md", "secrets/db.txt"}, "app", inputs));
  EXPECT_TRUE(StackInputsChanged({"app/new-file.txt"}, "app", inputs));  // inside the folder
  EXPECT_TRUE(StackInputsChanged({"app/.env"}, "app", inputs));          // looked for, now added
  EXPECT_FALSE(StackInputsChanged({"README.md", "shared/other.env", "db/docker-compose.yml"}, "app", inputs));
  EXPECT_FALSE(StackInputsChanged({}, "app", inputs));
}

TEST(SnapshotTest, FilesRootedAtSubdirectory) {
  Snapshot snap({"abc", "msg", "A <a@x>", 1},
                std::make_shared<MemoryFileSource>(std::map<std::string, std::string>{
                    {"stacks/web/docker-compose.yml", "services: {}\n"},
                    {"stacks/common.env", "A=1\n"}}));
  auto files = snap.Files("stacks/web");
  EXPECT_EQ(*files->Read("docker-compose.yml"), "services: {}\n");
  EXPECT_EQ(*files->Read("../common.env"), "A=1\n");
  EXPECT_TRUE(files->Exists("docker-compose.yml"));
  EXPECT_FALSE(files->Exists("missing.yml"));
  EXPECT_FALSE(files->Exists("../../x"));
  EXPECT_EQ(files->Read("missing.yml").status(),
            NotFound("open stacks/web/missing.yml: no such file or directory"));
  EXPECT_EQ(snap.commit(), "abc");
}

}  // namespace
}  // namespace stackctl::gitsource
