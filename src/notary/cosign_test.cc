#include "notary/cosign.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/crypto.h"
#include "notary/cosign_test_signer.h"
#include "notary/image_verifier.h"

namespace stackctl::notary {
namespace {

using testing::CosignTestKey;
using ::testing::HasSubstr;
using testing::SignatureLayer;
using testing::SignatureManifest;
using testing::SimpleSigningPayload;

constexpr char kRegistry[] = "127.0.0.1:5000";
constexpr char kRepo[] = "127.0.0.1:5000/apps/web";
constexpr char kImage[] = "127.0.0.1:5000/apps/web:1.0";

// A registry in memory: manifests by (path, reference), blobs by digest.
class FakeRegistry : public Registry {
 public:
  Result<Manifest> GetManifest(const std::string& registry, const std::string& path,
                               const std::string& reference) override {
    ++calls;
    if (down) return Unavailable("registry " + registry + " unreachable: connection refused");
    auto it = manifests.find(path + ":" + reference);
    if (it == manifests.end()) return NotFound("manifest " + path + ":" + reference + " not found");
    return Manifest{it->second, "application/vnd.oci.image.manifest.v1+json",
                    "sha256:" + Sha256Hex(it->second)};
  }
  Result<std::string> GetBlob(const std::string& registry, const std::string&,
                              const std::string& digest, size_t max_bytes) override {
    ++calls;
    if (down) return Unavailable("registry " + registry + " unreachable: connection refused");
    auto it = blobs.find(digest);
    if (it == blobs.end()) return NotFound("blob " + digest + " not found");
    if (it->second.size() > max_bytes) return FailedPrecondition("too large");
    return it->second;
  }

  // Pushes `layers` as the signature manifest of path@digest.
  void Sign(const std::string& path, const std::string& digest,
            const std::vector<SignatureLayer>& layers) {
    for (const auto& l : layers) blobs["sha256:" + Sha256Hex(l.payload)] = l.payload;
    manifests[path + ":sha256-" + digest.substr(7) + ".sig"] = SignatureManifest(layers);
  }

  std::map<std::string, std::string> manifests;
  std::map<std::string, std::string> blobs;
  bool down = false;
  int calls = 0;
};

class CosignTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The image itself: its tag resolves to the digest of these bytes.
    registry_.manifests["apps/web:1.0"] = R"({"schemaVersion":2,"layers":[]})";
    digest_ = "sha256:" + Sha256Hex(registry_.manifests["apps/web:1.0"]);
    options_.keys = {key_.Public("release.pub")};
  }
  SignatureLayer Layer(const CosignTestKey& key, const std::string& identity,
                       const std::string& digest, const Json& optional = nullptr) {
    std::string payload = SimpleSigningPayload(identity, digest, optional);
    return {payload, key.Sign(payload)};
  }

  FakeRegistry registry_;
  CosignVerifier verifier_{registry_};
  CosignTestKey key_;
  CosignTestKey other_;
  CosignOptions options_;
  std::string digest_;
};

