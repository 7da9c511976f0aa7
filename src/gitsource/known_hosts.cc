#include "gitsource/known_hosts.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <sstream>

#include "common/crypto.h"

namespace stackctl::gitsource {
namespace {

bool HostMatches(const std::string& pattern, const std::string& name) {
  if (pattern.rfind("|1|", 0) == 0) {
    size_t sep = pattern.find('|', 3);
    if (sep == std::string::npos) return false;
    std::string salt, hash;
    if (!Base64Decode(pattern.substr(3, sep - 3), &salt) ||
        !Base64Decode(pattern.substr(sep + 1), &hash)) {
      return false;
    }
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int out_len = 0;
    if (HMAC(EVP_sha1(), salt.data(), static_cast<int>(salt.size()),
             reinterpret_cast<const unsigned char*>(name.data()), name.size(), out,
             &out_len) == nullptr) {
      return false;
    }
    return ConstantTimeEquals(std::string(reinterpret_cast<char*>(out), out_len), hash);
  }
  return pattern == name;
}

}  // namespace

Result<KnownHosts> KnownHosts::Parse(const std::string& text, const std::string& what) {
  KnownHosts kh;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream fields(line);
    std::string first;
    if (!(fields >> first) || first[0] == '#') continue;
    Entry e;
    if (first == "@cert-authority") continue;
    if (first == "@revoked") {
      e.revoked = true;
      if (!(fields >> first)) {
        return InvalidArgument(what + ":" + std::to_string(lineno) + ": missing host pattern");
      }
    }
    std::string type, key64;
    if (!(fields >> type >> key64)) {
      return InvalidArgument(what + ":" + std::to_string(lineno) +
                             ": expected \"hosts keytype key\"");
    }
    if (!Base64Decode(key64, &e.key)) {
      return InvalidArgument(what + ":" + std::to_string(lineno) + ": key is not valid base64");
    }
    std::stringstream hosts(first);
    std::string pattern;
    bool wildcard = false;
    while (std::getline(hosts, pattern, ',')) {
      if (pattern.find_first_of("*?!") != std::string::npos) wildcard = true;
      e.patterns.push_back(pattern);
    }
    if (wildcard) continue;
    kh.entries_.push_back(std::move(e));
  }
  return kh;
}

KnownHosts::Match KnownHosts::Check(const std::string& host, int port,
                                    const std::string& key) const {
  const std::string name = port == 22 ? host : "[" + host + "]:" + std::to_string(port);
  bool known = false;
  bool matched = false;
  for (const Entry& e : entries_) {
    bool host_ok = false;
    for (const std::string& p : e.patterns) host_ok = host_ok || HostMatches(p, name);
    if (!host_ok) continue;
    if (e.revoked) {
      if (e.key == key) return Match::kRevoked;
      continue;
    }
    known = true;
    if (e.key == key) matched = true;
  }
  if (matched) return Match::kMatch;
  return known ? Match::kMismatch : Match::kUnknownHost;
}

}  // namespace stackctl::gitsource
