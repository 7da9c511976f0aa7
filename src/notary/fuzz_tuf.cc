// libFuzzer target: the TUF metadata parser and verifier. The input replaces
// one metadata file (chosen by its first byte) of one of two repositories
// built and signed in-process once (test_repo.h: one with targets only, one
// with targets/releases and targets/alice delegations), then the client
// verifies it with a fixed clock and resolves a tag. Must never crash, leak or
// hang. Needs no files: the seeds in fuzz/corpus/fuzz_tuf are real notary
// metadata, which reach the parser but fail the signature checks.
#include <cstddef>
#include <cstdint>
#include <string>

#include "notary/test_repo.h"
#include "notary/tuf_client.h"
#include "notary/tuf_json.h"

using namespace stackctl;
using namespace stackctl::notary;

namespace {

const char* const kGuns[] = {"127.0.0.1:5000/library/busybox-deleg",
                             "127.0.0.1:5000/library/busybox"};
const char kNow[] = "2026-11-23T00:00:00Z";

// The two repositories, published into one source (built on first use).
struct Base {
  Base()
      : plain(kGuns[1], *ParseRfc3339(kNow)), deleg(kGuns[0], *ParseRfc3339(kNow)) {
    const std::string d1(64, '1'), d2(64, '2');
    plain.targets["targets"]["1.0"] = testing::TestRepo::Target(d1);
    plain.Publish(src);
    deleg.targets["targets"]["1.0"] = testing::TestRepo::Target(d1);
    deleg.Delegate("targets", "targets/releases", releases);
    deleg.Delegate("targets", "targets/alice", alice);
    deleg.delegations["targets/releases"]["targets"]["1.0"] = testing::TestRepo::Target(d2);
    deleg.Publish(src);
  }
  testing::TestKey releases, alice;  // before deleg, which points at them
  testing::TestRepo plain, deleg;
  testing::SampleSource src;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Base repos;
  const testing::SampleSource& base = repos.src;
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
  FakeClock clock(*ParseRfc3339(kNow));
  TufClient client(src, store, cache, clock, TrustPinning{});
  auto repo = client.Update(gun);
  if (repo.ok()) (void)ResolveTag(*repo, "1.0");
  return 0;
}
