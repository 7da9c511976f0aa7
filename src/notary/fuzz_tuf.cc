// libFuzzer target: the TUF metadata parser and verifier. The input replaces
// one metadata file (chosen by its first byte) of a GUN whose other files
// come from the saved samples (or are absent), then the client verifies it
// with a fixed clock and resolves a tag. Must never crash, leak or hang.
#include <cstddef>
#include <cstdint>
#include <string>

#include "notary/test_support.h"
#include "notary/tuf_client.h"
#include "notary/tuf_json.h"

using namespace stackctl;
using namespace stackctl::notary;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const testing::SampleSource base(testing::SamplesDir() + "/remote-signer");
  static const char* kGuns[] = {"127.0.0.1:5000/library/busybox-deleg",
                                "127.0.0.1:5000/library/busybox"};
  if (size < 1) return 0;
  const std::string gun = kGuns[data[0] & 1];
  testing::SampleSource src = base;
  const char* roles[] = {"root",          "timestamp", "snapshot", "targets", "targets/releases",
                         "targets/alice", "2.root",    "root"};
  std::string role = roles[(data[0] >> 1) & 7];
  std::string name =
      role == "root" || role == "timestamp" || role == "2.root" ? role : src.Addressed(gun, role);
  std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  src.Replace(gun, name, input);
  // Also exercise the canonical encoder and time parser directly.
  try {
    (void)TufCanonical(Json::parse(input));
  } catch (const Json::exception&) {
  }
  (void)ParseRfc3339(input);

  testing::MemoryRootStore store;
  if (data[0] & 0x10) {
    // A cached root makes the rotation path run.
    if (auto r = base.Raw(gun, "root")) (void)store.Save(gun, TrustState{input, {}});
  }
  MemoryMetadataCache cache;
  FakeClock clock(*ParseRfc3339("2026-11-23T00:00:00Z"));
  TufClient client(src, store, cache, clock, TrustPinning{});
  auto repo = client.Update(gun);
  if (repo.ok()) (void)ResolveTag(*repo, "1.0");
  return 0;
}
