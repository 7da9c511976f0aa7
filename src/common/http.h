// HTTP text helpers shared by stackctl's libcurl clients (engineapi, notary,
// notify, apiclient), so each concept has one home below all of them:
// percent-encoding of URL parts, a bounded sink for response bodies, and the
// challenges of a WWW-Authenticate header.
//
// Nothing here includes curl (common does not link it): AppendToBodySink only
// has the signature of a CURLOPT_WRITEFUNCTION callback.
//
// Thread safety: pure functions; a BodySink belongs to one transfer.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace stackctl {

// RFC 3986 percent-encoding: every byte except the unreserved characters
// (ALPHA, DIGIT, '-', '.', '_', '~') and those listed in `keep` becomes %XX
// with upper-case hex digits. keep = "/:@" leaves an image reference readable
// in a URL path (docker's /distribution/{name}/json); "" encodes a path
// segment or a query value.
std::string PercentEncode(std::string_view s, std::string_view keep = "");

// Where a response body goes, at most `cap` bytes of it.
struct BodySink {
  enum class Overflow {
    kAbort,     // the transfer ends (curl reports CURLE_WRITE_ERROR); overflow is set
    kTruncate,  // the first `cap` bytes are kept, the rest dropped; overflow is set
  };
  std::string* body;
  size_t cap;
  Overflow on_overflow = Overflow::kAbort;
  bool overflow = false;  // more than cap bytes arrived
};

// A CURLOPT_WRITEFUNCTION for CURLOPT_WRITEDATA = BodySink*: appends `size *
// n` bytes to the sink's body; past the cap, as the sink's on_overflow says.
size_t AppendToBodySink(char* data, size_t size, size_t n, void* sink);

// One challenge of a WWW-Authenticate header (RFC 7235, sections 2.1 and 4.1):
// `Bearer realm="https://auth.example.com/token",service="registry"`.
struct AuthChallenge {
  std::string scheme;                         // lower case: "bearer", "basic"
  std::map<std::string, std::string> params;  // names lower case; values unquoted, unescaped
  std::string token68;                        // `Negotiate abc==`: "abc=="; else ""

  // The value of parameter `name` (any case); "" when absent.
  std::string Param(std::string_view name) const;
  bool operator==(const AuthChallenge&) const = default;
};

// Every challenge of a WWW-Authenticate value, in order. Commas inside quoted
// values belong to the value; a parameter before any scheme, or text that is
// no token, is skipped. Never fails: an empty or garbled header gives fewer
// (or no) challenges.
std::vector<AuthChallenge> ParseWwwAuthenticate(std::string_view header);

// The first challenge of `scheme` (lower case) in `challenges`; nullptr when none.
const AuthChallenge* FindChallenge(const std::vector<AuthChallenge>& challenges,
                                   std::string_view scheme);

}  // namespace stackctl
