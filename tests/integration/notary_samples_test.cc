// TufClient and NotaryVerifier over real Notary metadata: the raw TUF files
// of the test repositories that the test bed's own notary servers signed and
// served (tests/testbed/notary-up.sh saves them with save-tuf.py into
// $STACKCTL_TEST_NOTARY_SAMPLES). Two sets hold the same repositories:
//   remote-signer  notary-server with its timestamp/snapshot keys in notary-signer (ECDSA)
//   local-ed25519  notary-server with its local trust service (Ed25519)
// Each set is loaded into memory (testing::SampleSource) so that a test can
// count fetches, tamper with one file or take the "server" down; the network
// path itself is covered by notary_test.cc. The bed builds its images afresh
// on every start, so digests come from the set's expected.tsv. The metadata
// was signed moments before the tests run: each test freezes a FakeClock at
// the wall time it starts (the timestamp, shortest-lived, is valid 14 days).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "engineapi/fake_engine.h"
#include "integration/testbed.h"
#include "notary/image_verifier.h"
#include "notary/test_support.h"
#include "notary/tuf_client.h"
#include "notary/tuf_json.h"
#include "notary/tuf_keys.h"

// In SetUp: sets `root` to the folder of the bed's saved sample sets, or
// skips the test when there is none (fails it under CI=true), as
// REQUIRE_TESTBED does.
#define REQUIRE_NOTARY_SAMPLES(root)                                                        \
  do {                                                                                      \
    (root) = ::stackctl::testing::Env("STACKCTL_TEST_NOTARY_SAMPLES");                     \
    if ((root).empty()) {                                                                   \
      if (::stackctl::testing::Env("CI") == "true")                                         \
        FAIL() << "Notary sample tests need the test bed with notary (tests/testbed/run.sh) " \
                  "in CI";                                                                  \
      GTEST_SKIP() << "no Notary samples: STACKCTL_TEST_NOTARY_SAMPLES is not set (run "    \
                      "through tests/testbed/run.sh, without STACKCTL_TESTBED_NOTARY=0)";   \
    }                                                                                       \
  } while (0)

namespace stackctl::notary {
namespace {

using ::stackctl::testing::ReadFile;
using testing::SampleSource;

constexpr char kGun[] = "127.0.0.1:5000/library/busybox";
constexpr char kDeleg[] = "127.0.0.1:5000/library/busybox-deleg";
constexpr char kOther[] = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

// The digest `rows` expect for gun:tag ("" when absent).
std::string ExpectedDigest(const std::vector<::stackctl::testing::NotaryExpected>& rows, const std::string& gun,
                           const std::string& tag) {
  for (const auto& r : rows) {
    if (r.gun == gun && r.tag == tag) return r.want;
  }
  ADD_FAILURE() << "expected.tsv has no row for " << gun << ":" << tag;
  return "";
}

// Parameter: the sample set ("remote-signer" or "local-ed25519").
class TufTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    REQUIRE_NOTARY_SAMPLES(root_);
    dir_ = root_ + "/" + GetParam();
    ASSERT_TRUE(std::filesystem::is_directory(dir_ + "/" + testing::GunDir(kGun)))
        << "the test bed saved no samples in " << dir_;
    source_ = std::make_unique<SampleSource>(dir_);
    expected_ = ::stackctl::testing::ReadNotaryExpected(dir_ + "/expected.tsv");
    v1_ = ExpectedDigest(expected_, kGun, "1.0");
    v2_ = ExpectedDigest(expected_, kGun, "2.0");
    clock_.Set(std::chrono::system_clock::now());
  }
  TufClient Client(TrustPinning pin = {}) {
    return TufClient(*source_, store_, cache_, clock_, std::move(pin));
  }
  Result<Target> Lookup(const std::string& gun, const std::string& tag, TrustPinning pin = {}) {
    auto client = Client(std::move(pin));
    auto repo = client.Update(gun);
    if (!repo.ok()) return repo.status();
    return ResolveTag(*repo, tag);
  }
  Json SignedOf(const std::string& gun, const std::string& name) {
    return Json::parse(*source_->Raw(gun, name))["signed"];
  }

