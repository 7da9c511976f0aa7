// Tests for age decryption against files written by the real `age` CLI.
#include "secrets/age.h"

#include <gtest/gtest.h>

#include "secrets/encoding.h"
#include "secrets/test_util.h"

namespace stackctl::secrets {
namespace {

using testutil::KeyGen;
using testutil::ReadFileOrDie;
using testutil::RunCommand;
using testutil::TempDir;
using testutil::WriteFileOrDie;

const std::string kAge = STACKCTL_AGE_BIN;

std::vector<AgeIdentity> LoadIds(const std::string& path) {
  Result<std::vector<AgeIdentity>> ids = ParseAgeIdentities(path, ReadFileOrDie(path));
  EXPECT_TRUE(ids.ok()) << ids.status().ToString();
  return ids.ok() ? *ids : std::vector<AgeIdentity>{};
}

// Encrypts `plain` with the age CLI and extra flags; returns the file bytes.
std::string AgeEncrypt(const TempDir& dir, const std::string& plain, const std::string& flags) {
  WriteFileOrDie(dir.File("plain"), plain);
  std::string out;
  int rc = RunCommand(
      kAge + " " + flags + " -o " + dir.File("enc") + " " + dir.File("plain") + " 2>&1", &out);
  EXPECT_EQ(rc, 0) << out;
  return ReadFileOrDie(dir.File("enc"));
}

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + 7) & 0xff);
  return s;
}

TEST(AgeTest, BinaryX25519FromCli) {
  TempDir d;
  std::string pub = KeyGen(d, "key.txt");
  std::string enc = AgeEncrypt(d, "s3cr3t-value\n", "-r " + pub);
  ASSERT_TRUE(enc.starts_with("age-encryption.org/v1\n"));
  Result<std::string> plain = AgeDecrypt(enc, LoadIds(d.File("key.txt")));
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(*plain, "s3cr3t-value\n");
}

TEST(AgeTest, IdentityRecipientMatchesKeygen) {
  TempDir d;
  std::string pub = KeyGen(d, "key.txt");
  std::vector<AgeIdentity> ids = LoadIds(d.File("key.txt"));
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0].recipient(), pub);
  EXPECT_EQ(ids[0].kind(), AgeIdentity::Kind::kX25519);
}

TEST(AgeTest, ArmoredFromCli) {
  TempDir d;
  std::string pub = KeyGen(d, "key.txt");
  std::string enc = AgeEncrypt(d, "armored value", "-a -r " + pub);
  ASSERT_TRUE(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
  EXPECT_TRUE(LooksLikeAge(enc));
  Result<std::string> plain = AgeDecrypt(enc, LoadIds(d.File("key.txt")));
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(*plain, "armored value");
  // CRLF line endings and surrounding whitespace are accepted.
  std::string crlf = "\n  ";
  for (char c : enc) {
    if (c == '\n')
      crlf += "\r\n";
    else
      crlf += c;
  }
  plain = AgeDecrypt(crlf + "\n\n", LoadIds(d.File("key.txt")));
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(*plain, "armored value");
}

TEST(AgeTest, SeveralRecipientsEitherIdentityDecrypts) {
  TempDir d;
  std::string a = KeyGen(d, "a.txt");
  std::string b = KeyGen(d, "b.txt");
  std::string enc = AgeEncrypt(d, "shared", "-r " + a + " -r " + b);
  for (const char* k : {"a.txt", "b.txt"}) {
    Result<std::string> plain = AgeDecrypt(enc, LoadIds(d.File(k)));
    ASSERT_TRUE(plain.ok()) << k << ": " << plain.status().ToString();
    EXPECT_EQ(*plain, "shared");
  }
}

TEST(AgeTest, IdentityFileWithSeveralKeysAndComments) {
  TempDir d;
  KeyGen(d, "a.txt");
  std::string b = KeyGen(d, "b.txt");
  WriteFileOrDie(d.File("both.txt"), "# two keys\n\n" + ReadFileOrDie(d.File("a.txt")) + "   \n" +
                                         ReadFileOrDie(d.File("b.txt")));
  std::vector<AgeIdentity> ids = LoadIds(d.File("both.txt"));
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[1].recipient(), b);
  std::string enc = AgeEncrypt(d, "for b", "-r " + b);
  Result<std::string> plain = AgeDecrypt(enc, ids);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(*plain, "for b");
}

