// `stackctl verify IMAGE...`: checks each image against its Notary trust data
// and prints the signed digest and the signing role, or why it is not
// trusted. Exit status 1 when any image fails.
#include <chrono>
#include <iostream>

#include "cli/cli.h"
#include "cli/trust_options.h"
#include "common/clock.h"
#include "notary/image_verifier.h"
#include "notary/trust_store.h"

namespace stackctl::cli {

void RegisterVerify(CLI::App& app, Context& ctx) {
  auto* cmd =
      app.add_subcommand("verify", "Verify images against Docker Content Trust (Notary v1)");
  struct Args {
    TrustOptions trust;
    std::vector<std::string> images;
    bool stats = false;
  };
  auto args = std::make_shared<Args>();
  AddTrustOptions(cmd, &args->trust);
  cmd->add_flag("--stats", args->stats, "Print metadata fetches and time per image to stderr");
  cmd->add_option("images", args->images, "Image references (REPO[:TAG])")->required();
  cmd->callback([&ctx, args] {
    auto opts = BuildNotaryOptions(args->trust);
    if (!opts.ok()) {
      std::cerr << "stackctl verify: " << opts.status().message() << "\n";
      ctx.exit_code = 2;
      return;
    }
    std::string dir = TrustDir(args->trust);
    notary::FileRootStore roots(dir + "/roots");
    notary::FileMetadataCache cache(dir + "/cache");
    SystemClock clock;
    notary::NotaryVerifier verifier(std::move(*opts), roots, cache, clock);
    int failures = 0;
    for (const auto& image : args->images) {
      auto start = std::chrono::steady_clock::now();
      auto r = verifier.Resolve(image);
      auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
      if (args->stats) {
        std::cerr << "stats: " << image << ": " << verifier.last_fetches() << " fetches, "
                  << ms.count() << " ms\n";
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
