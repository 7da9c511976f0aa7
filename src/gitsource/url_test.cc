#include "gitsource/url.h"

#include <gtest/gtest.h>

namespace stackctl::gitsource {
namespace {

TEST(UrlTest, Redact) {
  EXPECT_EQ(RedactUrl("https://bot:s3cret@git.example.com/a/b.git"),
            "https://bot@git.example.com/a/b.git");
  EXPECT_EQ(RedactUrl("https://git.example.com/a@b.git"), "https://git.example.com/a@b.git");
  EXPECT_EQ(RedactUrl("ssh://git@host/x"), "ssh://git@host/x");
  EXPECT_EQ(RedactUrl("git@host:x.git"), "git@host:x.git");
}

TEST(UrlTest, RepoKeyEquatesSpellings) {
  const std::string want = "github.com/Owner/Repo";
  for (const char* url :
       {"https://github.com/Owner/Repo.git", "https://GitHub.com/Owner/Repo",
        "https://github.com/Owner/Repo/", "https://x:y@github.com:443/Owner/Repo.git",
        "git@github.com:Owner/Repo.git", "ssh://git@github.com/Owner/Repo.git",
        "ssh://git@github.com:22/Owner/Repo", "git://github.com/Owner/Repo.git",
        "http://github.com/Owner/Repo"}) {
    EXPECT_EQ(RepoKey(url), want) << url;
  }
  EXPECT_EQ(RepoKey("http://127.0.0.1:8080/repo.git"), "127.0.0.1:8080/repo");
  EXPECT_EQ(RepoKey("ssh://git@host:2222/repo.git"), "host:2222/repo");
  EXPECT_EQ(RepoKey("file:///srv/git/repo.git"), "/srv/git/repo");
  EXPECT_EQ(RepoKey("/srv/git/repo"), "/srv/git/repo");
  EXPECT_NE(RepoKey("https://github.com/owner/repo"), want);
}

TEST(UrlTest, Scheme) {
  EXPECT_EQ(UrlScheme("HTTPS://x/y"), "https");
  EXPECT_EQ(UrlScheme("git@host:x"), "ssh");
  EXPECT_EQ(UrlScheme("/srv/repo"), "file");
  EXPECT_EQ(UrlScheme("file:///srv/repo"), "file");
}

}  // namespace
}  // namespace stackctl::gitsource