TEST(CosignKeyTest, ParsesEcdsaEd25519AndRsaAndRefusesOtherText) {
  for (auto kind : {CosignTestKey::Kind::kEcdsaP256, CosignTestKey::Kind::kEd25519,
                    CosignTestKey::Kind::kRsa}) {
    CosignTestKey k(kind);
    auto parsed = ParseCosignKey("k.pub", k.PublicPem());
    ASSERT_TRUE(parsed.ok()) << parsed.status().message();
    EXPECT_EQ(parsed->name, "k.pub");
    std::string payload = SimpleSigningPayload(kRepo, "sha256:00");
    EXPECT_TRUE(VerifyCosignSignature(*parsed, payload, k.Sign(payload)));
    EXPECT_FALSE(VerifyCosignSignature(*parsed, payload + " ", k.Sign(payload)));
    EXPECT_FALSE(VerifyCosignSignature(CosignTestKey(kind).Public("x"), payload, k.Sign(payload)));
  }
  auto bad = ParseCosignKey("keys/cosign.key", "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            "keys/cosign.key: not a PEM public key (-----BEGIN PUBLIC KEY-----)");
  EXPECT_EQ(LoadCosignKey("/nonexistent/k.pub").status().message(),
            "/nonexistent/k.pub: cannot read file");
}

TEST(CosignPayloadTest, ChecksDigestIdentityTypeAndAnnotations) {
  const std::string d = "sha256:" + std::string(64, 'a');
  EXPECT_TRUE(CheckSimpleSigningPayload(SimpleSigningPayload(kRepo, d), d, kRepo, {}).ok());
  // Docker normalization: cosign writes index.docker.io/library/busybox.
  EXPECT_TRUE(CheckSimpleSigningPayload(SimpleSigningPayload("index.docker.io/library/busybox", d),
                                        d, "docker.io/library/busybox", {})
                  .ok());
  EXPECT_EQ(CheckSimpleSigningPayload(SimpleSigningPayload(kRepo, d),
                                      "sha256:" + std::string(64, 'b'), kRepo, {})
                .message(),
            "payload signs digest " + d + ", not sha256:" + std::string(64, 'b'));
  EXPECT_EQ(
      CheckSimpleSigningPayload(SimpleSigningPayload("127.0.0.1:5000/apps/db", d), d, kRepo, {})
          .message(),
      "payload names repository \"127.0.0.1:5000/apps/db\", not 127.0.0.1:5000/apps/web");
  EXPECT_EQ(
      CheckSimpleSigningPayload(
          SimpleSigningPayload(kRepo, d, nullptr, "atomic container signature"), d, kRepo, {})
          .message(),
      "payload type \"atomic container signature\" is not \"cosign container image signature\"");
  EXPECT_EQ(CheckSimpleSigningPayload("[1,2", d, kRepo, {}).code(), Code::kFailedPrecondition);
  EXPECT_EQ(CheckSimpleSigningPayload(R"({"optional":{}})", d, kRepo, {}).message(),
            "payload has no critical section");

  const std::map<std::string, std::string> want = {{"env", "prod"}};
  EXPECT_TRUE(CheckSimpleSigningPayload(SimpleSigningPayload(kRepo, d, {{"env", "prod"}, {"x", 1}}),
                                        d, kRepo, want)
                  .ok());
  EXPECT_EQ(CheckSimpleSigningPayload(SimpleSigningPayload(kRepo, d), d, kRepo, want).message(),
            "payload lacks the required annotation env");
  EXPECT_EQ(
      CheckSimpleSigningPayload(SimpleSigningPayload(kRepo, d, {{"env", "dev"}}), d, kRepo, want)
          .message(),
      "payload annotation env is \"dev\", not \"prod\"");
}

TEST_F(CosignTest, SignedImageVerifiesByTagAndByDigest) {
  registry_.Sign("apps/web", digest_, {Layer(key_, kRepo, digest_)});
  auto digest = verifier_.Digest(kImage);
  ASSERT_TRUE(digest.ok()) << digest.status().message();
  EXPECT_EQ(*digest, digest_);
  auto v = verifier_.Verify(kImage, *digest, options_);
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(v->digest, digest_);
  EXPECT_EQ(v->key, "release.pub");
  EXPECT_EQ(*verifier_.Digest(std::string(kRepo) + "@" + digest_), digest_);
}

TEST_F(CosignTest, RefusesEachKindOfBadSignatureAndSaysWhy) {
  const std::string sig_tag = "sha256-" + digest_.substr(7) + ".sig";
  auto why = [&] {
    auto v = verifier_.Verify(kImage, digest_, options_);
    EXPECT_FALSE(v.ok());
    return v.ok() ? std::string("verified") : v.status().message();
  };
  const std::string head =
      "image " + std::string(kImage) + " (" + digest_.substr(0, 19) + "): cosign: ";

  auto unsigned_image = verifier_.Verify(kImage, digest_, options_);
  ASSERT_FALSE(unsigned_image.ok());
  EXPECT_EQ(unsigned_image.status().code(), Code::kNotFound);
  EXPECT_EQ(unsigned_image.status().message(),
            head + "not signed (no " + sig_tag + " in 127.0.0.1:5000/apps/web)");

  registry_.Sign("apps/web", digest_, {Layer(other_, kRepo, digest_)});
  EXPECT_EQ(
      why(),
      head + "no valid signature: signature 1: signature does not verify with key release.pub");

  registry_.Sign("apps/web", digest_, {Layer(key_, "127.0.0.1:5000/apps/db", digest_)});
  EXPECT_EQ(why(), head +
                       "no valid signature: signature 1: payload names repository "
                       "\"127.0.0.1:5000/apps/db\", not 127.0.0.1:5000/apps/web");

  const std::string another = "sha256:" + std::string(64, 'c');
  registry_.Sign("apps/web", digest_, {Layer(key_, kRepo, another)});
  EXPECT_EQ(why(), head + "no valid signature: signature 1: payload signs digest " + another +
                       ", not " + digest_);

  // Tampered blob: the registry serves other bytes under the listed digest;
  // they are refused before the signature is even looked at.
  SignatureLayer good = Layer(key_, kRepo, digest_);
  registry_.Sign("apps/web", digest_, {good});
  registry_.blobs["sha256:" + Sha256Hex(good.payload)] =
      SimpleSigningPayload(kRepo, "sha256:" + std::string(64, 'e'));
  EXPECT_EQ(why(), head +
                       "no valid signature: signature 1: payload blob does not match its digest "
                       "sha256:" +
                       Sha256Hex(good.payload).substr(0, 12));

  auto bad = verifier_.Verify(kImage, digest_, options_);
  EXPECT_EQ(bad.status().code(), Code::kFailedPrecondition);
}

TEST_F(CosignTest, OneValidSignatureAmongSeveralSuffices) {
  const std::string another = "sha256:" + std::string(64, 'c');
  registry_.Sign(
      "apps/web", digest_,
      {Layer(other_, kRepo, digest_), Layer(key_, kRepo, another), Layer(key_, kRepo, digest_)});
  auto v = verifier_.Verify(kImage, digest_, options_);
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(v->key, "release.pub");

  // Two keys configured: the second one verifies and is named.
  CosignOptions two;
  two.keys = {other_.Public("old.pub"), key_.Public("new.pub")};
  registry_.Sign("apps/web", digest_, {Layer(key_, kRepo, digest_)});
  EXPECT_EQ(verifier_.Verify(kImage, digest_, two)->key, "new.pub");

  // None valid: every refusal is listed in order.
  registry_.Sign("apps/web", digest_, {Layer(other_, kRepo, digest_), Layer(key_, kRepo, another)});
  auto none = verifier_.Verify(kImage, digest_, options_);
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(),
              HasSubstr("signature 1: signature does not verify with key release.pub; signature 2: "
                        "payload signs digest " +
                        another));
}

