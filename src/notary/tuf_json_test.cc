// TUF canonical JSON and RFC 3339 times (tuf_json.h). TufClient is covered by
// tuf_repo_test.cc (repositories built in-process) and, over the metadata of the
// test bed's notary servers, by tests/integration/notary_samples_test.cc.
#include "notary/tuf_json.h"

#include <gtest/gtest.h>

namespace stackctl::notary {
namespace {

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

}  // namespace
}  // namespace stackctl::notary
