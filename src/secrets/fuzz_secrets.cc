// libFuzzer target over the age and SOPS parsers (scripts/fuzz.sh runs it).
//
// The first input byte picks a mode; the rest is either used as-is or
// spliced into a valid age file / SOPS document (generated once with the age
// CLI and testdata/sops_gen.py for the throwaway fuzz identity below), so
// the fuzzer reaches the header MAC, the STREAM payload and the SOPS value
// and MAC checks without a seed corpus. Any crash, leak or UB is a bug;
// errors are expected.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "secrets/age.h"
#include "secrets/decode.h"
#include "secrets/sops.h"

namespace {

using namespace stackctl::secrets;

// A throwaway identity made for this fuzzer only; it protects nothing.
constexpr char kFuzzIdentity[] =
    "AGE-SECRET-KEY-1T9DDESKF8DEDPLMM76XTDEA8Y0YLG8ZGFU97R8ETSVVRVVXKZM0SA6T968";

const unsigned char kAgeFile[] = {
    0x61, 0x67, 0x65, 0x2d, 0x65, 0x6e, 0x63, 0x72, 0x79, 0x70, 0x74, 0x69, 0x6f, 0x6e, 0x2e, 0x6f,
    0x72, 0x67, 0x2f, 0x76, 0x31, 0x0a, 0x2d, 0x3e, 0x20, 0x58, 0x32, 0x35, 0x35, 0x31, 0x39, 0x20,
    0x63, 0x45, 0x2b, 0x35, 0x68, 0x42, 0x33, 0x4e, 0x63, 0x48, 0x30, 0x68, 0x65, 0x67, 0x41, 0x76,
    0x34, 0x4a, 0x74, 0x72, 0x76, 0x4b, 0x7a, 0x36, 0x4a, 0x73, 0x6a, 0x62, 0x74, 0x78, 0x67, 0x4e,
    0x33, 0x36, 0x63, 0x30, 0x69, 0x2f, 0x35, 0x4b, 0x58, 0x67, 0x34, 0x0a, 0x4a, 0x42, 0x64, 0x33,
    0x37, 0x76, 0x75, 0x51, 0x75, 0x33, 0x56, 0x58, 0x66, 0x36, 0x6d, 0x33, 0x77, 0x6c, 0x55, 0x65,
    0x6f, 0x75, 0x78, 0x75, 0x69, 0x4e, 0x37, 0x4b, 0x4b, 0x63, 0x47, 0x38, 0x6c, 0x49, 0x66, 0x44,
    0x65, 0x68, 0x49, 0x6a, 0x42, 0x4d, 0x49, 0x0a, 0x2d, 0x2d, 0x2d, 0x20, 0x2b, 0x5a, 0x53, 0x4c,
    0x42, 0x58, 0x65, 0x4e, 0x77, 0x54, 0x49, 0x30, 0x7a, 0x45, 0x2f, 0x77, 0x64, 0x56, 0x52, 0x34,
    0x45, 0x6c, 0x76, 0x42, 0x39, 0x45, 0x78, 0x47, 0x79, 0x44, 0x36, 0x35, 0x48, 0x34, 0x78, 0x53,
    0x34, 0x4c, 0x41, 0x34, 0x56, 0x47, 0x73, 0x0a, 0x7f, 0x20, 0xc4, 0xf7, 0xd1, 0x23, 0x56, 0xca,
    0xdc, 0x48, 0x0b, 0x0d, 0xdb, 0x8b, 0x46, 0x9a, 0x3f, 0x7b, 0x8e, 0x08, 0x9f, 0x8b, 0xb1, 0xa1,
    0x7f, 0x05, 0x21, 0x92, 0xfe, 0xa3, 0x04, 0x8e, 0x5d, 0x9f, 0x74, 0xc2, 0x84, 0x0c, 0xbe, 0x37,
    0x57, 0xc7, 0x36, 0xbf};

constexpr char kSopsYaml[] = R"SOPS(
db:
  pw: "ENC[AES256_GCM,data:pA==,iv:d53Km+tUPs2xFr8tWv69FcLB/lsSSsrg27m16z9M8/4=,tag:kgHnzhfhzji3RDBtWXTBqg==,type:str]"
  n: "ENC[AES256_GCM,data:Tw==,iv:Z8XMjXDM2h9l0Ds7sIeaIG4pCyU2eA+ynbCLUK724zc=,tag:w8xZsm6eYaGlP3uLUC3Y/Q==,type:int]"
  l:
    - "ENC[AES256_GCM,data:Rw==,iv:VwFVC0tcg1pcUD+xksVTWGqBOz0PymBw0ciZvf1he5E=,tag:g5M0wYIRx8jXUa+XkPhtEQ==,type:str]"
    - "ENC[AES256_GCM,data:mLx+pA==,iv:4JbxBYQatb6N3oAFCdfE5NcVUMw0JzrnS8dza6ffkno=,tag:jG9Py46j2VT5hazOPQDk+w==,type:bool]"
k_unencrypted: "v"
sops:
  age:
    - recipient: "age15ysx59k7azeg9zuskfst9wkk6f0j7tafvr3zwj9vxfu8ullzye8slu6yak"
      enc: "-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSB1MTJRUFl3SWN3Wm4wTk53\nYVJrMHlLSHZPZDNESXZKUWxibm5GRW5BM25JCnovUFNRN0hMUGF1L25kbk1uUVJm\nZlFWWDJwOVJ5UEp6ZG0rMzM3ZkZwa1UKLS0tIFA2Mm5mTzF2dnYzMGQxamxkYnZm\nQWo3VnpOZHJ4cS9oMXgrdU0zYklYUXMK9cLOrfZYOPfpPjuebW+y+4LWlx++S6+C\nxyHskR20/c/p1c75zTbVO98Gc4ErpbZPaaazi2GCYlJL2e44HFk0CQ==\n-----END AGE ENCRYPTED FILE-----\n"
  lastmodified: "2026-11-22T12:00:00Z"
  mac: "ENC[AES256_GCM,data:kN2gvRpR+SY0ZZ2MECXCDaFzuDWwPKXav1j6IDkifYoGFW5p7Vluz/IkCYvvK/YPKHYdJcHf00tpuYFjFVCPZBWdxi/q/99zBhRuURfplgweStvnA6Mlq6RD0L91LoM2V64v/MzhOogtG6cqOEMjW2QV1itceF1pI4pE5YN9Q6g=,iv:4jzP9hYdKZuhyl9By0dF3f2whct/WP1rpD2pZpqfQic=,tag:3EI4hpSyC9X9l5kcPmQ+kw==,type:str]"
  unencrypted_suffix: "_unencrypted"
  version: "3.10.2"
)SOPS";

