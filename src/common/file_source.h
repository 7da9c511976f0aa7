// FileSource: read-only access to the files a stack definition refers to.
//
// Compose files, .env files, env_file entries and secret/config `file:`
// sources are all read through this interface, so the same loader works on
// a directory on disk (DiskFileSource), on a Git snapshot without a work tree
// (the git module implements FileSource over a commit), and on an in-memory
// map in tests (MemoryFileSource).
//
// Paths are '/'-separated. Relative paths are resolved against the source's
// root; absolute paths are taken as they are (DiskFileSource) or looked up
// verbatim (MemoryFileSource).
//
// Thread safety: implementations are safe for concurrent const use only if
// documented; the ones here hold no mutable state after construction.
#pragma once

#include <map>
#include <set>
#include <string>

#include "common/status.h"

namespace stackctl {

class FileSource {
 public:
  virtual ~FileSource() = default;
  // Whole content of `path`; NotFound with "open PATH: no such file or
  // directory" when it does not exist.
  virtual Result<std::string> Read(const std::string& path) = 0;
  virtual bool Exists(const std::string& path) = 0;
};

std::string CleanPath(const std::string& path);

// Files of a directory tree on the local disk.
class DiskFileSource : public FileSource {
 public:
  explicit DiskFileSource(std::string root);
  Result<std::string> Read(const std::string& path) override;
  bool Exists(const std::string& path) override;
  // The path Read() would open for `path`.
  std::string Resolve(const std::string& path) const;

 private:
  std::string root_;
};

// Files held in memory (tests, fuzzers, snapshots already in memory).
class MemoryFileSource : public FileSource {
 public:
  MemoryFileSource() = default;
  explicit MemoryFileSource(std::map<std::string, std::string> files) : files_(std::move(files)) {}
  void Put(const std::string& path, std::string content) { files_[CleanPath(path)] = std::move(content); }
  Result<std::string> Read(const std::string& path) override;
  bool Exists(const std::string& path) override;

 private:
  std::map<std::string, std::string> files_;
};

// Forwards to another FileSource and remembers every path asked for, found or
// not: what a result was made from. The controller reconciles a stack again
// when a commit changes any file its last render read, or adds one it looked
// for (an optional `.env`, a missing `env_file`).
// Thread safety: none (one render at a time).
class RecordingFileSource : public FileSource {
 public:
  explicit RecordingFileSource(FileSource& base) : base_(base) {}
  Result<std::string> Read(const std::string& path) override {
    paths_.insert(path);
    return base_.Read(path);
  }
  bool Exists(const std::string& path) override {
    paths_.insert(path);
    return base_.Exists(path);
  }
  // The paths as they were given to Read/Exists.
  const std::set<std::string>& paths() const { return paths_; }

 private:
  FileSource& base_;
  std::set<std::string> paths_;
};

// Path helpers shared by the loaders ('/'-separated, lexical only).
// JoinPath("a/b", "../c") == "a/c"; an absolute `rel` is returned cleaned.
std::string JoinPath(const std::string& base, const std::string& rel);
// Lexical clean like Go's path.Clean ("" -> ".").
std::string CleanPath(const std::string& path);
// Directory part ("a/b.yml" -> "a", "b.yml" -> ".", "/x" -> "/").
std::string DirName(const std::string& path);

}  // namespace stackctl
