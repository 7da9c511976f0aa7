#include "notary/tuf_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "notary/test_support.h"
#include "notary/tuf_json.h"

namespace stackctl::notary {
namespace {

using testing::SampleSource;

constexpr char kGun[] = "127.0.0.1:5000/library/busybox";
constexpr char kDeleg[] = "127.0.0.1:5000/library/busybox-deleg";
constexpr char kV1[] = "sha256:02d50da7dfc9a3dd46c8ee0a929747eccb52ac781ed1e4ebfa655111d2b0ad99";
constexpr char kV2[] = "sha256:90ffdafdaf771f76f4f5057c75b768b33c3c343c2a8de4208324d5d46c156431";

class TufTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = testing::SamplesDir() + "/" + GetParam();
    if (!std::filesystem::exists(dir_)) {
      if (Env("CI") == "true") FAIL() << "samples missing: " << dir_;
      GTEST_SKIP() << "samples missing: " << dir_;
    }
    source_ = std::make_unique<SampleSource>(dir_);
    clock_.Set(*ParseRfc3339("2026-11-23T00:00:00Z"));
  }
  static std::string Env(const char* n) {
    const char* v = std::getenv(n);
    return v ? v : "";
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

  std::string dir_;
  std::unique_ptr<SampleSource> source_;
  testing::MemoryRootStore store_;
  MemoryMetadataCache cache_;
  FakeClock clock_;
};

TEST_P(TufTest, EveryExpectedCase) {
  std::ifstream in(dir_ + "/expected.tsv");
  ASSERT_TRUE(in) << dir_;
  std::string line;
  int rows = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, '\t')) f.push_back(cell);
    ASSERT_GE(f.size(), 4u) << line;
    const std::string &gun = f[0], &tag = f[1], &want = f[2], &role = f[3];
    ++rows;
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
  EXPECT_EQ(rows, 12);
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
  EXPECT_EQ(ResolveTag(*warm, "conflict")->digest, kV2);
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
  EXPECT_EQ(r->digest, kV1);
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
  auto st = store_.Load(kGun);
  TrustState s = **st;
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
  EXPECT_EQ(Lookup(kGun, "1.0", good)->digest, kV1);

  store_ = testing::MemoryRootStore();
  TrustPinning wildcard;
  wildcard.certs["127.0.0.1:5000/library/busy*"] = {id};
  wildcard.disable_tofu = true;
  EXPECT_EQ(Lookup(kGun, "1.0", wildcard)->digest, kV1);

  store_ = testing::MemoryRootStore();
  TrustPinning wrong;
  wrong.certs[kGun] = {std::string(64, 'a')};
  EXPECT_EQ(Lookup(kGun, "1.0", wrong).status(),
            FailedPrecondition(std::string(kGun) +
                               ": root: no root key matches the pinned certificate IDs"));
  EXPECT_FALSE(store_.Load(kGun)->has_value());
}

TEST_P(TufTest, PinnedCa) {
  std::ifstream in(dir_ + "/rootkey-ca.crt");
  std::stringstream ca;
  ca << in.rdbuf();
  TrustPinning pin;
  pin.ca["127.0.0.1:5000/library/"] = ca.str();
  const std::string pinned = "127.0.0.1:5000/library/busybox-pinned";
  EXPECT_EQ(Lookup(pinned, "1.0", pin)->digest, kV1);
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
  EXPECT_EQ(Lookup(kGun, "1.0", pin)->digest, kV1);
}

TEST_P(TufTest, RootRotationIsWalked) {
  const std::string gun = "127.0.0.1:5000/library/busybox-rotated";
  TrustState first{*source_->Raw(gun, "1.root"), {}};
  ASSERT_TRUE(store_.Save(gun, first).ok());
  auto client = Client();
  auto repo = client.Update(gun);
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  EXPECT_EQ(repo->root_version, 3);
  EXPECT_EQ(ResolveTag(*repo, "1.0")->digest, kV2);
  EXPECT_EQ((*store_.Load(gun))->root, *source_->Raw(gun, "root"));
  auto log = source_->Log();
  EXPECT_EQ(std::count(log.begin(), log.end(), "2.root"), 1);
}

TEST_P(TufTest, RootReplacedByAStrangerIsRejected) {
  // The server was wiped and re-initialised with new keys (other sample set).
  std::string other = GetParam() == "remote-signer" ? "local-ed25519" : "remote-signer";
  SampleSource other_src(testing::SamplesDir() + "/" + other);
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

TEST(TufJson, CanonicalForm) {
  Json j = Json::parse(R"({"b":[1,2.0,true,null],"a":"x\"\\\n\u0001<é","B":{}})");
  EXPECT_EQ(*TufCanonical(j), "{\"B\":{},\"a\":\"x\\\"\\\\\n\x01<é\",\"b\":[1,2,true,null]}");
  EXPECT_EQ(TufCanonical(Json::parse("[1.5]")).status(),
            InvalidArgument("canonical JSON: non-integer number"));
}

TEST(TufJson, Rfc3339) {
  auto t = ParseRfc3339("2026-12-06T13:04:57.393454644Z");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(FormatRfc3339(*t), "2026-12-06T13:04:57Z");
  EXPECT_EQ(FormatRfc3339(*ParseRfc3339("2026-12-06T14:04:57+01:00")), "2026-12-06T13:04:57Z");
  EXPECT_EQ(ParseRfc3339("2026-12-06 13:04:57").status(),
            InvalidArgument("invalid RFC 3339 time \"2026-12-06 13:04:57\""));
}

TEST(TufKeys, KeyIdOfTimestampKey) {
  const std::string dir = testing::SamplesDir() + "/remote-signer";
  if (!std::filesystem::exists(dir)) GTEST_SKIP();
  SampleSource src(dir);
  Json ts = Json::parse(*src.Raw(kGun, "timestamp"));
  Json root = Json::parse(*src.Raw(kGun, "root"))["signed"];
  std::string id = ts["signatures"][0]["keyid"];
  auto key = ParseKey(root["keys"][id], "k");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(KeyId(*key), id);
  EXPECT_EQ(id.substr(0, 16), "cb7ef21a250a5218");
}

}  // namespace
}  // namespace stackctl::notary