  std::string root_, dir_;
  std::unique_ptr<SampleSource> source_;
  std::vector<::stackctl::testing::NotaryExpected> expected_;
  std::string v1_, v2_;  // the digests of busybox:1.0 and :2.0
  testing::MemoryRootStore store_;
  MemoryMetadataCache cache_;
  FakeClock clock_;
};

TEST_P(TufTest, EveryExpectedCase) {
  ASSERT_EQ(expected_.size(), 12u);
  for (const auto& [gun, tag, want, role] : expected_) {
    SCOPED_TRACE(gun + ":" + tag);
    store_ = testing::MemoryRootStore();
    auto r = Lookup(gun, tag);
    if (want.rfind("sha256:", 0) == 0) {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->digest, want);
      EXPECT_EQ(r->role, role);
      EXPECT_EQ(r->name, tag);
    } else if (want == "UNTRUSTED:no-trust-data") {
      EXPECT_EQ(
          r.status(),
          NotFound(gun + ": no trust data (root.json not found on samples:" + GetParam() + ")"));
    } else if (want == "UNTRUSTED:no-such-target") {
      EXPECT_EQ(r.status(), NotFound(gun + ": no trust data for tag \"" + tag + "\""));
    } else if (want == "UNTRUSTED:not-in-releases-or-targets") {
      EXPECT_EQ(r.status(),
                FailedPrecondition(gun + ": tag \"" + tag + "\" is signed only by " + role +
                                   ", which is neither targets/releases nor targets"));
    } else {
      ADD_FAILURE() << "unknown expectation " << want;
    }
  }
}

// The key the server hands to clients (timestamp.key) is the one root lists
// for the timestamp role and the one that signed timestamp.json: ECDSA when
// notary-signer holds it, Ed25519 from the server's local trust service.
TEST_P(TufTest, KeyIdOfTimestampKey) {
  auto served = ParseKey(Json::parse(ReadFile(dir_ + "/" + testing::GunDir(kGun) +
                                              "/timestamp.key")),
                         "timestamp.key");
  ASSERT_TRUE(served.ok()) << served.status().ToString();
  EXPECT_EQ(served->type, GetParam() == "remote-signer" ? "ecdsa" : "ed25519");
  const std::string id = KeyId(*served);
  Json root = SignedOf(kGun, "root");
  EXPECT_EQ(root["roles"]["timestamp"]["keyids"], Json::array({id}));
  auto listed = ParseKey(root["keys"][id], "root");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(*listed, *served);
  EXPECT_EQ(Json::parse(*source_->Raw(kGun, "timestamp"))["signatures"][0]["keyid"], id);
}

TEST_P(TufTest, CachedUnchangedRepositoryCostsOneTimestampFetch) {
  auto client = Client();
  auto cold = client.Update(kDeleg);
  ASSERT_TRUE(cold.ok()) << cold.status().ToString();
  // root, timestamp, snapshot, targets, targets/alice, targets/releases
  EXPECT_EQ(cold->fetches, 6);
  source_->ResetLog();
  auto warm = client.Update(kDeleg);
  ASSERT_TRUE(warm.ok()) << warm.status().ToString();
  EXPECT_EQ(warm->fetches, 1);
  EXPECT_EQ(source_->Log(), std::vector<std::string>{"timestamp"});
  EXPECT_EQ(ResolveTag(*warm, "conflict")->digest, v2_);
}