const std::vector<AgeIdentity>& Identities() {
  static const std::vector<AgeIdentity>* ids = [] {
    auto* v = new std::vector<AgeIdentity>();
    v->push_back(std::move(AgeIdentity::ParseX25519(kFuzzIdentity)).value());
    // Cheap scrypt: stanzas above 2^4 are rejected before any work.
    v->push_back(AgeIdentity::Passphrase("fuzz", 4));
    // The embedded inputs must be valid, or the splicing modes test nothing.
    if (!AgeDecrypt(std::string_view(reinterpret_cast<const char*>(kAgeFile), sizeof kAgeFile), *v)
             .ok() ||
        !SopsDecrypt("f.yaml", kSopsYaml, nullptr, *v).ok())
      std::abort();
    return v;
  }();
  return *ids;
}

// Replaces bytes of `base` at an offset taken from the first two input bytes.
std::string Splice(std::string_view base, std::string_view in) {
  std::string out(base);
  if (in.size() < 2) return out;
  size_t off = (static_cast<uint8_t>(in[0]) << 8 | static_cast<uint8_t>(in[1])) % (out.size() + 1);
  in.remove_prefix(2);
  if (!in.empty() && in[0] == 'T') {  // truncate
    out.resize(off);
    return out;
  }
  out.replace(off, std::min(in.size(), out.size() - off), in);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0] % 8;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto& ids = Identities();
  const std::string_view age_file(reinterpret_cast<const char*>(kAgeFile), sizeof kAgeFile);
  switch (mode) {
    case 0:
      (void)AgeDecrypt(in, ids);
      break;
    case 1:
      (void)AgeDecrypt(std::string(kAgeVersionLine) + "\n" + std::string(in), ids);
      break;
    case 2:
      (void)AgeDecrypt(Splice(age_file, in), ids);
      break;
    case 3:
      (void)AgeDearmor(in);
      (void)AgeDecrypt(
          std::string(kAgeArmorBegin) + "\n" + std::string(in) + "\n" + kAgeArmorEnd + "\n", ids);
      break;
    case 4:
      (void)SopsDecrypt("f.yaml", in, nullptr, ids);
      break;
    case 5: {
      SopsSelector sel{R"(["db"]["l"][1])", std::nullopt};
      (void)SopsDecrypt("f.yaml", Splice(kSopsYaml, in), &sel, ids);
      break;
    }
    case 6: {
      if (in.empty()) break;
      static constexpr SopsFormat kFormats[] = {SopsFormat::kYaml, SopsFormat::kJson,
                                                SopsFormat::kDotenv, SopsFormat::kBinary};
      SopsSelector sel{"", kFormats[static_cast<uint8_t>(in[0]) % 4]};
      (void)SopsDecrypt("f", in.substr(1), &sel, ids);
      (void)DetectSopsFormat("f", in);
      break;
    }
    case 7:
      (void)ParseAgeIdentities("fuzz", in);
      (void)ParseSopsKey(in);
      (void)DetectEncoding(in);
      (void)LooksLikeSops(in);
      break;
  }
  return 0;
}
