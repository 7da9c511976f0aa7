// Tests for secrets::Decode (detection, error prefixes), the Keyring, and that
// no plaintext ever reaches a log line or an error message.
#include "secrets/decode.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <map>
#include <sstream>

#include "common/log.h"
#include "secrets/check.h"
#include "secrets/test_util.h"

namespace stackctl::secrets {
namespace {

using testutil::KeyGen;
using testutil::ReadFileOrDie;
using testutil::RunCommand;
using testutil::TempDir;
using testutil::WriteFileOrDie;

constexpr char kPlaintext[] = "Pl41nt3xt-C4n4ry-9f3b";

class DecodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    recipient_ = KeyGen(dir_, "key.txt");
    Result<Keyring> k = Keyring::Load({dir_.File("key.txt")}, {});
    ASSERT_TRUE(k.ok()) << k.status().ToString();
    keys_ = std::move(k).value();
  }
  std::string AgeEnc(const std::string& plain, const std::string& flags) {
    WriteFileOrDie(dir_.File("p"), plain);
    std::string out;
    EXPECT_EQ(RunCommand(std::string(STACKCTL_AGE_BIN) + " " + flags + " -r " + recipient_ +
                             " -o " + dir_.File("e") + " " + dir_.File("p") + " 2>&1",
                         &out),
              0)
        << out;
    return ReadFileOrDie(dir_.File("e"));
  }
  std::string SopsEnc(const std::string& format, const std::string& input,
                      const std::string& extra = "") {
    WriteFileOrDie(dir_.File("in"), input);
    std::string out;
    EXPECT_EQ(
        RunCommand(std::string(STACKCTL_PYTHON3) +
                       " " STACKCTL_SOURCE_DIR
                       "/src/secrets/testdata/sops_gen.py --age " STACKCTL_AGE_BIN " --recipient " +
                       recipient_ + " --format " + format + " --input " + dir_.File("in") +
                       " --output " + dir_.File("s") + " " + extra + " 2>&1",
                   &out),
        0)
        << out;
    return ReadFileOrDie(dir_.File("s"));
  }
  TempDir dir_;
  std::string recipient_;
  Keyring keys_;
};

TEST_F(DecodeTest, DetectsAndDecodesEachKind) {
  EXPECT_EQ(DetectEncoding("just text"), Encoding::kPlain);
  Result<std::string> plain = Decode("app.conf", "just text", nullptr, keys_);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, "just text");

  std::string age = AgeEnc("age value", "");
  EXPECT_EQ(DetectEncoding(age), Encoding::kAge);
  EXPECT_EQ(*Decode("db.age", age, nullptr, keys_), "age value");
  std::string armored = AgeEnc("armored value", "-a");
  EXPECT_EQ(DetectEncoding(armored), Encoding::kAge);
  EXPECT_EQ(*Decode("db.age", armored, nullptr, keys_), "armored value");

  std::string sops = SopsEnc("yaml", R"({"db": {"password": "pw"}})");
  EXPECT_EQ(DetectEncoding(sops), Encoding::kSops);
  SopsSelector sel{R"(["db"]["password"])", std::nullopt};
  EXPECT_EQ(*Decode("secrets.enc.yaml", sops, &sel, keys_), "pw");
}

TEST_F(DecodeTest, ErrorsArePathQualified) {
  TempDir other;
  KeyGen(other, "k.txt");
  Result<Keyring> wrong = Keyring::Load({other.File("k.txt")}, {});
  ASSERT_TRUE(wrong.ok());
  std::string age = AgeEnc("x", "");
  EXPECT_EQ(Decode("secrets/db.age", age, nullptr, *wrong).status(),
            InvalidArgument("secrets/db.age: no identity matched any of the file's recipients"));
  EXPECT_EQ(Decode("secrets/db.age", age, nullptr, Keyring()).status(),
            FailedPrecondition("secrets/db.age: file is age-encrypted but no age identity was "
                               "given (--age-identity or SOPS_AGE_KEY_FILE)"));
  SopsSelector sel{R"(["a"])", std::nullopt};
  EXPECT_EQ(Decode("db.txt", "plain", &sel, keys_).status(),
            InvalidArgument("db.txt: x-sops is set but the file is not a SOPS document"));
  std::string sops = SopsEnc("yaml", R"({"a": "1"})");
  SopsSelector missing{R"(["b"])", std::nullopt};
  EXPECT_EQ(Decode("s.yaml", sops, &missing, keys_).status(),
            NotFound(R"(s.yaml: sops key ["b"]: not found in the document)"));
}