TEST_P(TufTest, StoresRootAndRollbackFloors) {
  ASSERT_TRUE(Lookup(kDeleg, "1.0").ok());
  auto st = store_.Load(kDeleg);
  ASSERT_TRUE(st.ok() && st->has_value());
  EXPECT_EQ((*st)->root, *source_->Raw(kDeleg, "root"));
  EXPECT_EQ((*st)->versions.at("timestamp"), SignedOf(kDeleg, "timestamp")["version"]);
  EXPECT_EQ((*st)->versions.at("snapshot"), SignedOf(kDeleg, "snapshot")["version"]);
  EXPECT_EQ((*st)->versions.at("targets"), SignedOf(kDeleg, "targets")["version"]);
  EXPECT_EQ((*st)->versions.at("targets/releases"),
            SignedOf(kDeleg, "targets/releases")["version"]);
}

// Flips one character inside the signed "expires" of `name` (keeps valid JSON).
void Tamper(SampleSource& src, const std::string& gun, const std::string& name) {
  std::string raw = *src.Raw(gun, name);
  size_t pos = raw.find("\"expires\":\"2");
  ASSERT_NE(pos, std::string::npos);
  raw[pos + 11] = '3';
  src.Replace(gun, name, raw);
}

TEST_P(TufTest, TamperedRootIsRejected) {
  Tamper(*source_, kDeleg, "root");
  EXPECT_EQ(Lookup(kDeleg, "1.0").status(),
            FailedPrecondition(std::string(kDeleg) +
                               ": root: signature threshold not met (0 of 1 required valid "
                               "signatures)"));
}

TEST_P(TufTest, TamperedTimestampIsRejected) {
  Tamper(*source_, kDeleg, "timestamp");
  EXPECT_EQ(Lookup(kDeleg, "1.0").status(),
            FailedPrecondition(std::string(kDeleg) +
                               ": timestamp: signature threshold not met (0 of 1 required valid "
                               "signatures)"));
}

TEST_P(TufTest, TamperedSnapshotIsRejected) {
  Tamper(*source_, kDeleg, source_->Addressed(kDeleg, "snapshot"));
  EXPECT_EQ(Lookup(kDeleg, "1.0").status(),
            FailedPrecondition(std::string(kDeleg) +
                               ": snapshot: hash does not match the one signed in timestamp"));
}

TEST_P(TufTest, TamperedTargetsIsRejected) {
  Tamper(*source_, kDeleg, source_->Addressed(kDeleg, "targets"));
  EXPECT_EQ(Lookup(kDeleg, "1.0").status(),
            FailedPrecondition(std::string(kDeleg) +
                               ": targets: hash does not match the one signed in snapshot"));
}

TEST_P(TufTest, TamperedDelegationIsRejected) {
  Tamper(*source_, kDeleg, source_->Addressed(kDeleg, "targets/releases"));
  EXPECT_EQ(Lookup(kDeleg, "1.0").status(),
            FailedPrecondition(std::string(kDeleg) +
                               ": targets/releases: hash does not match the one signed in "
                               "snapshot"));
}

TEST_P(TufTest, CorruptCacheEntryIsRefetched) {
  ASSERT_TRUE(Lookup(kGun, "1.0").ok());
  cache_.Put(kGun, source_->Addressed(kGun, "targets"), "garbage");
  auto r = Lookup(kGun, "1.0");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->digest, v1_);
}

TEST_P(TufTest, ExpiredTimestampIsRejected) {
  std::string expires = SignedOf(kGun, "timestamp")["expires"];
  clock_.Set(*ParseRfc3339(expires) + std::chrono::seconds(1));
  EXPECT_EQ(Lookup(kGun, "1.0").status(),
            FailedPrecondition(std::string(kGun) + ": timestamp: expired at " + expires));
}

TEST_P(TufTest, ReplayedOlderSnapshotIsRejected) {
  ASSERT_TRUE(Lookup(kGun, "1.0").ok());
  // The client has seen a newer snapshot than the server now serves.
  int64_t v = SignedOf(kGun, "snapshot")["version"];
  TrustState s = **store_.Load(kGun);
  s.versions["snapshot"] = v + 1;
  ASSERT_TRUE(store_.Save(kGun, s).ok());
  EXPECT_EQ(Lookup(kGun, "1.0").status(),
            FailedPrecondition(std::string(kGun) + ": snapshot: version " + std::to_string(v) +
                               " is lower than the trusted version " + std::to_string(v + 1) +
                               " (rollback)"));
}