TEST_F(CosignTest, RequiredAnnotationsAreChecked) {
  options_.annotations = {{"env", "prod"}};
  registry_.Sign("apps/web", digest_, {Layer(key_, kRepo, digest_, {{"env", "staging"}})});
  auto v = verifier_.Verify(kImage, digest_, options_);
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(v.status().message(),
              HasSubstr("payload annotation env is \"staging\", not \"prod\""));
  registry_.Sign("apps/web", digest_, {Layer(key_, kRepo, digest_, {{"env", "prod"}})});
  EXPECT_TRUE(verifier_.Verify(kImage, digest_, options_).ok());
}

TEST_F(CosignTest, RegistryOutageIsUnavailableNotUntrusted) {
  registry_.Sign("apps/web", digest_, {Layer(key_, kRepo, digest_)});
  registry_.down = true;
  auto v = verifier_.Verify(kImage, digest_, options_);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Code::kUnavailable);
  EXPECT_THAT(v.status().message(), HasSubstr("unreachable: connection refused"));
  EXPECT_EQ(verifier_.Digest(kImage).status().code(), Code::kUnavailable);
}

TEST_F(CosignTest, RefusesManifestsThatAreNotSignatures) {
  registry_.manifests["apps/web:sha256-" + digest_.substr(7) + ".sig"] =
      R"({"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:00"}]})";
  auto v = verifier_.Verify(kImage, digest_, options_);
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(
      v.status().message(),
      HasSubstr("signature 1: media type \"application/vnd.oci.image.layer.v1.tar+gzip\" is "
                "not a simple-signing payload"));
  EXPECT_EQ(verifier_.Verify(kImage, "sha256:xyz", options_).status().code(),
            Code::kInvalidArgument);
}

