// Variable interpolation of compose files, as `docker stack deploy` does it.
//
// Substitute() expands one string: `$VAR`, `${VAR}`, `${VAR:-default}`
// (unset or empty), `${VAR-default}` (unset), `${VAR:?message}` (error when
// unset or empty), `${VAR?message}` (error when unset) and `$$` (a literal
// `$`). Defaults may themselves contain substitutions. An unset variable
// without a default becomes "" and is reported in `unset` (docker warns).
//
// Errors carry the docker wording without a path; InterpolateTree adds the
// file:line:col and key path of the value.
//
// Env files (.env, env_file:, --env-file) are parsed by ParseEnvFile with the
// docker rules: `#` comment lines and blank lines skipped, `KEY=VALUE` kept
// verbatim (no unquoting), a bare `KEY` takes its value from `lookup` and is
// kept bare when unset there, a key containing whitespace is an error.
//
// Thread safety: pure functions.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "common/yaml_tree.h"

namespace stackctl::compose {

using Lookup = std::function<std::optional<std::string>(const std::string&)>;

// InvalidArgument messages:
//   required variable NAME is missing a value: MESSAGE
//   invalid interpolation format "TEMPLATE"
Result<std::string> Substitute(const std::string& in, const Lookup& lookup,
                               std::set<std::string>* unset = nullptr);

// Interpolates every string value of `root` (keys are left alone) in place,
// then casts the values docker types after interpolation (deploy.replicas,
// ports[].published, healthcheck.retries, tty, *.external ... ) to int, float
// or bool. Every failure is appended to `errors` as
// "FILE:LINE:COL: PATH: message".
void InterpolateTree(Json* root, const std::string& filename,
                     const Marks& marks, const Lookup& lookup,
                     std::vector<std::string>* errors, std::set<std::string>* unset);

// InterpolateTree for one value of the tree, found at `path` (its keys from
// the root, like {"services", "web"}): the loader interpolates each service
// on its own.
void InterpolateValue(Json* value, std::vector<std::string> path, const std::string& filename,
                      const Marks& marks, const Lookup& lookup,
                      std::vector<std::string>* errors, std::set<std::string>* unset);

// Lines of an env file as "KEY=VALUE" (or bare "KEY"), in file order.
// `what` names the file in errors.
Result<std::vector<std::string>> ParseEnvFile(const std::string& content, const std::string& what,
                                              const Lookup& lookup);

// Formats "FILE:LINE:COL: PATH: message" using the mark of `path` (or of its
// nearest recorded ancestor).
std::string Located(const std::string& filename, const Marks& marks,
                    const std::string& path, const std::string& message);

}  // namespace stackctl::compose
