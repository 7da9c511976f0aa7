// Compose v3 loader: files -> compose::Project, staged like docker/cli's
// loader. Per file: YAML (yaml_tree) -> interpolation (interpolation) ->
// validation (validate) -> normalization into the project shape below; then
// override files are merged into the first with the current docker CLI's
// rules; then cross references are checked.
//
// The Project is the validated, normalized configuration: every short syntax
// is expanded to its long form so the converter (model::FromCompose) and the
// merge deal with one shape only:
//   services.NAME: image, command/entrypoint (lists), environment (KEY ->
//     string or null), env_file resolved into environment, labels and
//     deploy.labels (KEY -> string), extra_hosts ("host:ip" list), dns,
//     dns_search (lists), ports (list of {target, published?, protocol, mode}),
//     volumes (list of long-form mounts; bind sources absolute), secrets and
//     configs (list of {source, target?, uid?, gid?, mode?}), networks
//     (NAME -> null | {aliases, ipv4_address, ipv6_address}), ulimits
//     (NAME -> {soft, hard}), healthcheck.test (list), sysctls (KEY -> string),
//     depends_on (list), everything else as written.
//   networks/volumes/secrets/configs.NAME: the definition ({} for null),
//     `external: {name: X}` folded into `external: true` + `name: X`, the name
//     of an external object defaulted to its key, secret/config `file` paths
//     resolved against the directory of the first file.
//
// Every problem of every file is reported (errors joined by '\n' in one
// InvalidArgument status, each "FILE:LINE:COL: key.path: message"); a failed
// load never yields a partial project.
//
// Thread safety: LoadProject is a pure function of its inputs (the FileSource
// is only read).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/file_source.h"
#include "common/json.h"
#include "common/status.h"

namespace stackctl::compose {

struct LoadOptions {
  // Compose files, in -c order; paths as the FileSource resolves them. The
  // directory of the first file is the base of every relative path.
  std::vector<std::string> files;
  // The whole environment interpolation sees (docker: the process env).
  std::map<std::string, std::string> env;
  // --env-file files (read through the FileSource); their values do not
  // override `env`.
  std::vector<std::string> env_files;
  // Also read `.env` beside the first file when it exists. docker stack
  // deploy does not, so this is off by default (see docs/compose-parity.md).
  bool read_dotenv = false;
  // Absolute host directory relative bind-mount sources resolve against
  // (docker: the absolute directory of the first file). Defaults to the
  // directory of the first file as given.
  std::string working_dir;
  // Limit on YAML nodes after alias expansion (billion-laughs guard).
  size_t max_yaml_nodes = 1000000;
};

struct Project {
  std::string version;      // of the first file ("3.9"; "" when absent)
  std::string base_dir;     // directory of the first file, in FileSource terms
  std::string working_dir;  // absolute directory for bind mounts
  // Each service's normalized definition, packed: a project of 1,000
  // services is a tenth of its size as one DOM. Unpack one at a time.
  std::map<std::string, PackedJson> services;
  Json networks = Json::object();
  Json volumes = Json::object();
  Json secrets = Json::object();
  Json configs = Json::object();
  Json extensions = Json::object();  // top-level x-* keys of all files, merged
  std::vector<std::string> warnings;  // docker's warnings, then ours
  bool operator==(const Project&) const = default;
};

Result<Project> LoadProject(const LoadOptions& options, FileSource& files);

// Splits a command string like a POSIX shell does for words (quotes and
// backslashes; no expansion), as docker does for `command: "a 'b c'"`.
Result<std::vector<std::string>> SplitShellWords(const std::string& s);

// Parses a docker byte size ("50M", "1.5g", "1024", "10kb") to bytes.
bool ParseRamBytes(const std::string& s, int64_t* bytes);

}  // namespace stackctl::compose