TEST_P(TufTest, ReplayedOlderTimestampIsRejected) {
  ASSERT_TRUE(Lookup(kGun, "1.0").ok());
  int64_t v = SignedOf(kGun, "timestamp")["version"];
  TrustState s = **store_.Load(kGun);
  s.versions["timestamp"] = v + 5;
  ASSERT_TRUE(store_.Save(kGun, s).ok());
  EXPECT_EQ(Lookup(kGun, "1.0").status(),
            FailedPrecondition(std::string(kGun) + ": timestamp: version " + std::to_string(v) +
                               " is lower than the trusted version " + std::to_string(v + 5) +
                               " (rollback)"));
}

TEST_P(TufTest, PinnedRootCertIds) {
  std::string id = SignedOf(kGun, "root")["roles"]["root"]["keyids"][0];
  TrustPinning good;
  good.certs[kGun] = {id};
  EXPECT_EQ(Lookup(kGun, "1.0", good)->digest, v1_);

  store_ = testing::MemoryRootStore();
  TrustPinning wildcard;
  wildcard.certs["127.0.0.1:5000/library/busy*"] = {id};
  wildcard.disable_tofu = true;
  EXPECT_EQ(Lookup(kGun, "1.0", wildcard)->digest, v1_);

  store_ = testing::MemoryRootStore();
  TrustPinning wrong;
  wrong.certs[kGun] = {std::string(64, 'a')};
  EXPECT_EQ(Lookup(kGun, "1.0", wrong).status(),
            FailedPrecondition(std::string(kGun) +
                               ": root: no root key matches the pinned certificate IDs"));
  EXPECT_FALSE(store_.Load(kGun)->has_value());
}

TEST_P(TufTest, PinnedCa) {
  TrustPinning pin;
  pin.ca["127.0.0.1:5000/library/"] = ReadFile(dir_ + "/rootkey-ca.crt");
  const std::string pinned = "127.0.0.1:5000/library/busybox-pinned";
  EXPECT_EQ(Lookup(pinned, "1.0", pin)->digest, ExpectedDigest(expected_, pinned, "1.0"));
  // A self-signed (notary default) root does not chain to the CA.
  EXPECT_EQ(Lookup(kGun, "1.0", pin).status(),
            FailedPrecondition(std::string(kGun) +
                               ": root: the root certificate does not chain to the pinned CA"));
}

TEST_P(TufTest, NoTofu) {
  TrustPinning pin;
  pin.disable_tofu = true;
  EXPECT_EQ(Lookup(kGun, "1.0", pin).status(),
            FailedPrecondition(std::string(kGun) +
                               ": root: no trust pinning configured for this GUN and TOFU is "
                               "disabled"));
  // A root trusted earlier stays trusted.
  ASSERT_TRUE(Lookup(kGun, "1.0").ok());
  EXPECT_EQ(Lookup(kGun, "1.0", pin)->digest, v1_);
}

TEST_P(TufTest, RootRotationIsWalked) {
  const std::string gun = "127.0.0.1:5000/library/busybox-rotated";
  TrustState first{*source_->Raw(gun, "1.root"), {}};
  ASSERT_TRUE(store_.Save(gun, first).ok());
  auto client = Client();
  auto repo = client.Update(gun);
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  EXPECT_EQ(repo->root_version, 3);
  EXPECT_EQ(ResolveTag(*repo, "1.0")->digest, ExpectedDigest(expected_, gun, "1.0"));
  EXPECT_EQ((*store_.Load(gun))->root, *source_->Raw(gun, "root"));
  auto log = source_->Log();
  EXPECT_EQ(std::count(log.begin(), log.end(), "2.root"), 1);
}

