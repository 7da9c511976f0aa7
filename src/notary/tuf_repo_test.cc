// TufClient over repositories built and signed by the test (test_repo.h):
// the cases the metadata of the test bed's notary servers cannot show.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "notary/test_repo.h"
#include "notary/tuf_client.h"

namespace stackctl::notary {
namespace {

using testing::TestKey;
using testing::TestRepo;

const std::string kGun = "example.com/team/app";
const std::string kD1(64, '1');
const std::string kD2(64, '2');

class RepoTest : public ::testing::Test {
 protected:
  RepoTest() : clock_(*ParseRfc3339("2026-11-23T00:00:00Z")), repo_(kGun, clock_.Now()) {}
  Result<Target> Lookup(const std::string& tag) {
    TufClient client(src_, store_, cache_, clock_, {});
    auto r = client.Update(kGun);
    if (!r.ok()) return r.status();
    warnings_ = r->warnings;
    return ResolveTag(*r, tag);
  }

  FakeClock clock_;
  TestRepo repo_;
  testing::SampleSource src_;
  testing::MemoryRootStore store_;
  MemoryMetadataCache cache_;
  std::vector<std::string> warnings_;
};

TEST_F(RepoTest, SignedTargetResolves) {
  repo_.targets["targets"]["1.0"] = TestRepo::Target(kD1);
  repo_.Publish(src_);
  auto r = Lookup("1.0");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (Target{"1.0", "sha256:" + kD1, 527, "targets"}));
}

TEST(RepoRsa, RsaPssTargetsKey) {
  FakeClock clock(*ParseRfc3339("2026-11-23T00:00:00Z"));
  TestRepo repo(kGun, clock.Now(), TestKey::Kind::kRsa);
  repo.targets["targets"]["1.0"] = TestRepo::Target(kD1);
  testing::SampleSource src;
  repo.Publish(src);
  testing::MemoryRootStore store;
  MemoryMetadataCache cache;
  TufClient client(src, store, cache, clock, {});
  auto r = client.Update(kGun);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ResolveTag(*r, "1.0")->digest, "sha256:" + kD1);
}

TEST_F(RepoTest, ReleasesWinsOverTargets) {
  TestKey rel;
  repo_.Delegate("targets", "targets/releases", rel);
  repo_.targets["targets"]["1.0"] = TestRepo::Target(kD1);
  repo_.delegations["targets/releases"]["targets"]["1.0"] = TestRepo::Target(kD2);
  repo_.Publish(src_);
  EXPECT_EQ(*Lookup("1.0"), (Target{"1.0", "sha256:" + kD2, 527, "targets/releases"}));
}

TEST_F(RepoTest, ExpiredReleasesIsSkippedWithAWarning) {
  TestKey rel;
  repo_.Delegate("targets", "targets/releases", rel);
  repo_.targets["targets"]["1.0"] = TestRepo::Target(kD1);
  std::string past = "2026-11-22T00:00:00Z";
  repo_.delegations["targets/releases"]["expires"] = past;
  repo_.delegations["targets/releases"]["targets"]["1.0"] = TestRepo::Target(kD2);
  repo_.Publish(src_);
  EXPECT_EQ(*Lookup("1.0"), (Target{"1.0", "sha256:" + kD1, 527, "targets"}));
  EXPECT_EQ(warnings_, std::vector<std::string>{kGun + ": targets/releases: expired at " + past +
                                                " (skipped)"});
}

TEST_F(RepoTest, DuplicateSignaturesCountOnce) {
  TestKey rel;
  repo_.Delegate("targets", "targets/releases", rel, /*threshold=*/2);
  repo_.delegation_signers["targets/releases"].push_back({rel.id(), &rel});
  repo_.delegations["targets/releases"]["targets"]["1.0"] = TestRepo::Target(kD2);
  repo_.Publish(src_);
  EXPECT_EQ(Lookup("1.0").status(), NotFound(kGun + ": no trust data for tag \"1.0\""));
  EXPECT_EQ(warnings_, std::vector<std::string>{
                           kGun + ": targets/releases: skipped: signature threshold not met (1 "
                                  "of 2 required valid signatures)"});
}

TEST_F(RepoTest, ThresholdOfDistinctKeys) {
  TestKey a, b;
  repo_.Delegate("targets", "targets/releases", a, 2);
  repo_.targets["delegations"]["keys"][b.id()] = testing::KeyJson(b.pub());
  repo_.targets["delegations"]["roles"][0]["keyids"].push_back(b.id());
  repo_.delegation_signers["targets/releases"].push_back({b.id(), &b});
  repo_.delegations["targets/releases"]["targets"]["1.0"] = TestRepo::Target(kD2);
  repo_.Publish(src_);
  EXPECT_EQ(Lookup("1.0")->role, "targets/releases");
}

TEST_F(RepoTest, TagWonByAReleasesDescendantIsRefused) {
  TestKey rel, bob;
  repo_.Delegate("targets", "targets/releases", rel);
  repo_.Delegate("targets/releases", "targets/releases/bob", bob);
  repo_.targets["targets"]["x"] = TestRepo::Target(kD1);
  repo_.delegations["targets/releases/bob"]["targets"]["x"] = TestRepo::Target(kD2);
  repo_.Publish(src_);
  EXPECT_EQ(Lookup("x").status(),
            FailedPrecondition(kGun + ": tag \"x\" is signed only by targets/releases/bob, which "
                                      "docker does not accept"));
}

TEST_F(RepoTest, DelegationKeyIdMismatchIsFatal) {
  TestKey rel;
  repo_.Delegate("targets", "targets/releases", rel);
  const std::string fake(64, 'f');
  repo_.targets["delegations"]["keys"] = {{fake, testing::KeyJson(rel.pub())}};
  repo_.targets["delegations"]["roles"][0]["keyids"] = {fake};
  repo_.delegation_signers["targets/releases"] = {{fake, &rel}};
  repo_.Publish(src_);
  EXPECT_EQ(Lookup("1.0").status(), FailedPrecondition(kGun + ": targets/releases: key ID " + fake +
                                                       " does not match its key"));
}

TEST_F(RepoTest, InvalidDelegationNameIsFatal) {
  TestKey rel;
  repo_.Delegate("targets", "targets/releases", rel);
  repo_.targets["delegations"]["roles"][0]["name"] = "targets/../releases";
  repo_.Publish(src_);
  EXPECT_EQ(
      Lookup("1.0").status(),
      FailedPrecondition(kGun + ": targets: invalid delegation name \"targets/../releases\""));
}

TEST_F(RepoTest, TargetsSignedByTheWrongKeyIsRejected) {
  TestKey other;
  repo_.Publish(src_, {{repo_.targets_key.id(), &other}});
  EXPECT_EQ(Lookup("1.0").status(),
            FailedPrecondition(kGun + ": targets: signature threshold not met (0 of 1 required "
                                      "valid signatures)"));
}

TEST_F(RepoTest, ExpiredRootCertificateIsRejected) {
  repo_.root_cert = repo_.root_key.Certificate(kGun, clock_.Now() - std::chrono::hours(48),
                                               clock_.Now() - std::chrono::hours(1));
  repo_.Publish(src_);
  EXPECT_EQ(Lookup("1.0").status(),
            FailedPrecondition(kGun + ": root: no valid root certificate for this GUN (the CN "
                                      "must be the GUN and the certificate must be valid now)"));
}

}  // namespace
}  // namespace stackctl::notary
