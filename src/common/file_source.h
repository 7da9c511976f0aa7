// FileSource: read-only access to a tree of files addressed by relative paths
// ("docker-compose.yml", "config/nginx.conf"). Implementations: a directory on
// disk, a Git commit (src/gitsource), an in-memory map in tests.
//
// Paths are relative to the source's root, '/'-separated. Implementations
// document their own thread safety.
#pragma once

#include <string>

#include "common/status.h"

namespace stackctl {

class FileSource {
 public:
  virtual ~FileSource() = default;
  // The file's bytes, or kNotFound naming the path.
  virtual Result<std::string> Read(const std::string& path) = 0;
  virtual bool Exists(const std::string& path) = 0;
};

}  // namespace stackctl