TEST_P(TufTest, RootReplacedByAStrangerIsRejected) {
  // The server was wiped and re-initialised with new keys: the other set holds
  // the same repositories signed with other keys.
  std::string other = GetParam() == "remote-signer" ? "local-ed25519" : "remote-signer";
  SampleSource other_src(root_ + "/" + other);
  ASSERT_TRUE(other_src.Raw(kGun, "root").has_value()) << "no samples in " << root_ << "/" << other;
  TrustState old{*other_src.Raw(kGun, "root"), {}};
  ASSERT_TRUE(store_.Save(kGun, old).ok());
  EXPECT_EQ(Lookup(kGun, "1.0").status(),
            FailedPrecondition(std::string(kGun) +
                               ": root: could not rotate trust to root version 1: not signed by "
                               "the trusted root keys of version 1 (signature threshold not met "
                               "(0 of 1 required valid signatures))"));
}

TEST_P(TufTest, RootOfAnotherGunIsRejected) {
  source_->Replace(kGun, "root", *source_->Raw(kDeleg, "root"));
  EXPECT_EQ(Lookup(kGun, "1.0").status(),
            FailedPrecondition(std::string(kGun) +
                               ": root: no valid root certificate for this GUN (the CN must be "
                               "the GUN and the certificate must be valid now)"));
}

TEST_P(TufTest, ServerOutageFailsClosed) {
  ASSERT_TRUE(Lookup(kGun, "1.0").ok());
  source_->SetDown(true);
  EXPECT_EQ(Lookup(kGun, "1.0").status(),
            Unavailable(std::string(kGun) + ": timestamp: server down"));
  store_ = testing::MemoryRootStore();
  EXPECT_EQ(Lookup(kGun, "1.0").status(), Unavailable(std::string(kGun) + ": root: server down"));
}

TEST_P(TufTest, GarbageTimestampFailsClosed) {
  source_->Replace(kGun, "timestamp", "<html>oops</html>");
  EXPECT_EQ(Lookup(kGun, "1.0").status(),
            FailedPrecondition(std::string(kGun) +
                               ": timestamp: timestamp.json: invalid JSON at byte 1"));
}

INSTANTIATE_TEST_SUITE_P(Samples, TufTest, ::testing::Values("remote-signer", "local-ed25519"));

// A MetadataSource that forwards to another one (NotaryVerifier owns the
// sources it creates; the test keeps the samples).
class Forward : public MetadataSource {
 public:
  explicit Forward(MetadataSource& s) : s_(s) {}
  Result<std::string> Fetch(const std::string& gun, const std::string& name, size_t cap) override {
    return s_.Fetch(gun, name, cap);
  }
  std::string Describe() const override { return s_.Describe(); }

 private:
  MetadataSource& s_;
};

// NotaryVerifier and PolicyVerifier over the remote-signer set; the registry
// digests come from a FakeEngine.
class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string root;
    REQUIRE_NOTARY_SAMPLES(root);
    const std::string dir = root + "/remote-signer";
    ASSERT_TRUE(std::filesystem::is_directory(dir + "/" + testing::GunDir(kGun)))
        << "the test bed saved no samples in " << dir;
    samples_ = SampleSource(dir);
    auto expected = ::stackctl::testing::ReadNotaryExpected(dir + "/expected.tsv");
    v1_ = ExpectedDigest(expected, kGun, "1.0");
    v2_ = ExpectedDigest(expected, kGun, "2.0");
    clock_.Set(std::chrono::system_clock::now());
    NotaryOptions o;
    o.default_server = "https://127.0.0.1:4443";
    notary_ = std::make_unique<NotaryVerifier>(
        o, store_, cache_, clock_,
        [this](const std::string& server) -> Result<std::unique_ptr<MetadataSource>> {
          servers_.push_back(server);
          return std::unique_ptr<MetadataSource>(new Forward(samples_));
        });
    engine_.SetImageDigest("127.0.0.1:5000/library/busybox:unsigned", kOther);
    engine_.SetImageDigest("127.0.0.1:5000/library/busybox:1.0", v1_);
  }

  SampleSource samples_;
  std::string v1_, v2_;
  testing::MemoryRootStore store_;
  MemoryMetadataCache cache_;
  FakeClock clock_;
  std::unique_ptr<NotaryVerifier> notary_;
  std::vector<std::string> servers_;
  engine::FakeEngine engine_;
};