TEST_F(DecodeTest, KeyringSources) {
  TempDir other;
  std::string pub2 = KeyGen(other, "k.txt");
  KeyEnvironment env;
  env.sops_age_key_file = other.File("k.txt");
  env.sops_age_key = "# inline\n" + ReadFileOrDie(other.File("k.txt"));
  Result<Keyring> k = Keyring::Load({dir_.File("key.txt")}, env);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  ASSERT_EQ(k->identities().size(), 3u);
  EXPECT_EQ(k->identities()[0].recipient(), recipient_);
  EXPECT_EQ(k->identities()[1].recipient(), pub2);
  EXPECT_EQ(Keyring::Load({dir_.File("missing.txt")}, {}).status(),
            NotFound(dir_.File("missing.txt") +
                     ": cannot read identity file: No such file or directory"));
  // sops' default file is read when present, skipped when absent.
  std::string crlf;
  for (char c : ReadFileOrDie(other.File("k.txt")))
    crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  WriteFileOrDie(dir_.File("default.txt"), crlf);
  KeyEnvironment def;
  def.default_key_file = dir_.File("default.txt");
  Result<Keyring> with_default = Keyring::Load({}, def);
  ASSERT_TRUE(with_default.ok()) << with_default.status().ToString();
  ASSERT_EQ(with_default->identities().size(), 1u);
  EXPECT_EQ(with_default->identities()[0].recipient(), pub2);
  def.default_key_file = dir_.File("absent.txt");
  EXPECT_TRUE(Keyring::Load({}, def)->empty());
  std::map<std::string, std::string> vars = {{"SOPS_AGE_KEY_FILE", "/k"}, {"HOME", "/home/u"}};
  KeyEnvironment from = KeyEnvironment::FromEnv([&](const char* n) -> const char* {
    auto it = vars.find(n);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
  EXPECT_EQ(from.sops_age_key_file, "/k");
  EXPECT_EQ(from.sops_age_key, "");
  EXPECT_EQ(from.default_key_file, "/home/u/.config/sops/age/keys.txt");
  vars["XDG_CONFIG_HOME"] = "/xdg";
  from = KeyEnvironment::FromEnv([&](const char* n) -> const char* {
    auto it = vars.find(n);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
  EXPECT_EQ(from.default_key_file, "/xdg/sops/age/keys.txt");

  WriteFileOrDie(dir_.File("bad.txt"), "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQ\n");
  env.sops_age_key_file = dir_.File("bad.txt");
  EXPECT_EQ(Keyring::Load({}, env).status(),
            InvalidArgument("SOPS_AGE_KEY_FILE: " + dir_.File("bad.txt") +
                            ":1: malformed age identity: invalid checksum"));
}

// Runs every decrypt path, successful and failing, with the "secrets" logger
// at trace level writing into a buffer; the canary must appear nowhere.
TEST_F(DecodeTest, PlaintextNeverLoggedNorInErrors) {
  std::ostringstream captured;
  auto logger = log::Get("secrets");
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  logger->sinks().push_back(sink);
  const auto old_level = logger->level();
  logger->set_level(spdlog::level::trace);

  std::vector<std::string> messages;
  auto run = [&](const std::string& path, const std::string& content, const SopsSelector* sel,
                 const Keyring& k) {
    Result<std::string> r = Decode(path, content, sel, k);
    if (!r.ok()) messages.push_back(r.status().ToString());
  };
  TempDir other;
  KeyGen(other, "k.txt");
  Keyring wrong = std::move(Keyring::Load({other.File("k.txt")}, {})).value();

  std::string age = AgeEnc(kPlaintext, "");
  std::string armored = AgeEnc(kPlaintext, "-a");
  std::string tampered_age = age;
  tampered_age[tampered_age.size() - 20] ^= 1;
  const std::string tree = std::string(R"({"db": {"password": ")") + kPlaintext + R"("}})";
  std::string yaml = SopsEnc("yaml", tree);
  std::string json = SopsEnc("json", tree);
  std::string dotenv = SopsEnc("dotenv", std::string(R"({"PW": ")") + kPlaintext + R"("})");
  WriteFileOrDie(dir_.File("bin"), kPlaintext);
  std::string binary = SopsEnc("binary", dir_.File("bin"));
  std::string bad_mac = SopsEnc("yaml", tree, "--bad-mac");
  std::string tampered_json =
      SopsEnc("json", std::string(R"({"pw": ")") + kPlaintext + R"("})", "--tamper-value pw");
  SopsSelector sel{R"(["db"]["password"])", std::nullopt};
  SopsSelector bad_sel{R"(["db"]["password"]["deeper"])", std::nullopt};
  for (const Keyring* k : {&keys_, &wrong}) {
    run("a.age", age, nullptr, *k);
    run("a.age", armored, nullptr, *k);
    run("a.age", tampered_age, nullptr, *k);
    run("s.yaml", yaml, &sel, *k);
    run("s.yaml", yaml, nullptr, *k);
    run("s.yaml", yaml, &bad_sel, *k);
    run("s.json", json, &sel, *k);
    run("s.env", dotenv, nullptr, *k);
    run("s.bin", binary, nullptr, *k);
    run("s.yaml", bad_mac, &sel, *k);
    run("s.json", tampered_json, nullptr, *k);
  }
  logger->set_level(old_level);
  logger->sinks().pop_back();

  EXPECT_GE(messages.size(), 14u);
  EXPECT_NE(captured.str().find("decrypted a.age (age, "), std::string::npos) << captured.str();
  EXPECT_EQ(captured.str().find(kPlaintext), std::string::npos) << captured.str();
  for (const std::string& m : messages) EXPECT_EQ(m.find(kPlaintext), std::string::npos) << m;
}

}  // namespace
}  // namespace stackctl::secrets

namespace stackctl::secrets {
namespace {

TEST_F(DecodeTest, CheckFileReportsOnlyLengthAndHash) {
  std::string age = AgeEnc("hello", "");
  CheckOutcome ok = CheckFile("secrets/db.age", age, nullptr, keys_);
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.line, "OK   secrets/db.age: age, 5 bytes, sha256:2cf24dba5fb0");
  CheckOutcome plain = CheckFile("app.conf", "hello", nullptr, keys_);
  EXPECT_EQ(plain.line, "OK   app.conf: plain, 5 bytes, sha256:2cf24dba5fb0");
  CheckOutcome bad = CheckFile("secrets/db.age", age, nullptr, Keyring());
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.line,
            "FAIL secrets/db.age: file is age-encrypted but no age identity was given "
            "(--age-identity or SOPS_AGE_KEY_FILE)");
}

}  // namespace
}  // namespace stackctl::secrets
