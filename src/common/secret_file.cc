#include "common/secret_file.h"

#include <cctype>
#include <fstream>
#include <sstream>

namespace stackctl {

Result<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return FailedPrecondition(path + ": cannot read secret file");
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  if (s.empty()) return FailedPrecondition(path + ": secret file is empty");
  return s;
}

}  // namespace stackctl
