#include "notary/failed_resolutions.h"

#include <gtest/gtest.h>

namespace stackctl::notary {
namespace {

class UnknownImages : public ImageVerifier {
 public:
  Result<ResolvedImage> Resolve(const std::string& ref) override {
    ++calls;
    if (ref == "local/app:dev") return Unavailable("no such image in any registry");
    ResolvedImage r;
    r.digest = "sha256:" + std::string(64, 'a');
    r.reference = ref + "@" + r.digest;
    return r;
  }
  int calls = 0;
};

TEST(FailedResolutions, AFailureIsRememberedForTheBackoffAndThenAskedAgain) {
  FakeClock clock;  // 2023-11-14T22:13:20Z
  FailedResolutions failures(clock, std::chrono::minutes(5));
  UnknownImages inner;
  FailureCachingVerifier verifier(inner, failures);

  auto first = verifier.Resolve("local/app:dev");
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().ToString(), "UNAVAILABLE: no such image in any registry");
  EXPECT_EQ(inner.calls, 1);

  clock.Advance(std::chrono::seconds(299));
  auto remembered = verifier.Resolve("local/app:dev");
  ASSERT_FALSE(remembered.ok());
  EXPECT_EQ(remembered.status().ToString(),
            "UNAVAILABLE: no such image in any registry; not asked again before 2023-11-14T22:18:20Z");
  EXPECT_EQ(inner.calls, 1);

  // Successes are not remembered: every call reaches the inner verifier.
  ASSERT_TRUE(verifier.Resolve("registry:5000/web:1").ok());
  ASSERT_TRUE(verifier.Resolve("registry:5000/web:1").ok());
  EXPECT_EQ(inner.calls, 3);

  clock.Advance(std::chrono::seconds(1));
  EXPECT_FALSE(verifier.Resolve("local/app:dev").ok());
  EXPECT_EQ(inner.calls, 4);
}

TEST(FailedResolutions, ClearForgetsEveryFailure) {
  FakeClock clock;
  FailedResolutions failures(clock, std::chrono::minutes(5));
  UnknownImages inner;
  FailureCachingVerifier verifier(inner, failures);
  EXPECT_FALSE(verifier.Resolve("local/app:dev").ok());
  failures.Clear();
  EXPECT_FALSE(failures.Find("local/app:dev").has_value());
  EXPECT_FALSE(verifier.Resolve("local/app:dev").ok());
  EXPECT_EQ(inner.calls, 2);
}

}  // namespace
}  // namespace stackctl::notary
