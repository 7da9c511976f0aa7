// ReadSecretFile: the one reader of files that hold a secret (API tokens,
// webhook secrets, the CLI's --token-file). Secrets are read when needed, not
// kept from start-up, so a rotated file is picked up.
//
// Errors are kFailedPrecondition naming the path, never the content:
//   "<path>: cannot read secret file", "<path>: secret file is empty".
//
// Thread safety: a pure function over the file system.
#pragma once

#include <string>

#include "common/status.h"

namespace stackctl {

// The file's content without trailing whitespace (newlines, spaces).
Result<std::string> ReadSecretFile(const std::string& path);

}  // namespace stackctl
