#include "dab/bundle.h"

#include <gtest/gtest.h>

namespace stackctl::dab {
namespace {

TEST(BundleTest, LoadsServices) {
  auto b = LoadBundle(R"({"Version":"0.1","Services":{"a":{"Image":"x","Env":["A=1"],
                          "Ports":[{"Protocol":"udp","Port":53}],"User":"u"}}})", "b.dab");
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->version, "0.1");
  const Service& s = b->services.at("a");
  EXPECT_EQ(s.image, "x");
  EXPECT_EQ(s.env, std::vector<std::string>{"A=1"});
  EXPECT_EQ(s.ports, (std::vector<Port>{{"udp", 53}}));
  EXPECT_EQ(s.user, std::optional<std::string>("u"));
  EXPECT_FALSE(s.working_dir.has_value());
}

TEST(BundleTest, ReportsEveryErrorWithItsPath) {
  auto b = LoadBundle(R"({"Version":"0.2","Services":{"a":{"Image":1,"Ports":[{"Protocol":"icmp","Port":0}],
                          "Extra":true}}})", "b.dab");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(),
            "b.dab: Version: unsupported bundle version \"0.2\" (supported: 0.1)\n"
            "b.dab: Services.a.Extra: unknown key (allowed: Args, Command, Env, Image, Labels, Networks, Ports, User, WorkingDir)\n"
            "b.dab: Services.a.Image: must be a string\n"
            "b.dab: Services.a.Ports[0].Protocol: must be tcp, udp or sctp, not \"icmp\"\n"
            "b.dab: Services.a.Ports[0].Port: must be an integer between 1 and 65535");
}

TEST(BundleTest, InvalidJson) {
  auto b = LoadBundle("{", "b.dab");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message().rfind("b.dab: invalid JSON: ", 0), 0u) << b.status().message();
}

}  // namespace
}  // namespace stackctl::dab
