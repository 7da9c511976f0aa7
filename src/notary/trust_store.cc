#include "notary/trust_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/crypto.h"
#include "common/json.h"

namespace stackctl::notary {
namespace fs = std::filesystem;
namespace {

std::optional<std::string> ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status WriteAtomic(const fs::path& p, const std::string& data) {
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  if (ec) return Internal(p.parent_path().string() + ": " + ec.message());
  fs::permissions(p.parent_path(), fs::perms::owner_all, ec);
  std::string tmp = p.string() + ".tmp." + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Internal(tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string err = std::strerror(errno);
      close(fd);
      unlink(tmp.c_str());
      return Internal(tmp + ": " + err);
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    unlink(tmp.c_str());
    return Internal(tmp + ": " + std::strerror(errno));
  }
  if (rename(tmp.c_str(), p.c_str()) != 0) {
    std::string err = std::strerror(errno);
    unlink(tmp.c_str());
    return Internal(p.string() + ": " + err);
  }
  return OkStatus();
}

}  // namespace

std::string EncodeTrustState(const TrustState& s) {
  Json j = {{"root", s.root}, {"versions", s.versions}};
  return j.dump();
}

Result<TrustState> DecodeTrustState(const std::string& data, const std::string& what) {
  ASSIGN_OR_RETURN(Json j, ParseJson(data, what));
  TrustState s;
  try {
    s.root = j.at("root").get<std::string>();
    s.versions = j.at("versions").get<std::map<std::string, int64_t>>();
  } catch (const Json::exception& e) {
    return InvalidArgument(what + ": invalid trust state: " + e.what());
  }
  return s;
}

Result<std::optional<TrustState>> FileRootStore::Load(const std::string& gun) {
  fs::path p = fs::path(dir_) / (Sha256Hex(gun) + ".json");
  auto data = ReadAll(p);
  if (!data) {
    std::error_code ec;
    if (!fs::exists(p, ec)) return std::optional<TrustState>();
    return Internal(p.string() + ": cannot read trusted root of " + gun);
  }
  ASSIGN_OR_RETURN(TrustState s, DecodeTrustState(*data, p.string()));
  return std::optional<TrustState>(std::move(s));
}

Status FileRootStore::Save(const std::string& gun, const TrustState& state) {
  return WriteAtomic(fs::path(dir_) / (Sha256Hex(gun) + ".json"), EncodeTrustState(state));
}

std::optional<std::string> MemoryMetadataCache::Get(const std::string& gun,
                                                    const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = files_.find(gun + "\n" + name);
  if (it == files_.end()) return std::nullopt;
  return it->second;
}

void MemoryMetadataCache::Put(const std::string& gun, const std::string& name,
                              const std::string& raw) {
  std::lock_guard<std::mutex> l(mu_);
  files_[gun + "\n" + name] = raw;
}

std::optional<std::string> FileMetadataCache::Get(const std::string& gun, const std::string& name) {
  return ReadAll(fs::path(dir_) / Sha256Hex(gun) / Sha256Hex(name));
}

void FileMetadataCache::Put(const std::string& gun, const std::string& name,
                            const std::string& raw) {
  (void)WriteAtomic(fs::path(dir_) / Sha256Hex(gun) / Sha256Hex(name), raw);
}

}  // namespace stackctl::notary
