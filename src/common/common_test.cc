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

// Feeds `text` to a JsonArrayStream in pieces of `piece` bytes (0: whole).
Status StreamArray(std::string_view text, size_t piece, const std::function<void(Json&&)>& each,
                   std::string_view what = "list") {
  JsonArrayStream stream(what, each);
  if (piece == 0) piece = text.size() + 1;
  for (size_t at = 0; at < text.size(); at += piece) {
    if (!stream.Feed(text.substr(at, piece))) return stream.status();
  }
  return stream.Finish();
}

TEST(Json, JsonArrayStreamHandsOverEachElementInOrderWhereverThePiecesSplit) {
  // Strings with brackets, braces, commas, escaped quotes and backslashes must
  // not be taken for structure.
  const std::string text =
      R"( [{"ID":"a","Spec":{"Labels":{"x":"1]}"}}}, [1,[2]] ,"s\"],{\\" , -3.5e2,true, null, {},)"
      R"( {"Args":["sh","-c","echo \"[\" ,}"]}]  )";
  for (size_t piece : {size_t{0}, size_t{1}, size_t{2}, size_t{7}}) {
    std::vector<Json> got;
    Status st = StreamArray(text, piece, [&](Json&& e) { got.push_back(std::move(e)); });
    ASSERT_TRUE(st.ok()) << "piece " << piece << ": " << st.ToString();
    ASSERT_EQ(got.size(), 8u) << "piece " << piece;
    EXPECT_EQ(got[0], Json::parse(R"({"ID":"a","Spec":{"Labels":{"x":"1]}"}}})"));
    EXPECT_EQ(got[1], Json::parse("[1,[2]]"));
    EXPECT_EQ(got[2], "s\"],{\\");
    EXPECT_EQ(got[3], -350.0);
    EXPECT_EQ(got[4], true);
    EXPECT_TRUE(got[5].is_null());
    EXPECT_EQ(got[6], Json::object());
    EXPECT_EQ(got[7]["Args"][2], "echo \"[\" ,}");
  }
  int calls = 0;
  EXPECT_TRUE(StreamArray("[]", 1, [&](Json&&) { ++calls; }).ok());
  EXPECT_TRUE(StreamArray(" [ ]\n", 0, [&](Json&&) { ++calls; }).ok());
  EXPECT_EQ(calls, 0);
}

TEST(Json, JsonArrayStreamErrors) {
  int calls = 0;
  auto count = [&](Json&&) { ++calls; };
  EXPECT_EQ(StreamArray(R"({"a": {"b": 1}})", 0, count, "list services response"),
            InvalidArgument("list services response: expected a JSON array, got '{' at byte 0"));
  EXPECT_EQ(StreamArray("", 0, count), InvalidArgument("list: expected a JSON array, got no text"));
  EXPECT_EQ(calls, 0);
  // Cut short: inside an element, after one, inside a number.
  EXPECT_EQ(StreamArray(R"([{"a":1}, {"b":)", 3, count, "list tasks response"),
            InvalidArgument("list tasks response: the array ends early, at byte 15"));
  EXPECT_EQ(StreamArray(R"([{"a":1},)", 0, count), InvalidArgument("list: the array ends early, at byte 9"));
  EXPECT_EQ(StreamArray("[1, 2", 1, count), InvalidArgument("list: the array ends early, at byte 5"));
  // Broken structure between elements, and after the array.
  EXPECT_EQ(StreamArray(R"([{"a":1} {"b":2}])", 0, count), InvalidArgument("list: expected ',' or ']' at byte 9"));
  EXPECT_EQ(StreamArray("[1,,2]", 0, count), InvalidArgument("list: unexpected ',' at byte 3"));
  EXPECT_EQ(StreamArray("[1]]", 0, count), InvalidArgument("list: unexpected text after the array at byte 3"));
  EXPECT_EQ(StreamArray("[}]", 0, count), InvalidArgument("list: unexpected '}' at byte 1"));
  // An element that is not JSON: ParseJson's message, with its index.
  Status bad_element = StreamArray(R"([{"a":1}, {"b":tru}])", 4, count);
  EXPECT_EQ(bad_element.code(), Code::kInvalidArgument);
  EXPECT_EQ(bad_element.message().rfind("list: element 1: invalid JSON at byte ", 0), 0u) << bad_element.message();
  // An element `each` cannot use: the error names it, later elements are not read.
  calls = 0;
  Status bad = StreamArray(R"([1, "x", 3])", 0, [&](Json&& e) {
    ++calls;
    (void)e.get<int>();
  });
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(bad.code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.message().rfind("list: element 1: [json.exception.type_error.302] type must be number", 0), 0u)
      << bad.message();
}

