#include "common/file_source.h"

#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <vector>

namespace stackctl {

std::string CleanPath(const std::string& path) {
  if (path.empty()) return ".";
  bool abs = path[0] == '/';
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string seg = path.substr(i, j - i);
    if (seg.empty() || seg == ".") {
    } else if (seg == "..") {
      if (!parts.empty() && parts.back() != "..") {
        parts.pop_back();
      } else if (!abs) {
        parts.push_back(seg);
      }
    } else {
      parts.push_back(seg);
    }
    i = j + 1;
  }
  std::string out = abs ? "/" : "";
  for (size_t k = 0; k < parts.size(); ++k) {
    if (k) out += "/";
    out += parts[k];
  }
  if (out.empty()) return ".";
  return out;
}

std::string JoinPath(const std::string& base, const std::string& rel) {
  if (!rel.empty() && rel[0] == '/') return CleanPath(rel);
  if (base.empty()) return CleanPath(rel);
  return CleanPath(base + "/" + rel);
}

std::string DirName(const std::string& path) {
  size_t pos = path.rfind('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return CleanPath(path.substr(0, pos));
}

DiskFileSource::DiskFileSource(std::string root) : root_(std::move(root)) {}

std::string DiskFileSource::Resolve(const std::string& path) const {
  return JoinPath(root_.empty() ? "." : root_, path);
}

Result<std::string> DiskFileSource::Read(const std::string& path) {
  std::string full = Resolve(path);
  struct stat st;
  if (::stat(full.c_str(), &st) != 0) {
    return NotFound("open " + full + ": no such file or directory");
  }
  if (S_ISDIR(st.st_mode)) return InvalidArgument("read " + full + ": is a directory");
  std::ifstream in(full, std::ios::binary);
  if (!in) return PermissionDenied("open " + full + ": cannot be read");
  // Read at its size in one go: a stringstream would grow by doubling and copy
  // the whole text once more at the end (a 1,000-service file is 0.5 MB).
  std::string text(static_cast<size_t>(st.st_size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (in.peek() != std::char_traits<char>::eof()) {  // it grew since the stat
    std::ostringstream rest;
    rest << in.rdbuf();
    text += rest.str();
  }
  return text;
}

bool DiskFileSource::Exists(const std::string& path) {
  struct stat st;
  return ::stat(Resolve(path).c_str(), &st) == 0;
}

Result<std::string> MemoryFileSource::Read(const std::string& path) {
  auto it = files_.find(CleanPath(path));
  if (it == files_.end()) return NotFound("open " + CleanPath(path) + ": no such file or directory");
  return it->second;
}

bool MemoryFileSource::Exists(const std::string& path) {
  return files_.count(CleanPath(path)) > 0;
}

}  // namespace stackctl
