// `stackctl render` and `stackctl validate`: the load/convert pipeline with
// writes disabled.
#include <iostream>

#include "cli/cli.h"
#include "cli/stack_source.h"

namespace stackctl::cli {
namespace {

// The service specs stay packed (moved out of `spec`): WriteJson writes them
// straight from their bytes.
Json RenderJson(model::StackSpec& spec) {
  Json out = {{"stack", spec.name},
              {"networks", Json::array()},
              {"secrets", Json::array()},
              {"configs", Json::array()},
              {"services", Json::array()}};
  for (const auto& n : spec.networks) {
    out["networks"].push_back(n.external ? Json{{"Name", n.name}, {"External", true}} : n.spec);
  }
  for (auto [key, blobs] : {std::pair{"secrets", &spec.secrets}, std::pair{"configs", &spec.configs}}) {
    for (const auto& b : *blobs) {
      // Contents are never printed, only their size.
      out[key].push_back(b.external ? Json{{"Name", b.name}, {"External", true}}
                                    : Json{{"Spec", b.spec}, {"DataBytes", b.data.size()}});
    }
  }
  for (auto& s : spec.services) {
    out["services"].push_back({{"Spec", s.spec.TakeAsBinary()}, {"DependsOn", s.depends_on}});
  }
  return out;
}

struct RenderFlags {
  StackSourceOptions source;
  std::string stack;
};

}  // namespace

void RegisterRender(CLI::App& app, Context& ctx) {
  auto flags = std::make_shared<RenderFlags>();
  auto* render = app.add_subcommand(
      "render", "Print the networks, secrets, configs (without data) and services a deploy would send");
  AddStackSourceFlags(render, &flags->source);
  render->add_option("stack", flags->stack, "Stack name")->required();
  render->callback([flags, &ctx] {
    auto spec = LoadStack(flags->source, flags->stack);
    if (!spec.ok()) {
      std::cerr << spec.status().message() << "\n";
      ctx.exit_code = 1;
      return;
    }
    for (const auto& w : spec->warnings) std::cerr << "warning: " << w << "\n";
    std::string text;
    WriteJson(RenderJson(*spec), 2, [&text](std::string_view piece) { text.append(piece); });
    std::cout << text << "\n";
    ctx.exit_code = 0;
  });

  auto vflags = std::make_shared<RenderFlags>();
  auto* validate = app.add_subcommand("validate", "Check a stack definition and report every error");
  AddStackSourceFlags(validate, &vflags->source);
  validate->add_option("stack", vflags->stack, "Stack name (default: stack)");
  validate->callback([vflags, &ctx] {
    auto spec = LoadStack(vflags->source, vflags->stack.empty() ? "stack" : vflags->stack);
    if (!spec.ok()) {
      std::cerr << spec.status().message() << "\n";
      ctx.exit_code = 1;
      return;
    }
    for (const auto& w : spec->warnings) std::cerr << "warning: " << w << "\n";
    std::cout << "valid: " << spec->services.size() << " services, " << spec->networks.size()
              << " networks, " << spec->secrets.size() << " secrets, " << spec->configs.size()
              << " configs\n";
    ctx.exit_code = 0;
  });
}

}  // namespace stackctl::cli
