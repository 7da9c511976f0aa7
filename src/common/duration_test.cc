#include "common/duration.h"

#include <gtest/gtest.h>

namespace stackctl {
namespace {

using std::chrono::milliseconds;

TEST(DurationTest, GoGrammar) {
  int64_t ns = -1;
  EXPECT_TRUE(ParseGoDuration("0", &ns));
  EXPECT_EQ(ns, 0);
  EXPECT_TRUE(ParseGoDuration("1h2m3.5s", &ns));
  EXPECT_EQ(ns, 3723500000000);
  EXPECT_TRUE(ParseGoDuration("300ms", &ns));
  EXPECT_EQ(ns, 300000000);
  EXPECT_TRUE(ParseGoDuration("1us", &ns));
  EXPECT_EQ(ns, 1000);
  EXPECT_TRUE(ParseGoDuration("-1.5s", &ns));
  EXPECT_EQ(ns, -1500000000);
  for (const char* bad : {"", "10", "1d", "m", "1s ", ".s", "1..5s", "3000000h"}) {
    EXPECT_FALSE(ParseGoDuration(bad, &ns)) << bad;
  }
}

// The settings form: the same grammar, non-negative, in milliseconds.
TEST(DurationTest, SettingsInMilliseconds) {
  EXPECT_EQ(*ParseDurationMs("0"), milliseconds(0));
  EXPECT_EQ(*ParseDurationMs("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseDurationMs("90s"), milliseconds(90000));
  EXPECT_EQ(*ParseDurationMs("1m30s"), milliseconds(90000));
  EXPECT_EQ(*ParseDurationMs("1.5s"), milliseconds(1500));
  EXPECT_EQ(*ParseDurationMs("2h"), milliseconds(7200000));
  EXPECT_EQ(*ParseDurationMs("1500us"), milliseconds(1));
  for (const char* bad : {"", "10", "1d", "m", "-1s", "1s "}) {
    EXPECT_EQ(ParseDurationMs(bad).status(), InvalidArgument(std::string("invalid duration \"") + bad + "\""));
  }
}

}  // namespace
}  // namespace stackctl
