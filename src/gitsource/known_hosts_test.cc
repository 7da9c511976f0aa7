#include "gitsource/known_hosts.h"

#include <gtest/gtest.h>

#include "common/crypto.h"

namespace stackctl::gitsource {
namespace {

// Keys made with ssh-keygen -t ed25519; hashed lines made by `ssh-keygen -H`.
constexpr char kKey64[] = "AAAAC3NzaC1lZDI1NTE5AAAAIGRPDBG3VWvnnfTE8EO6y5cwEPOmMFCgBIZOxAm0Baey";
constexpr char kOther64[] = "AAAAC3NzaC1lZDI1NTE5AAAAIA4jaGPsTDrqTz7iqWtLUom5i5Oz6YI58cG3RTpba7tf";

std::string Raw(const char* b64) {
  std::string out;
  EXPECT_TRUE(Base64Decode(b64, &out));
  return out;
}

TEST(KnownHostsTest, PlainEntries) {
  auto kh = KnownHosts::Parse(std::string("# comment\n\ngit.example.com,10.0.0.1 ssh-ed25519 ") +
                                  kKey64 + " c\n[git.example.com]:2222 ssh-ed25519 " + kKey64 +
                                  "\n",
                              "kh");
  ASSERT_TRUE(kh.ok()) << kh.status().ToString();
  EXPECT_EQ(kh->Check("git.example.com", 22, Raw(kKey64)), KnownHosts::Match::kMatch);
  EXPECT_EQ(kh->Check("10.0.0.1", 22, Raw(kKey64)), KnownHosts::Match::kMatch);
  EXPECT_EQ(kh->Check("git.example.com", 2222, Raw(kKey64)), KnownHosts::Match::kMatch);
  EXPECT_EQ(kh->Check("git.example.com", 22, Raw(kOther64)), KnownHosts::Match::kMismatch);
  EXPECT_EQ(kh->Check("git.example.com", 2200, Raw(kKey64)), KnownHosts::Match::kUnknownHost);
  EXPECT_EQ(kh->Check("other.example.com", 22, Raw(kKey64)), KnownHosts::Match::kUnknownHost);
}

TEST(KnownHostsTest, HashedEntries) {
  auto kh = KnownHosts::Parse(
      std::string("|1|cgEPDCS6tYxtufgZ+GjvqGxuqVI=|nGEb/vPT+jCoUe+7bM7gFxnUIZI= ssh-ed25519 ") +
          kKey64 + "\n|1|kF7J3WGVTvjK+dae0L24mFAGqg8=|9bncz2UfLe5jU9ibIL35vCgPsTo= ssh-ed25519 " +
          kKey64 + "\n",
      "kh");
  ASSERT_TRUE(kh.ok()) << kh.status().ToString();
  EXPECT_EQ(kh->Check("git.example.com", 22, Raw(kKey64)), KnownHosts::Match::kMatch);
  EXPECT_EQ(kh->Check("git.example.com", 2222, Raw(kKey64)), KnownHosts::Match::kMatch);
  EXPECT_EQ(kh->Check("git.example.org", 22, Raw(kKey64)), KnownHosts::Match::kUnknownHost);
  EXPECT_EQ(kh->Check("git.example.com", 22, Raw(kOther64)), KnownHosts::Match::kMismatch);
}

TEST(KnownHostsTest, RevokedAndWildcards) {
  auto kh = KnownHosts::Parse(std::string("@revoked git.example.com ssh-ed25519 ") + kOther64 +
                                  "\n*.example.com ssh-ed25519 " + kOther64 +
                                  "\ngit.example.com ssh-ed25519 " + kKey64 + "\n",
                              "kh");
  ASSERT_TRUE(kh.ok()) << kh.status().ToString();
  EXPECT_EQ(kh->Check("git.example.com", 22, Raw(kOther64)), KnownHosts::Match::kRevoked);
  EXPECT_EQ(kh->Check("git.example.com", 22, Raw(kKey64)), KnownHosts::Match::kMatch);
  EXPECT_EQ(kh->Check("a.example.com", 22, Raw(kOther64)), KnownHosts::Match::kUnknownHost);
}

TEST(KnownHostsTest, Errors) {
  EXPECT_EQ(KnownHosts::Parse("host ssh-ed25519\n", "/etc/kh").status(),
            InvalidArgument("/etc/kh:1: expected \"hosts keytype key\""));
  EXPECT_EQ(KnownHosts::Parse("\nhost ssh-ed25519 !!!\n", "/etc/kh").status(),
            InvalidArgument("/etc/kh:2: key is not valid base64"));
}

}  // namespace
}  // namespace stackctl::gitsource