TEST(AgeTest, WrongIdentity) {
  TempDir d;
  std::string a = KeyGen(d, "a.txt");
  KeyGen(d, "b.txt");
  std::string enc = AgeEncrypt(d, "x", "-r " + a);
  Result<std::string> plain = AgeDecrypt(enc, LoadIds(d.File("b.txt")));
  EXPECT_EQ(plain.status(), InvalidArgument("no identity matched any of the file's recipients"));
}

TEST(AgeTest, MultiChunkPayloadsAtBoundaries) {
  TempDir d;
  std::string pub = KeyGen(d, "key.txt");
  std::vector<AgeIdentity> ids = LoadIds(d.File("key.txt"));
  for (size_t n : {size_t{0}, size_t{1}, size_t{65535}, size_t{65536}, size_t{65537},
                   size_t{2 * 65536}, size_t{200000}}) {
    std::string data = Pattern(n);
    std::string enc = AgeEncrypt(d, data, "-r " + pub);
    Result<std::string> plain = AgeDecrypt(enc, ids);
    ASSERT_TRUE(plain.ok()) << n << ": " << plain.status().ToString();
    EXPECT_EQ(*plain, data) << n;
  }
}

TEST(AgeTest, TruncatedAndTamperedFiles) {
  TempDir d;
  std::string pub = KeyGen(d, "key.txt");
  std::vector<AgeIdentity> ids = LoadIds(d.File("key.txt"));
  std::string enc = AgeEncrypt(d, Pattern(65536 + 100), "-r " + pub);
  size_t payload = enc.find("\n---") + 1;
  payload = enc.find('\n', payload) + 1;

  // Cut inside the header.
  EXPECT_EQ(AgeDecrypt(enc.substr(0, 30), ids).status(),
            InvalidArgument("truncated age file: header ends early"));
  // Cut inside the nonce.
  EXPECT_EQ(AgeDecrypt(enc.substr(0, payload + 10), ids).status(),
            InvalidArgument("truncated age file: missing payload nonce"));
  // Cut right after the first (full) chunk: the final chunk is missing.
  EXPECT_EQ(AgeDecrypt(enc.substr(0, payload + 16 + 65536 + 16), ids).status(),
            InvalidArgument("truncated age file: missing final chunk"));
  // Cut inside the last chunk.
  EXPECT_EQ(AgeDecrypt(enc.substr(0, enc.size() - 5), ids).status(),
            InvalidArgument("payload chunk 1: authentication failed (tampered or truncated)"));
  // One flipped payload bit.
  std::string t = enc;
  t[payload + 16 + 10] ^= 1;
  EXPECT_EQ(AgeDecrypt(t, ids).status(),
            InvalidArgument("payload chunk 0: authentication failed (tampered or truncated)"));
  // Appended garbage changes the last chunk.
  EXPECT_EQ(AgeDecrypt(enc + "xx", ids).status(),
            InvalidArgument("payload chunk 1: authentication failed (tampered or truncated)"));
}

TEST(AgeTest, BadHeaderMac) {
  TempDir d;
  std::string pub = KeyGen(d, "key.txt");
  std::vector<AgeIdentity> ids = LoadIds(d.File("key.txt"));
  std::string enc = AgeEncrypt(d, "v", "-r " + pub);
  // Add a stanza of an unknown type (ignored by decryption, covered by the MAC).
  std::string t = enc;
  t.insert(t.find("\n---") + 1, "-> grease x\n\n");
  EXPECT_EQ(AgeDecrypt(t, ids).status(), InvalidArgument("bad header MAC"));
  // Flip one bit of the MAC itself.
  t = enc;
  size_t mac = t.find("\n--- ") + 5;
  t[mac] = t[mac] == 'A' ? 'B' : 'A';
  EXPECT_EQ(AgeDecrypt(t, ids).status(), InvalidArgument("bad header MAC"));
}

TEST(AgeTest, MalformedHeaders) {
  std::vector<AgeIdentity> none;
  EXPECT_EQ(AgeDecrypt("hello\n", none).status(),
            InvalidArgument("not an age file: missing 'age-encryption.org/v1' header"));
  EXPECT_EQ(AgeDecrypt("age-encryption.org/v1\n-> X25519\n\n--- AAAA\n", none).status(),
            InvalidArgument("invalid age header: malformed MAC line"));
  EXPECT_EQ(AgeDecrypt("age-encryption.org/v1\n-> X25519 a  b\n", none).status(),
            InvalidArgument("invalid age header: empty stanza argument"));
  EXPECT_EQ(AgeDecrypt("age-encryption.org/v1\n-> X25519 a\nAB=\n", none).status(),
            InvalidArgument("invalid age header: stanza body is not canonical base64"));
  EXPECT_EQ(AgeDecrypt("age-encryption.org/v1\nxx\n", none).status(),
            InvalidArgument("invalid age header: expected a stanza or the MAC line"));
}