TEST_F(VerifierTest, NotaryResolvesSignedDigest) {
  auto r = notary_->Resolve("127.0.0.1:5000/library/busybox-deleg:conflict");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (ResolvedImage{"127.0.0.1:5000/library/busybox-deleg@" + v2_,
                               v2_,
                               "conflict",
                               "targets/releases",
                               {},
                               ""}));
  EXPECT_EQ(notary_->last_fetches(), 6);
  ASSERT_TRUE(notary_->Resolve("127.0.0.1:5000/library/busybox-deleg:1.0").ok());
  EXPECT_EQ(notary_->last_fetches(), 1);
  EXPECT_EQ(servers_, std::vector<std::string>{"https://127.0.0.1:4443"});
}

TEST_F(VerifierTest, DigestReferencePassesThrough) {
  auto r = notary_->Resolve("127.0.0.1:5000/library/busybox@" + std::string(kOther));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->reference, "127.0.0.1:5000/library/busybox@" + std::string(kOther));
  EXPECT_EQ(r->signed_by, "");
  EXPECT_EQ(r->warnings,
            std::vector<std::string>{"127.0.0.1:5000/library/busybox@" + std::string(kOther) +
                                     ": already pinned by digest; trust data not "
                                     "consulted"});
  EXPECT_TRUE(servers_.empty());
}

TEST_F(VerifierTest, Policies) {
  EngineDigestResolver eng(engine_);
  const std::string unsigned_ref = "127.0.0.1:5000/library/busybox:unsigned";
  const std::string why = "127.0.0.1:5000/library/busybox: no trust data for tag \"unsigned\"";

  PolicyVerifier require(TrustPolicy::kRequire, notary_.get(), eng);
  EXPECT_EQ(require.Resolve(unsigned_ref).status(), NotFound(why));
  EXPECT_EQ(require.Resolve("127.0.0.1:5000/library/busybox:1.0")->signed_by, "targets");
  EXPECT_EQ(require.Resolve("127.0.0.1:5000/library/busybox:1.0")->trust_policy, "require");

  PolicyVerifier warn(TrustPolicy::kWarn, notary_.get(), eng);
  auto w = warn.Resolve(unsigned_ref);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, (ResolvedImage{"127.0.0.1:5000/library/busybox@" + std::string(kOther),
                               kOther,
                               "unsigned",
                               "",
                               {"image " + unsigned_ref + ": not trust-verified (" + why +
                                "); using the registry digest"},
                               "warn"}));
  EXPECT_EQ(warn.Resolve("127.0.0.1:5000/library/nope:1").status(),
            NotFound("trust verification failed (127.0.0.1:5000/library/nope: no trust data "
                     "(root.json not found on samples:remote-signer)) and image "
                     "127.0.0.1:5000/library/nope:1: cannot resolve digest: distribution "
                     "127.0.0.1:5000/library/nope:1: manifest unknown: manifest unknown"));

  PolicyVerifier off(TrustPolicy::kOff, nullptr, eng);
  auto o = off.Resolve("127.0.0.1:5000/library/busybox:1.0");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(*o, (ResolvedImage{"127.0.0.1:5000/library/busybox@" + v1_, v1_, "1.0", "", {}, "off"}));
}

}  // namespace
}  // namespace stackctl::notary
