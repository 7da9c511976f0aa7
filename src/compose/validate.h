// Structural validation of one interpolated compose file (the job docker's
// JSON schema does), against the compose file format 3.0-3.13 accepted by
// `docker stack deploy` (the schemas of docker/cli 28.x).
//
// Checks key names (unknown keys are reported with the allowed ones; keys
// newer than the file's version are reported with the version that
// introduced them), value types, enumerations and the formats of durations.
// Every finding is appended to `errors` as "FILE:LINE:COL: PATH: message";
// validation never stops at the first error.
//
// Thread safety: pure function.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/yaml_tree.h"

namespace stackctl::compose {

// The newest compose file format docker/cli 28.x knows: 3.13.
inline constexpr int kNewestMinorVersion = 13;

// `minor` is the file's format minor version (3.`minor`); files without a
// version key (and "3") validate as the newest, as docker 28.x does.
void ValidateFile(const Json& root, int minor, const std::string& filename,
                  const Marks& marks, std::vector<std::string>* errors);

// ValidateFile for the service `name` of a file's services: the loader
// validates each service on its own.
void ValidateService(const Json& service, const std::string& name, int minor,
                     const std::string& filename, const Marks& marks,
                     std::vector<std::string>* errors);


}  // namespace stackctl::compose
