#include "common/http.h"

#include <gtest/gtest.h>

namespace stackctl {
namespace {

TEST(PercentEncode, KeepsUnreservedAndEncodesEverythingElseInUpperCaseHex) {
  EXPECT_EQ(PercentEncode("web-1_a.b~Z9"), "web-1_a.b~Z9");
  EXPECT_EQ(PercentEncode("a/b c"), "a%2Fb%20c");
  EXPECT_EQ(PercentEncode("repository:apps/web:pull"), "repository%3Aapps%2Fweb%3Apull");
  EXPECT_EQ(PercentEncode(R"({"label":{"a=b":true}})"),
            "%7B%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D");
  EXPECT_EQ(PercentEncode("100%+?&#"), "100%25%2B%3F%26%23");
  EXPECT_EQ(PercentEncode("\xc3\xa9\x01\xff"), "%C3%A9%01%FF");  // bytes, not characters
  EXPECT_EQ(PercentEncode(std::string("a\0b", 3)), "a%00b");
  EXPECT_EQ(PercentEncode(""), "");
}

TEST(PercentEncode, KeepsTheGivenCharacters) {
  EXPECT_EQ(PercentEncode("127.0.0.1:5000/apps/web@sha256:ab", "/:@"),
            "127.0.0.1:5000/apps/web@sha256:ab");
  EXPECT_EQ(PercentEncode("a b/c?d", "/"), "a%20b/c%3Fd");
}

TEST(BodySink, AppendsUpToTheCapThenAbortsOrTruncates) {
  char data[] = "0123456789";
  std::string body;
  BodySink abort{&body, 8};
  EXPECT_EQ(AppendToBodySink(data, 1, 5, &abort), 5u);
  EXPECT_EQ(AppendToBodySink(data, 1, 3, &abort), 3u);  // exactly the cap
  EXPECT_FALSE(abort.overflow);
  EXPECT_EQ(AppendToBodySink(data, 1, 1, &abort), 0u);  // 0 makes curl end the transfer
  EXPECT_TRUE(abort.overflow);
  EXPECT_EQ(body, "01234012");

  std::string kept;
  BodySink truncate{&kept, 4, BodySink::Overflow::kTruncate};
  EXPECT_EQ(AppendToBodySink(data, 2, 3, &truncate), 6u);  // size * n bytes taken
  EXPECT_EQ(AppendToBodySink(data, 1, 10, &truncate), 10u);
  EXPECT_TRUE(truncate.overflow);
  EXPECT_EQ(kept, "0123");
}

TEST(ParseWwwAuthenticate, BearerWithSeveralQuotedParams) {
  auto c = ParseWwwAuthenticate(
      R"(Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:apps/web:pull")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].params,
            (std::map<std::string, std::string>{{"realm", "https://auth.example.com/token"},
                                                {"service", "registry.example.com"},
                                                {"scope", "repository:apps/web:pull"}}));
  EXPECT_EQ(c[0].token68, "");
}

TEST(ParseWwwAuthenticate, QuotedValuesKeepCommasEqualsAndEscapes) {
  // A comma, a "key=" and an escaped quote inside quoted values do not end them
  // or start parameters of their own.
  auto c = ParseWwwAuthenticate(
      R"(Bearer realm="https://auth/token?a=1,b=2", scope="repository:a:pull,push", error="say \"no\", service=evil", service="reg")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].Param("realm"), "https://auth/token?a=1,b=2");
  EXPECT_EQ(c[0].Param("scope"), "repository:a:pull,push");
  EXPECT_EQ(c[0].Param("error"), R"(say "no", service=evil)");
  EXPECT_EQ(c[0].Param("service"), "reg");
  EXPECT_EQ(c[0].params.size(), 4u);
}

TEST(ParseWwwAuthenticate, UnquotedValuesSpacesAndCaseInsensitiveNames) {
  auto c = ParseWwwAuthenticate("  BEARER Realm = token-server ,  Service=reg.example.com  ");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].Param("realm"), "token-server");
  EXPECT_EQ(c[0].Param("SERVICE"), "reg.example.com");
  EXPECT_EQ(c[0].Param("scope"), "");
}

TEST(ParseWwwAuthenticate, BasicAndBearerInOneHeaderAreTwoChallenges) {
  auto c = ParseWwwAuthenticate(
      R"(Basic realm="Registry, with a comma", charset="UTF-8", Bearer realm="https://auth/token",service="reg")");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].scheme, "basic");
  EXPECT_EQ(c[0].params, (std::map<std::string, std::string>{{"realm", "Registry, with a comma"},
                                                             {"charset", "UTF-8"}}));
  EXPECT_EQ(c[1].scheme, "bearer");
  EXPECT_EQ(c[1].Param("realm"), "https://auth/token");
  EXPECT_EQ(c[1].Param("service"), "reg");
  ASSERT_NE(FindChallenge(c, "bearer"), nullptr);
  EXPECT_EQ(FindChallenge(c, "bearer")->Param("service"), "reg");
  EXPECT_EQ(FindChallenge(c, "basic")->Param("realm"), "Registry, with a comma");
  EXPECT_EQ(FindChallenge(c, "negotiate"), nullptr);
}

TEST(ParseWwwAuthenticate, SchemesWithoutParamsAndToken68) {
  auto c = ParseWwwAuthenticate("Basic, Negotiate dG9rZW4=, Bearer realm=x");
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0], (AuthChallenge{"basic", {}, ""}));
  EXPECT_EQ(c[1], (AuthChallenge{"negotiate", {}, "dG9rZW4="}));
  EXPECT_EQ(c[2], (AuthChallenge{"bearer", {{"realm", "x"}}, ""}));
  EXPECT_EQ(ParseWwwAuthenticate("Basic")[0], (AuthChallenge{"basic", {}, ""}));
}

TEST(ParseWwwAuthenticate, EmptyOrGarbledHeadersGiveWhatCanBeRead) {
  EXPECT_TRUE(ParseWwwAuthenticate("").empty());
  EXPECT_TRUE(ParseWwwAuthenticate(" , ,").empty());
  EXPECT_TRUE(ParseWwwAuthenticate("realm=\"x\"").empty());  // a parameter with no scheme
  auto open = ParseWwwAuthenticate(R"(Bearer realm="https://auth/tok)");  // no closing quote
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].Param("realm"), "https://auth/tok");
}

}  // namespace
}  // namespace stackctl
