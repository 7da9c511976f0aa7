// known_hosts: the OpenSSH host key list that an ssh:// remote must match.
//
// Parses the OpenSSH known_hosts format: "host[,host...] keytype base64key",
// "[host]:port" patterns for non-default ports, hashed entries
// ("|1|base64salt|base64hmac", HMAC-SHA1 of the host name), comments and
// blank lines. "@revoked" lines reject the key; "@cert-authority" lines and
// wildcard patterns are not supported and are skipped.
//
// Thread safety: KnownHosts is an immutable value once parsed.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace stackctl::gitsource {

class KnownHosts {
 public:
  // `text`: the file's contents; `what` names the file in errors.
  static Result<KnownHosts> Parse(const std::string& text, const std::string& what);

  enum class Match { kMatch, kMismatch, kUnknownHost, kRevoked };
  // `host` as in the URL, `port` 22 unless given; `key` the raw host key
  // blob (what the base64 field of a known_hosts line decodes to).
  Match Check(const std::string& host, int port, const std::string& key) const;

 private:
  struct Entry {
    std::vector<std::string> patterns;  // plain names or "|1|salt|hash"
    std::string key;                    // raw key blob
    bool revoked = false;
  };
  std::vector<Entry> entries_;
};

}  // namespace stackctl::gitsource
