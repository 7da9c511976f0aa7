#include "gitsource/url.h"

#include <algorithm>
#include <cctype>

namespace stackctl::gitsource {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool IsScpLike(const std::string& url) {
  // user@host:path without "://"; a colon before any slash.
  if (url.find("://") != std::string::npos) return false;
  size_t colon = url.find(':');
  size_t slash = url.find('/');
  return colon != std::string::npos && colon > 0 && (slash == std::string::npos || colon < slash);
}

std::string DefaultPort(const std::string& scheme) {
  if (scheme == "https") return "443";
  if (scheme == "http") return "80";
  if (scheme == "ssh") return "22";
  if (scheme == "git") return "9418";
  return "";
}

std::string TrimPath(std::string path) {
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".git") == 0) {
    path.resize(path.size() - 4);
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  return path;
}

}  // namespace

std::string UrlScheme(const std::string& url) {
  size_t p = url.find("://");
  if (p != std::string::npos) return Lower(url.substr(0, p));
  if (IsScpLike(url)) return "ssh";
  return "file";
}

std::string RedactUrl(const std::string& url) {
  size_t p = url.find("://");
  if (p == std::string::npos) return url;
  size_t start = p + 3;
  size_t end = url.find('/', start);
  if (end == std::string::npos) end = url.size();
  size_t at = url.rfind('@', end - 1);
  if (at == std::string::npos || at < start) return url;
  std::string userinfo = url.substr(start, at - start);
  size_t colon = userinfo.find(':');
  if (colon == std::string::npos) return url;  // a user name alone is no secret
  return url.substr(0, start) + userinfo.substr(0, colon) + url.substr(at);
}

std::string RepoKey(const std::string& url) {
  if (IsScpLike(url)) {
    size_t colon = url.find(':');
    std::string host = url.substr(0, colon);
    size_t at = host.rfind('@');
    if (at != std::string::npos) host = host.substr(at + 1);
    std::string path = url.substr(colon + 1);
    while (!path.empty() && path.front() == '/') path.erase(0, 1);
    return Lower(host) + "/" + TrimPath(path);
  }
  size_t p = url.find("://");
  if (p == std::string::npos) return TrimPath(url);
  std::string scheme = Lower(url.substr(0, p));
  std::string rest = url.substr(p + 3);
  if (scheme == "file") return TrimPath(rest);
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash + 1);
  size_t at = authority.rfind('@');
  if (at != std::string::npos) authority = authority.substr(at + 1);
  authority = Lower(authority);
  size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    if (authority.substr(colon + 1) == DefaultPort(scheme)) authority.resize(colon);
  }
  // ssh://git@host/~user/repo and scp-like host:~user/repo stay distinct; fine.
  return authority + "/" + TrimPath(path);
}

}  // namespace stackctl::gitsource