TEST(Json, PackedJsonUnpacksToTheSameValueInLessSpaceThanItsText) {
  Json spec = Json::parse(R"({"Name": "web_app", "Labels": {"com.docker.stack.namespace": "web"},
    "TaskTemplate": {"ContainerSpec": {"Image": "busybox:1@sha256:0123456789abcdef", "Args": ["sleep", "3600"],
      "Env": ["A=1", "LEVEL=2"]}, "Resources": {"Limits": {"MemoryBytes": 134217728}}},
    "Mode": {"Replicated": {"Replicas": 2}}, "UpdateConfig": {"Parallelism": 2, "Delay": 2000000000,
      "MaxFailureRatio": 0.5, "Monitor": 5000000000}, "EndpointSpec": {"Mode": "vip"}})");
  PackedJson packed(spec);
  EXPECT_EQ(packed.Unpack(), spec);
  EXPECT_FALSE(packed.empty());
  EXPECT_LT(packed.size(), spec.dump().size());
  EXPECT_TRUE(PackedJson().empty());
  EXPECT_TRUE(PackedJson().Unpack().is_null());
  EXPECT_TRUE(PackedJson(Json()).empty());
  EXPECT_EQ(PackedJson(Json::array({1, "x", nullptr})).Unpack(), Json::array({1, "x", nullptr}));
}

TEST(Json, PackedJsonEditsAndComparesByValue) {
  PackedJson a(Json{{"Image", "web:1"}, {"Replicas", 2}});
  a.Edit([](Json& j) { j["Image"] = "web:2"; });
  EXPECT_EQ(a.Unpack(), (Json{{"Image", "web:2"}, {"Replicas", 2}}));
  // Built in another key order, the same value packs to the same bytes.
  EXPECT_EQ(a, PackedJson(Json::parse(R"({"Replicas": 2, "Image": "web:2"})")));
  EXPECT_FALSE(a == PackedJson(Json{{"Image", "web:1"}, {"Replicas", 2}}));
}

TEST(Json, WriteCanonicalJsonWritesPackedNodesAsTheirValues) {
  Json inner = Json::parse(R"({"b": [1, 2.5, "x\"y"], "a": {"z": null, "\u00e9": true}})");
  Json plain = {{"seq", 3}, {"services", Json::array({{{"spec", inner}, {"name", "s1"}}, {{"spec", nullptr}}})}};
  Json packed = plain;
  PackedJson p(inner);
  packed["services"][0]["spec"] = p.TakeAsBinary();
  EXPECT_TRUE(p.empty());
  ASSERT_TRUE(packed["services"][0]["spec"].is_binary());
  std::string written;
  int pieces = 0;
  WriteCanonicalJson(packed, [&](std::string_view piece) {
    written.append(piece);
    ++pieces;
  });
  EXPECT_EQ(written, CanonicalJson(plain));
  EXPECT_EQ(written, "{\"seq\":3,\"services\":[{\"name\":\"s1\",\"spec\":{\"a\":{\"z\":null,\"\u00e9\":true},"
                     "\"b\":[1,2.5,\"x\\\"y\"]}},{\"spec\":null}]}");
  EXPECT_GT(pieces, 10);  // handed over in pieces, not as one text
}

// Indented, WriteJson lays text out as Json::dump(indent) does, the values
// packed in binary nodes included: empty containers on one line, negative,
// large and fractional numbers, escapes and invalid UTF-8 (replaced).
TEST(Json, WriteJsonIndentedIsTheTextOfDump) {
  Json inner = Json::parse(R"({"b": [1, -7, 2.5, 1e300, "x\"y\n", [], {}], "a": {"z": null, "\u00e9": true},
                              "big": 18446744073709551615, "empty": ""})");
  inner["bad"] = std::string("ok\xff");
  Json plain = {{"stack", "s"}, {"services", Json::array({{{"Spec", inner}, {"DependsOn", Json::array()}}})},
                {"none", Json::object()}};
  Json packed = plain;
  packed["services"][0]["Spec"] = PackedJson(inner).TakeAsBinary();
  for (int indent : {-1, 0, 2, 4}) {
    std::string written;
    WriteJson(packed, indent, [&](std::string_view piece) { written.append(piece); });
    EXPECT_EQ(written, plain.dump(indent, ' ', false, Json::error_handler_t::replace)) << indent;
  }
  std::string top;
  WriteJson(Json(42), 2, [&](std::string_view piece) { top.append(piece); });
  EXPECT_EQ(top, "42");
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
