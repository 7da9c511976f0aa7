// Commit statuses on the Git host: which host and API a repository's
// statuses go to, and the exact request each host's documented API takes.
//
//   github  POST {api}/repos/{owner}/{repo}/statuses/{sha}
//           Authorization: Bearer <token>
//           {"state": pending|success|failure|error, "context", "description"
//            (at most 140 characters; enforced, not documented), "target_url"}
//   gitlab  POST {api}/projects/{url-encoded path}/statuses/{sha}
//           PRIVATE-TOKEN: <token>
//           {"state": running|success|failed, "name", "description" (at most
//            255, documented), "target_url"}; GitLab has no "error": both failure and
//           error are "failed", and a started rollout is "running"
//   gitea   POST {api}/repos/{owner}/{repo}/statuses/{sha}    (also Forgejo)
//           Authorization: token <token>
//           {"state": pending|success|failure|error, "context", "description"
//            (no documented limit; cut at 255), "target_url"}
//
// The API root {api} defaults from the repository URL: github.com ->
// https://api.github.com, gitlab.com -> https://gitlab.com/api/v4; any other
// host needs the provider named, and then defaults to https://<host>/api/v3
// (GitHub Enterprise), /api/v4 (GitLab) or /api/v1 (Gitea). The project is
// the repository URL's path without ".git".
//
// Thread safety: plain values and pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "notify/sender.h"

namespace stackctl::notify {

enum class GitHost { kGitHub, kGitLab, kGitea };
// "github", "gitlab", "gitea" (and "forgejo" -> kGitea); false otherwise.
bool ParseGitHost(const std::string& name, GitHost* out);
std::string_view GitHostName(GitHost h);

// Where a repository's commit statuses go; the token is read from
// `token_file` (ReadSecretFile) for every request, so a rotated token is used.
struct StatusHost {
  GitHost host = GitHost::kGitHub;
  std::string api_url;  // https://api.github.com (no trailing slash)
  std::string project;  // "owner/repo"; GitLab: "group/sub/repo"
  std::string token_file;
  std::string ca_file;  // PEM bundle for the API's TLS; "" = system roots

  bool operator==(const StatusHost&) const = default;
};

// The host of `repo_url` with the explicit settings applied ("" = derive).
// Errors are kInvalidArgument, without a key path (the caller adds it):
//   "provider: cannot tell the Git host of \"https://git.example.com/a/b\"; set provider"
//   "api_url: must be an https:// URL"
Result<StatusHost> ResolveStatusHost(const std::string& repo_url, const std::string& provider,
                                     const std::string& api_url, const std::string& project);

enum class CommitState { kPending, kSuccess, kFailure, kError };
std::string_view CommitStateName(CommitState s);  // ours: pending, success, failure, error
// The state as `host` names it (see above).
std::string_view CommitStateOn(GitHost host, CommitState s);
// The longest description `host` takes, in characters (where each limit is
// documented, or that it is not: commit_status.cc).
size_t DescriptionLimit(GitHost host);
// `text` cut to at most `limit` characters (UTF-8 code points), ending in
// "..." when cut; never splits a character.
std::string CutText(std::string_view text, size_t limit);

struct CommitStatus {
  std::string sha;
  CommitState state = CommitState::kPending;
  std::string context;      // "stackctl/<stack>"
  std::string description;  // cut to the host's limit by BuildStatusRequest
  std::string target_url;   // "" = none

  bool operator==(const CommitStatus&) const = default;
};

// The request that sets `status` on `host` (token as the host expects it).
HttpRequest BuildStatusRequest(const StatusHost& host, const std::string& token,
                               const CommitStatus& status);

}  // namespace stackctl::notify
