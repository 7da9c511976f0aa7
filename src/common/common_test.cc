#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "common/parallel.h"

#include "common/crypto.h"
#include "common/json.h"
#include "common/status.h"

namespace stackctl {
namespace {

Result<int> Half(int x) {
  if (x % 2) return InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(Status, CodesAndPrefix) {
  Status s = NotFound("no such service").WithPrefix("service web");
  EXPECT_EQ(s.ToString(), "NOT_FOUND: service web: no such service");
  EXPECT_FALSE(s.IsRetryable());
  EXPECT_TRUE(Unavailable("x").IsRetryable());
  EXPECT_TRUE(Aborted("x").IsRetryable());
}

TEST(Result, PropagatesErrors) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "odd: 3");
}

TEST(Crypto, KnownVectors) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  std::string out;
  ASSERT_TRUE(Base64Decode(Base64Encode("hello!?"), &out));
  EXPECT_EQ(out, "hello!?");
  ASSERT_TRUE(Base64Decode("aGk", &out, /*url_safe=*/true));
  EXPECT_EQ(out, "hi");
  EXPECT_FALSE(Base64Decode("a*b=", &out));
  Bytes b;
  EXPECT_FALSE(HexDecode("abc", &b));
  EXPECT_TRUE(ConstantTimeEquals("same", "same"));
  EXPECT_FALSE(ConstantTimeEquals("same", "sane"));
  EXPECT_FALSE(ConstantTimeEquals("same", "samey"));
}

TEST(Json, CanonicalIsOrderIndependent) {
  Json a = Json::parse(R"({"b":1,"a":{"y":[1,2],"x":"s"}})");
  Json b = Json::parse(R"({"a":{"x":"s","y":[1,2]},"b":1})");
  EXPECT_EQ(CanonicalJson(a), R"({"a":{"x":"s","y":[1,2]},"b":1})");
  EXPECT_EQ(CanonicalHash(a), CanonicalHash(b));
  Result<Json> bad = ParseJson("{\"a\":", "bundle.dab");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("bundle.dab: invalid JSON at byte"), std::string::npos);
}

TEST(Json, NumberOverflowIsAnErrorNotAnException) {
  // Found by fuzz_webhook: nlohmann throws out_of_range (not parse_error) here.
  Result<Json> big = ParseJson("{\"n\": 1" + std::string(400, '0') + "}", "payload");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), Code::kInvalidArgument);
  EXPECT_NE(big.status().message().find("payload: invalid JSON: "), std::string::npos);
  EXPECT_NE(big.status().message().find("number overflow"), std::string::npos);
}

TEST(Json, ParseJsonArrayHandsOverEachElementInOrder) {
  std::vector<Json> got;
  auto collect = [&](Json&& e) { got.push_back(std::move(e)); };
  ASSERT_TRUE(ParseJsonArray(R"([{"ID":"a","Spec":{"Labels":{"x":"1"}}}, [1,[2]], "s", 3, null, {}])",
                             "list", collect)
                  .ok());
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[0], Json::parse(R"({"ID":"a","Spec":{"Labels":{"x":"1"}}})"));
  EXPECT_EQ(got[1], Json::parse("[1,[2]]"));
  EXPECT_EQ(got[2], "s");
  EXPECT_EQ(got[3], 3);
  EXPECT_TRUE(got[4].is_null());
  EXPECT_EQ(got[5], Json::object());
  got.clear();
  EXPECT_TRUE(ParseJsonArray("[]", "list", collect).ok());
  EXPECT_TRUE(got.empty());
}

TEST(Json, ParseJsonArrayErrors) {
  int calls = 0;
  auto count = [&](Json&&) { ++calls; };
  EXPECT_EQ(ParseJsonArray(R"({"a": {"b": 1}})", "list services response", count),
            InvalidArgument("list services response: expected a JSON array, got object"));
  EXPECT_EQ(calls, 0);
  Status truncated = ParseJsonArray(R"([{"a":1}, {"b":)", "list tasks response", count);
  EXPECT_EQ(truncated.code(), Code::kInvalidArgument);
  EXPECT_EQ(truncated.message().rfind("list tasks response: invalid JSON at byte 16: ", 0), 0u)
      << truncated.message();
  // An element `each` cannot use: the error names it, later elements are skipped.
  calls = 0;
  Status bad = ParseJsonArray(R"([1, "x", 3])", "list", [&](Json&& e) {
    ++calls;
    (void)e.get<int>();
  });
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(bad.code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.message().rfind("list: [json.exception.type_error.302] type must be number", 0), 0u)
      << bad.message();
}

TEST(ParallelFor, EveryIndexOnceAtMostMaxThreadsAtATime) {
  std::vector<std::atomic<int>> seen(50);
  std::atomic<int> in_flight{0}, peak{0};
  ParallelFor(seen.size(), 4, [&](size_t i) {
    int now = ++in_flight;
    for (int p = peak; now > p && !peak.compare_exchange_weak(p, now);) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ++seen[i];
    --in_flight;
  });
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 1) << i;
  EXPECT_LE(peak, 4);
  EXPECT_GE(peak, 2);  // 50 sleeps of 2 ms: the workers overlap
}

TEST(ParallelFor, OneThreadRunsInOrderOnTheCaller) {
  std::vector<size_t> order;
  auto caller = std::this_thread::get_id();
  ParallelFor(5, 1, [&](size_t i) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    order.push_back(i);
  });
  EXPECT_EQ(order, (std::vector<size_t>{0, 1, 2, 3, 4}));
  ParallelFor(0, 8, [&](size_t) { ADD_FAILURE() << "called for n = 0"; });
}

}  // namespace
}  // namespace stackctl