// PolicyVerifier with cosign rules: which rule applies, require / warn / off,
// and Notary combined (all / any).
class FixedVerifier : public ImageVerifier {
 public:
  explicit FixedVerifier(Result<ResolvedImage> r) : result(std::move(r)) {}
  Result<ResolvedImage> Resolve(const std::string&) override {
    ++calls;
    return result;
  }
  Result<ResolvedImage> result;
  int calls = 0;
};

class CosignPolicyTest : public CosignTest {
 protected:
  TrustRule CosignRule(const std::string& images, TrustPolicy policy) {
    TrustRule r;
    r.images = images;
    r.policy = policy;
    r.cosign = true;
    r.cosign_options = options_;
    return r;
  }
  ResolvedImage Engine() {
    ResolvedImage e;
    e.digest = digest_;
    e.reference = std::string(kRepo) + "@" + digest_;
    return e;
  }
};

TEST_F(CosignPolicyTest, FirstMatchingRuleDecides) {
  ImageTrustPolicy policy;
  policy.rules = {CosignRule("127.0.0.1:5000/apps/*", TrustPolicy::kRequire),
                  CosignRule("*", TrustPolicy::kOff)};
  EXPECT_EQ(&policy.For("127.0.0.1:5000/apps/web"), &policy.rules[0]);
  EXPECT_EQ(&policy.For("127.0.0.1:5000/apps/team/api"), &policy.rules[0]);  // '*' crosses '/'
  EXPECT_EQ(&policy.For("docker.io/library/busybox"), &policy.rules[1]);
  EXPECT_EQ(ImageTrustPolicy{}.For("x/y").policy, TrustPolicy::kOff);
  EXPECT_TRUE(policy.AnyRequired());
  EXPECT_TRUE(policy.UsesCosign());
  EXPECT_FALSE(policy.UsesNotary());

  FixedVerifier engine(Engine());
  PolicyVerifier v(policy, nullptr, &verifier_, engine);
  EXPECT_TRUE(v.RequiresVerification(kImage));
  EXPECT_FALSE(v.RequiresVerification("busybox:1"));
  // Unsigned under require: blocked, the engine is not asked.
  auto blocked = v.Resolve(kImage);
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.status().code(), Code::kNotFound);
  EXPECT_EQ(engine.calls, 0);
  // busybox falls under the off rule: the engine digest, no registry call.
  int calls = registry_.calls;
  EXPECT_TRUE(v.Resolve("busybox:1").ok());
  EXPECT_EQ(engine.calls, 1);
  EXPECT_EQ(registry_.calls, calls);

  registry_.Sign("apps/web", digest_, {Layer(key_, kRepo, digest_)});
  auto ok = v.Resolve(kImage);
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->reference, std::string(kRepo) + "@" + digest_);
  EXPECT_EQ(ok->tag, "1.0");
  EXPECT_EQ(ok->signed_by, "cosign key release.pub");
}

TEST_F(CosignPolicyTest, WarnFallsBackToTheEngineDigestAndRequireFailsClosed) {
  FixedVerifier engine(Engine());
  registry_.down = true;
  PolicyVerifier warn(ImageTrustPolicy{{CosignRule("*", TrustPolicy::kWarn)}}, nullptr, &verifier_,
                      engine);
  auto w = warn.Resolve(kImage);
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(w->signed_by, "");
  ASSERT_FALSE(w->warnings.empty());
  EXPECT_THAT(w->warnings[0], HasSubstr("not trust-verified"));
  EXPECT_FALSE(warn.RequiresVerification(kImage));

  PolicyVerifier require(ImageTrustPolicy{{CosignRule("*", TrustPolicy::kRequire)}}, nullptr,
                         &verifier_, engine);
  auto r = require.Resolve(kImage);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(engine.calls, 1);  // only warn asked it
}

