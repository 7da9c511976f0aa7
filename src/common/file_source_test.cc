#include "common/file_source.h"

#include <gtest/gtest.h>

namespace stackctl {
namespace {

TEST(FileSourceTest, PathHelpers) {
  EXPECT_EQ(CleanPath("a/./b/../c/"), "a/c");
  EXPECT_EQ(CleanPath("/../x"), "/x");
  EXPECT_EQ(CleanPath("../x"), "../x");
  EXPECT_EQ(CleanPath(""), ".");
  EXPECT_EQ(JoinPath("a/b", "../c"), "a/c");
  EXPECT_EQ(JoinPath("a", "/abs"), "/abs");
  EXPECT_EQ(DirName("a/b.yml"), "a");
  EXPECT_EQ(DirName("b.yml"), ".");
  EXPECT_EQ(DirName("/x"), "/");
}

TEST(FileSourceTest, MemoryFileSource) {
  MemoryFileSource fs(std::map<std::string, std::string>{{"dir/a.txt", "A"}});
  fs.Put("./dir/../b.txt", "B");
  EXPECT_TRUE(fs.Exists("dir/./a.txt"));
  EXPECT_EQ(*fs.Read("b.txt"), "B");
  auto missing = fs.Read("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status(), NotFound("open nope: no such file or directory"));
}

TEST(FileSourceTest, DiskFileSourceResolvesAgainstRoot) {
  DiskFileSource fs("/etc");
  EXPECT_EQ(fs.Resolve("hostname"), "/etc/hostname");
  EXPECT_EQ(fs.Resolve("/tmp/x"), "/tmp/x");
  auto missing = fs.Read("does-not-exist-stackctl");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "open /etc/does-not-exist-stackctl: no such file or directory");
  EXPECT_EQ(fs.Read(".").status().message(), "read /etc: is a directory");
}

}  // namespace
}  // namespace stackctl
