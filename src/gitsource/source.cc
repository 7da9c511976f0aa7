#include "gitsource/source.h"

#include <vector>

namespace stackctl::gitsource {
namespace {

// FileSource view of a subdirectory of another FileSource.
class SubdirFileSource : public FileSource {
 public:
  SubdirFileSource(std::shared_ptr<FileSource> root, std::string dir)
      : root_(std::move(root)), dir_(std::move(dir)) {}

  Result<std::string> Read(const std::string& path) override {
    ASSIGN_OR_RETURN(std::string full, JoinRepoPath(dir_, path));
    return root_->Read(full);
  }
  bool Exists(const std::string& path) override {
    Result<std::string> full = JoinRepoPath(dir_, path);
    return full.ok() && root_->Exists(*full);
  }

 private:
  std::shared_ptr<FileSource> root_;
  std::string dir_;
};

std::vector<std::string> SplitPath(const std::string& p) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    parts.push_back(p.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

}  // namespace

std::unique_ptr<FileSource> Snapshot::Files(const std::string& dir) const {
  return std::make_unique<SubdirFileSource>(root_, dir);
}

Result<std::string> JoinRepoPath(const std::string& dir, const std::string& path) {
  if (!path.empty() && path[0] == '/') {
    return InvalidArgument(path + ": absolute paths are not allowed in a repository");
  }
  if (!dir.empty() && dir[0] == '/') {
    return InvalidArgument(dir + ": absolute paths are not allowed in a repository");
  }
  std::vector<std::string> out;
  for (const std::string& whole : {dir, path}) {
    for (const std::string& part : SplitPath(whole)) {
      if (part.empty() || part == ".") continue;
      if (part == "..") {
        if (out.empty()) {
          const std::string shown = dir.empty()    ? path
                                    : path.empty() ? dir
                                                   : dir + "/" + path;
          return InvalidArgument(shown + ": path leaves the repository");
        }
        out.pop_back();
        continue;
      }
      out.push_back(part);
    }
  }
  std::string joined;
  for (const std::string& part : out) {
    if (!joined.empty()) joined += '/';
    joined += part;
  }
  return joined;
}

bool AnyChangedUnder(const std::vector<std::string>& changed, const std::string& dir) {
  Result<std::string> norm = JoinRepoPath(dir, "");
  if (!norm.ok()) return false;
  if (norm->empty()) return !changed.empty();
  const std::string prefix = *norm + "/";
  for (const std::string& p : changed) {
    if (p == *norm || p.compare(0, prefix.size(), prefix) == 0) return true;
  }
  return false;
}

bool StackInputsChanged(const std::vector<std::string>& changed, const std::string& dir,
                        const std::set<std::string>& inputs) {
  if (AnyChangedUnder(changed, dir)) return true;
  for (const std::string& p : changed) {
    if (inputs.count(p)) return true;
  }
  return false;
}

}  // namespace stackctl::gitsource
