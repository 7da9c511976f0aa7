#include "render/render.h"

#include "common/crypto.h"
#include "compose/loader.h"
#include "dab/bundle.h"
#include "model/from_compose.h"
#include "secrets/decode.h"
#include "secrets/materialize.h"

extern char** environ;

namespace stackctl::render {

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

namespace {

// Decodes every non-external secret/config in place; `defs` is the project's
// top-level secrets/configs section (for x-sops selectors and file paths).
Status DecodeBlobs(std::vector<model::Blob>* blobs, const Json& defs, const char* kind,
                   const std::string& base_dir, const secrets::Keyring& keys) {
  for (auto& b : *blobs) {
    if (b.external) continue;
    const Json def = defs.is_object() ? defs.value(b.key, Json::object()) : Json::object();
    std::string display = def.value("file", b.key);
    std::string what = std::string(kind) + " " + b.key;
    secrets::SopsSelector selector;
    const secrets::SopsSelector* sel = nullptr;
    if (def.contains("x-sops")) {
      const Json& x = def["x-sops"];
      if (!x.is_object()) return InvalidArgument(std::string(kind) + "s." + b.key + ".x-sops: must be a mapping");
      for (auto it = x.begin(); it != x.end(); ++it) {
        if (it.key() != "key" && it.key() != "format") {
          return InvalidArgument(std::string(kind) + "s." + b.key + ".x-sops: unknown key " + it.key() +
                                 " (allowed: key, format)");
        }
        if (!it.value().is_string()) {
          return InvalidArgument(std::string(kind) + "s." + b.key + ".x-sops." + it.key() + ": must be a string");
        }
      }
      selector.key = x.value("key", "");
      if (x.contains("format")) {
        ASSIGN_OR_RETURN(selector.format, secrets::ParseSopsFormat(x["format"].get<std::string>()));
      }
      sel = &selector;
    }
    auto plain = secrets::Decode(display, b.data, sel, keys);
    SecureWipe(&b.data);
    if (!plain.ok()) return plain.status().WithPrefix(what);
    b.data = std::move(*plain);
  }
  return OkStatus();
}

}  // namespace

Result<model::StackSpec> RenderStack(const RenderInput& input, FileSource& files,
                                     const secrets::Keyring& keys) {
  model::StackSpec spec;
  if (!input.bundle.empty()) {
    if (!input.compose_files.empty()) {
      return InvalidArgument("--bundle and --compose-file are mutually exclusive");
    }
    ASSIGN_OR_RETURN(std::string text, files.Read(input.bundle));
    ASSIGN_OR_RETURN(dab::Bundle bundle, dab::LoadBundle(text, input.bundle));
    ASSIGN_OR_RETURN(spec, model::FromBundle(bundle, input.stack));
    return spec;
  }
  if (input.compose_files.empty()) return InvalidArgument("no compose file given (-c FILE)");
  compose::LoadOptions lo;
  lo.files = input.compose_files;
  lo.env = input.env;
  lo.env_files = input.env_files;
  lo.read_dotenv = input.read_dotenv;
  lo.working_dir = input.working_dir;
  ASSIGN_OR_RETURN(compose::Project project, compose::LoadProject(lo, files));
  // Secrets and configs are decoded and named by content before the services
  // are converted, so each service spec is repointed before it is packed.
  ASSIGN_OR_RETURN(spec, model::FromComposeObjects(project, input.stack, files));
  RETURN_IF_ERROR(DecodeBlobs(&spec.secrets, project.secrets, "secret", project.base_dir, keys));
  RETURN_IF_ERROR(DecodeBlobs(&spec.configs, project.configs, "config", project.base_dir, keys));
  ASSIGN_OR_RETURN(secrets::Renames renames, secrets::MaterializeObjects(spec));
  RETURN_IF_ERROR(model::AddComposeServices(
      project, &spec, [&renames](Json& s) { secrets::RepointReferences(s, renames); }));
  return spec;
}

}  // namespace stackctl::render
