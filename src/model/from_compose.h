// Converters into model::StackSpec: Compose projects (compose::LoadProject)
// and DAB bundles (dab::LoadBundle), with parity to `docker stack deploy`
// (docker/cli cli/compose/convert and cli/command/stack/swarm/deploy_*.go).
//
// The service, network, secret and config specs are the exact JSON bodies the
// docker CLI sends to the Engine API (omitted fields omitted, not null), so a
// deploy through stackctl and one through `docker stack deploy` store equal
// specs. Output is deterministic: every vector sorted by engine name, maps
// ordered, lists ordered as docker orders them.
//
// Secret/config file contents are read through the FileSource and kept in
// Blob::data only, never in Blob::spec.
//
// Thread safety: pure functions (the FileSource is only read).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/file_source.h"
#include "common/status.h"
#include "compose/loader.h"
#include "model/stack.h"

namespace stackctl::dab {
struct Bundle;
}

namespace stackctl::model {

// `stack` is the stack (namespace) name: objects are named "<stack>_<key>"
// unless they carry a `name:` or are external.
Result<StackSpec> FromCompose(const compose::Project& project, const std::string& stack,
                              FileSource& files);

// FromCompose in two steps, for a caller that changes the secrets and configs
// and must then edit every service spec to match: render names them by their
// content. The edit is applied to each spec before it is packed, so no spec
// is unpacked again for it (1,000 specs cost 0.1 s to unpack and repack).
// The first step converts the secrets and configs (reading their files); the
// second adds the services, and the networks they join, to `stack`.
Result<StackSpec> FromComposeObjects(const compose::Project& project, const std::string& stack,
                                     FileSource& files);
using SpecEdit = std::function<void(Json& service_spec)>;
Status AddComposeServices(const compose::Project& project, StackSpec* stack, const SpecEdit& edit);

// External objects a spec needs that `exists(kind, name)` says are missing
// ("network", "secret", "config"), as docker's pre-deploy checks word them:
//   network "N" is declared as external, but could not be found. You need to
//   create a swarm-scoped network before the stack is deployed
//   service S: secret not found: N      (config likewise)
// Returns every finding, empty when all exist.
std::vector<std::string> MissingExternals(
    const StackSpec& spec, const std::function<bool(const std::string& kind, const std::string& name)>& exists);

// Like the former `docker deploy --bundle-file`.
Result<StackSpec> FromBundle(const dab::Bundle& bundle, const std::string& stack);

// The image reference the docker client sends: a name without tag or digest
// gets ":latest", docker.io names are shown in their familiar form
// ("docker.io/library/redis" -> "redis:latest"). Unparsable names are kept.
std::string ImageWithTag(const std::string& image);


}  // namespace stackctl::model