TEST(AgeTest, StrictArmor) {
  TempDir d;
  std::string pub = KeyGen(d, "key.txt");
  std::string enc = AgeEncrypt(d, Pattern(100), "-a -r " + pub);
  // Re-wrapping the base64 at 76 columns is rejected.
  std::string body = enc.substr(enc.find('\n') + 1);
  body = body.substr(0, body.find("-----END"));
  std::string joined;
  for (char c : body)
    if (c != '\n') joined += c;
  std::string rewrapped = std::string(kAgeArmorBegin) + "\n" + joined.substr(0, 76) + "\n" +
                          joined.substr(76) + "\n" + kAgeArmorEnd + "\n";
  EXPECT_EQ(AgeDecrypt(rewrapped, {}).status(),
            InvalidArgument("invalid armor: line 2 is not a 64-column base64 line"));
  EXPECT_EQ(AgeDecrypt(enc + "trailing", {}).status(),
            InvalidArgument("invalid armor: missing END AGE ENCRYPTED FILE line"));
}

TEST(AgeTest, PassphraseFromCliViaPty) {
  TempDir d;
  WriteFileOrDie(d.File("plain"), "scrypt protected");
  std::string out;
  int rc = RunCommand(std::string(STACKCTL_PYTHON3) +
                          " " STACKCTL_SOURCE_DIR
                          "/src/secrets/testdata/age_passphrase.py 'correct horse' " +
                          kAge + " -p -a -o " + d.File("enc") + " " + d.File("plain") + " 2>&1",
                      &out);
  ASSERT_EQ(rc, 0) << out;
  std::string enc = ReadFileOrDie(d.File("enc"));
  Result<std::string> plain = AgeDecrypt(enc, {AgeIdentity::Passphrase("correct horse")});
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(*plain, "scrypt protected");
  EXPECT_EQ(AgeDecrypt(enc, {AgeIdentity::Passphrase("wrong horse")}).status(),
            InvalidArgument("incorrect passphrase"));
  EXPECT_EQ(AgeDecrypt(enc, {AgeIdentity::Passphrase("correct horse", 10)}).status(),
            InvalidArgument("scrypt work factor 2^18 is above the limit 2^10"));
  EXPECT_EQ(AgeDecrypt(enc, {}).status(),
            InvalidArgument("file is passphrase-encrypted and no passphrase was given"));
}

TEST(AgeTest, IdentityFileErrorsNeverQuoteTheLine) {
  Result<std::vector<AgeIdentity>> r =
      ParseAgeIdentities("keys.txt", "# c\nAGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQ\n");
  EXPECT_EQ(r.status(), InvalidArgument("keys.txt:2: malformed age identity: invalid checksum"));
  r = ParseAgeIdentities("keys.txt", "\nsomething else\n");
  EXPECT_EQ(r.status(),
            InvalidArgument("keys.txt:2: not an age identity (expected AGE-SECRET-KEY-1...)"));
  r = ParseAgeIdentities("keys.txt", "# only comments\n");
  EXPECT_EQ(r.status(), InvalidArgument("keys.txt: no age identities found"));
}

TEST(EncodingTest, Bech32RoundTripAndStrictBase64) {
  std::string hrp, data;
  std::string enc = internal::Bech32Encode("age", std::string(32, '\x01'));
  EXPECT_EQ(internal::Bech32Decode(enc, &hrp, &data), "");
  EXPECT_EQ(hrp, "age");
  EXPECT_EQ(data, std::string(32, '\x01'));
  enc[5] = enc[5] == 'q' ? 'p' : 'q';
  EXPECT_EQ(internal::Bech32Decode(enc, &hrp, &data), "invalid checksum");
  std::string out;
  EXPECT_TRUE(internal::Base64DecodeStrict("aGk", false, &out));
  EXPECT_EQ(out, "hi");
  EXPECT_FALSE(internal::Base64DecodeStrict("aGl", false, &out));  // non-zero trailing bits
  EXPECT_FALSE(internal::Base64DecodeStrict("aGk=", false, &out));
  EXPECT_TRUE(internal::Base64DecodeStrict("aGk=", true, &out));
  EXPECT_FALSE(internal::Base64DecodeStrict("aGk", true, &out));
  EXPECT_EQ(internal::Base64EncodeRaw("hi"), "aGk");
}

}  // namespace
}  // namespace stackctl::secrets
