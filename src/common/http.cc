#include "common/http.h"

#include <algorithm>

namespace stackctl {
namespace {

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// RFC 7230 tchar: what a scheme, a parameter name or an unquoted value is made of.
bool IsTokenChar(char c) {
  return IsUnreserved(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+^`|").find(c) != std::string_view::npos;
}

// RFC 7235 token68 (without its trailing '='s).
bool IsToken68Char(char c) {
  return IsUnreserved(static_cast<unsigned char>(c)) || c == '+' || c == '/';
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

}  // namespace

std::string PercentEncode(std::string_view s, std::string_view keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (IsUnreserved(c) || keep.find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

size_t AppendToBodySink(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  const size_t len = size * n;
  const size_t room = sink->cap - std::min(sink->cap, sink->body->size());
  if (len <= room) {
    sink->body->append(data, len);
    return len;
  }
  sink->overflow = true;
  if (sink->on_overflow == BodySink::Overflow::kAbort) return 0;  // curl ends the transfer
  sink->body->append(data, room);
  return len;
}

std::string AuthChallenge::Param(std::string_view name) const {
  auto it = params.find(Lower(name));
  return it == params.end() ? "" : it->second;
}

std::vector<AuthChallenge> ParseWwwAuthenticate(std::string_view s) {
  std::vector<AuthChallenge> out;
  size_t i = 0;
  const size_t n = s.size();
  auto skip_space = [&] {
    while (i < n && (s[i] == ' ' || s[i] == '\t')) ++i;
  };
  auto read_token = [&] {
    size_t start = i;
    while (i < n && IsTokenChar(s[i])) ++i;
    return s.substr(start, i - start);
  };
  while (i < n) {
    // Challenges and parameters are both separated by commas (with optional spaces).
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ',')) ++i;
    if (i >= n) break;
    std::string_view name = read_token();
    if (name.empty()) {
      ++i;  // not a token: skip the character
      continue;
    }
    const size_t after_name = i;
    skip_space();
    if (i < n && s[i] == '=' && !out.empty()) {
      // name=value: a parameter of the current challenge.
      ++i;
      skip_space();
      std::string value;
      if (i < n && s[i] == '"') {
        for (++i; i < n && s[i] != '"'; ++i) {
          if (s[i] == '\\' && i + 1 < n) ++i;  // quoted-pair
          value += s[i];
        }
        if (i < n) ++i;  // closing quote
      } else {
        value = std::string(read_token());
      }
      out.back().params[Lower(name)] = std::move(value);
      continue;
    }
    if (i < n && s[i] == '=') {
      // A parameter before any scheme: skip it and its value.
      while (i < n && s[i] != ',') ++i;
      continue;
    }
    // A new challenge: `name` is its scheme. A token68 may follow (`Basic
    // dXNlcg==`): token68 characters, '='s, then the end or a comma; anything
    // else after the scheme is read as its parameters.
    out.push_back(AuthChallenge{Lower(name), {}, ""});
    i = after_name;
    skip_space();
    size_t j = i;
    while (j < n && IsToken68Char(s[j])) ++j;
    size_t k = j;
    while (k < n && s[k] == '=') ++k;
    size_t m = k;
    while (m < n && (s[m] == ' ' || s[m] == '\t')) ++m;
    if (j > i && (m == n || s[m] == ',')) {
      // `Scheme tok` or `Scheme tok==`, but not `Scheme name=value`.
      out.back().token68 = std::string(s.substr(i, k - i));
      i = m;
    }
  }
  return out;
}

const AuthChallenge* FindChallenge(const std::vector<AuthChallenge>& challenges,
                                   std::string_view scheme) {
  for (const auto& c : challenges) {
    if (c.scheme == scheme) return &c;
  }
  return nullptr;
}

}  // namespace stackctl