TEST_F(CosignPolicyTest, NotaryAndCosignAllOrAny) {
  ResolvedImage signed_tag = Engine();
  signed_tag.tag = "1.0";
  signed_tag.signed_by = "targets/releases";
  FixedVerifier notary_ok(signed_tag);
  FixedVerifier notary_bad(FailedPrecondition("127.0.0.1:5000/apps/web: no trust data"));
  FixedVerifier engine(Engine());
  TrustRule both = CosignRule("*", TrustPolicy::kRequire);
  both.notary = true;

  // All: Notary's digest is checked by cosign too.
  PolicyVerifier all(ImageTrustPolicy{{both}}, &notary_ok, &verifier_, engine);
  auto unsigned_cosign = all.Resolve(kImage);
  ASSERT_FALSE(unsigned_cosign.ok());
  EXPECT_THAT(unsigned_cosign.status().message(), HasSubstr("not signed (no sha256-"));
  registry_.Sign("apps/web", digest_, {Layer(key_, kRepo, digest_)});
  auto a = all.Resolve(kImage);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->signed_by, "targets/releases and cosign key release.pub");
  PolicyVerifier all_bad(ImageTrustPolicy{{both}}, &notary_bad, &verifier_, engine);
  EXPECT_EQ(all_bad.Resolve(kImage).status().message(), "127.0.0.1:5000/apps/web: no trust data");

  // Any: Notary alone suffices; when it fails, cosign alone does.
  both.any = true;
  PolicyVerifier any_ok(ImageTrustPolicy{{both}}, &notary_ok, &verifier_, engine);
  int calls = registry_.calls;
  EXPECT_EQ(any_ok.Resolve(kImage)->signed_by, "targets/releases");
  EXPECT_EQ(registry_.calls, calls);
  PolicyVerifier any_cosign(ImageTrustPolicy{{both}}, &notary_bad, &verifier_, engine);
  EXPECT_EQ(any_cosign.Resolve(kImage)->signed_by, "cosign key release.pub");
  registry_.manifests.erase("apps/web:sha256-" + digest_.substr(7) + ".sig");
  auto neither = any_cosign.Resolve(kImage);
  ASSERT_FALSE(neither.ok());
  EXPECT_EQ(neither.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(neither.status().message(), "image " + std::string(kImage) +
                                            ": neither signature verifies: notary: "
                                            "127.0.0.1:5000/apps/web: no trust data; image " +
                                            kImage + " (" + digest_.substr(0, 19) +
                                            "): cosign: not signed (no sha256-" +
                                            digest_.substr(7) + ".sig in 127.0.0.1:5000/apps/web)");
}

TEST(RegistryTest, LoopbackRegistriesMaySpeakPlainHttp) {
  EXPECT_TRUE(IsLoopbackRegistry("127.0.0.1:5000"));
  EXPECT_TRUE(IsLoopbackRegistry("127.45.0.9"));
  EXPECT_FALSE(IsLoopbackRegistry("128.0.0.1:5000"));
  EXPECT_FALSE(IsLoopbackRegistry("localhost:5000"));
  EXPECT_FALSE(IsLoopbackRegistry("registry.example.com"));
  EXPECT_EQ(RegistryApiHost("docker.io"), "registry-1.docker.io");
  RegistryOptions o;
  o.registries["r.example.com"].insecure = true;
  EXPECT_TRUE(o.For("r.example.com").insecure);
  EXPECT_FALSE(o.For("other.example.com").insecure);
}

TEST(RegistryTest, PlainHttpOnlyForLoopbackAddressesAndInsecureRegistries) {
  // Nothing listens on loopback port 1. "localhost" is not an address on
  // 127.0.0.0/8 by name, so only https is tried; 127.0.0.1 and a registry
  // configured insecure are also tried over http.
  RegistryOptions o;
  o.connect_timeout_ms = 500;
  o.timeout_ms = 1000;
  o.registries["localhost:2"].insecure = true;
  HttpRegistry r(o);
  auto named = r.GetManifest("localhost:1", "apps/web", "1.0");
  ASSERT_FALSE(named.ok());
  EXPECT_EQ(named.status().code(), Code::kUnavailable);
  EXPECT_THAT(named.status().message(), HasSubstr("registry localhost:1 unreachable"));
  EXPECT_THAT(named.status().message(), ::testing::Not(HasSubstr("over http")));
  auto loopback = r.GetManifest("127.0.0.1:1", "apps/web", "1.0");
  ASSERT_FALSE(loopback.ok());
  EXPECT_THAT(loopback.status().message(),
              HasSubstr("; over http: registry 127.0.0.1:1 unreachable"));
  auto insecure = r.GetManifest("localhost:2", "apps/web", "1.0");
  ASSERT_FALSE(insecure.ok());
  EXPECT_THAT(insecure.status().message(), HasSubstr("; over http: "));
}

}  // namespace
}  // namespace stackctl::notary
