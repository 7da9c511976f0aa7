// Text-level YAML helpers shared by the YAML adapters (compose, secrets).
//
// yaml-cpp 0.7's YAML::LoadAll can loop forever on malformed input (found by
// fuzz_secrets and fuzz_compose, e.g. the 6 bytes "\0,ver#"), so adapters load
// one document with YAML::Load and count documents by hand with this.
//
// Thread safety: pure function.
#pragma once

#include <string_view>

namespace stackctl {

// True when a second YAML document starts after content: a "---" marker at
// column 0 after some non-comment line.
bool HasSecondYamlDocument(std::string_view content);

}  // namespace stackctl
