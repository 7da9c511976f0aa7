// Test-only helpers for src/secrets: a temporary directory removed on
// destruction, file I/O and running the real `age` CLI and other tools.
//
// Thread safety: not thread safe; one TempDir per test.
#pragma once

#include <ostream>
#include <string>

#include "common/status.h"

namespace stackctl {
// Lets gtest print Status values readably (found by ADL).
inline void PrintTo(const Status& s, std::ostream* os) { *os << s.ToString(); }
}  // namespace stackctl

namespace stackctl::secrets::testutil {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadFileOrDie(const std::string& path);
void WriteFileOrDie(const std::string& path, const std::string& data);
// Runs `cmd` through /bin/sh; returns its exit status and stdout in *out.
int RunCommand(const std::string& cmd, std::string* out = nullptr);
// Runs age-keygen into dir/name; returns the public key ("age1...").
std::string KeyGen(const TempDir& dir, const std::string& name);

}  // namespace stackctl::secrets::testutil
