// `stackctl verify IMAGE...`: checks each image against its signatures —
// Notary trust data (Docker Content Trust) by default, keyed cosign
// signatures with --cosign-key, or both (--signatures notary,cosign, --accept)
// — and prints the verified digest and who signed it (the Notary role, the
// cosign key), or why it is not trusted. Exit status 1 when any image fails,
// 2 on bad flags.
#include <chrono>
#include <iostream>

#include "cli/cli.h"
#include "cli/trust_options.h"
#include "common/clock.h"
#include "notary/image_verifier.h"
#include "notary/trust_store.h"

namespace stackctl::cli {
namespace {

// `verify` has no engine: an image the policy does not cover is an error.
class NotCovered : public notary::ImageVerifier {
 public:
  Result<notary::ResolvedImage> Resolve(const std::string& image_ref) override {
    return FailedPrecondition("image " + image_ref + ": not covered by --trust-images");
  }
};

}  // namespace

void RegisterVerify(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "verify", "Verify images against Docker Content Trust (Notary v1) and/or cosign signatures");
  struct Args {
    TrustOptions trust;
    std::vector<std::string> images;
    bool stats = false;
  };
  auto args = std::make_shared<Args>();
  AddTrustOptions(cmd, &args->trust);
  cmd->add_flag("--stats", args->stats,
                "Print Notary metadata fetches and time per image to stderr");
  cmd->add_option("images", args->images, "Image references (REPO[:TAG] or REPO@sha256:...)")
      ->required();
  cmd->callback([&ctx, args] {
    auto fail_flags = [&](const Status& st) {
      std::cerr << "stackctl verify: " << st.message() << "\n";
      ctx.exit_code = 2;
    };
    auto trust = BuildImageTrust(args->trust, notary::TrustPolicy::kRequire);
    if (!trust.ok()) return fail_flags(trust.status());

    std::string dir = TrustDir(args->trust);
    notary::FileRootStore roots(dir + "/roots");
    notary::FileMetadataCache cache(dir + "/cache");
    SystemClock clock;
    std::unique_ptr<notary::NotaryVerifier> notary;
    if (trust->policy.UsesNotary()) {
      notary = std::make_unique<notary::NotaryVerifier>(std::move(trust->notary), roots, cache, clock);
    }
    notary::HttpRegistry registry(std::move(trust->registries));
    notary::CosignVerifier cosign(registry);
    NotCovered not_covered;
    notary::PolicyVerifier verifier(std::move(trust->policy), notary.get(), &cosign, not_covered);
    int failures = 0;
    for (const auto& image : args->images) {
      auto start = std::chrono::steady_clock::now();
      auto r = verifier.Resolve(image);
      auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
      if (args->stats) {
        std::cerr << "stats: " << image << ": " << (notary ? notary->last_fetches() : 0)
                  << " fetches, " << ms.count() << " ms\n";
      }
      if (!r.ok()) {
        ++failures;
        std::cerr << image << ": not trusted: " << r.status().message() << "\n";
        continue;
      }
      for (const auto& w : r->warnings) std::cerr << "warning: " << w << "\n";
      std::cout << image << ": " << r->digest << " signed by "
                << (r->signed_by.empty() ? "nobody (pinned by digest)" : r->signed_by) << " ("
                << r->reference << ")\n";
    }
    ctx.exit_code = failures ? 1 : 0;
  });
}

}  // namespace stackctl::cli
