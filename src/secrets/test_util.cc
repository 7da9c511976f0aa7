#include "secrets/test_util.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace stackctl::secrets::testutil {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "stackctl-secrets-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFileOrDie(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + path);
  out << data;
}

int RunCommand(const std::string& cmd, std::string* out) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  std::string buf;
  char tmp[4096];
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, p)) > 0) buf.append(tmp, n);
  int st = pclose(p);
  if (out) *out = std::move(buf);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string KeyGen(const TempDir& dir, const std::string& name) {
  std::string pub;
  if (RunCommand(std::string(STACKCTL_AGE_KEYGEN_BIN) + " -o " + dir.File(name) + " 2>&1", &pub) !=
      0)
    throw std::runtime_error("age-keygen failed: " + pub);
  // "Public key: age1...\n"
  size_t p = pub.find("age1");
  if (p == std::string::npos) throw std::runtime_error("age-keygen output: " + pub);
  return pub.substr(p, pub.find('\n', p) - p);
}

}  // namespace stackctl::secrets::testutil
