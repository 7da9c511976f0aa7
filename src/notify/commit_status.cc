#include "notify/commit_status.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "common/json.h"
#include "gitsource/url.h"

namespace stackctl::notify {
namespace {

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Percent-encodes everything but RFC 3986 unreserved characters (GitLab's
// project id "group/repo" -> "group%2Frepo").
std::string UrlEncode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

bool ParseGitHost(const std::string& name, GitHost* out) {
  if (name == "github")
    *out = GitHost::kGitHub;
  else if (name == "gitlab")
    *out = GitHost::kGitLab;
  else if (name == "gitea" || name == "forgejo")
    *out = GitHost::kGitea;
  else
    return false;
  return true;
}

std::string_view GitHostName(GitHost h) {
  switch (h) {
    case GitHost::kGitHub:
      return "github";
    case GitHost::kGitLab:
      return "gitlab";
    case GitHost::kGitea:
      return "gitea";
  }
  return "unknown";
}

Result<StatusHost> ResolveStatusHost(const std::string& repo_url, const std::string& provider,
                                     const std::string& api_url, const std::string& project) {
  StatusHost h;
  // "host[:port]/owner/repo" for network URLs; a path for local ones.
  const std::string key = gitsource::RepoKey(repo_url);
  std::string host, path;
  if (!key.empty() && key[0] != '/') {
    size_t slash = key.find('/');
    host = key.substr(0, slash);
    if (slash != std::string::npos) path = key.substr(slash + 1);
    const std::string scheme = gitsource::UrlScheme(repo_url);
    // An ssh or git port says nothing about where the web API listens.
    if (scheme != "https" && scheme != "http") host = host.substr(0, host.find(':'));
  }
  if (!provider.empty()) {
    if (!ParseGitHost(provider, &h.host)) {
      return InvalidArgument("provider: must be github, gitlab or gitea (got \"" + provider +
                             "\")");
    }
  } else if (host == "github.com") {
    h.host = GitHost::kGitHub;
  } else if (host == "gitlab.com") {
    h.host = GitHost::kGitLab;
  } else {
    return InvalidArgument("provider: cannot tell the Git host of \"" +
                           gitsource::RedactUrl(repo_url) +
                           "\"; set provider (github, gitlab or gitea)");
  }
  if (!api_url.empty()) {
    if (api_url.rfind("https://", 0) != 0)
      return InvalidArgument("api_url: must be an https:// URL (got \"" + api_url + "\")");
    h.api_url = api_url;
    while (EndsWith(h.api_url, "/")) h.api_url.pop_back();
  } else if (host.empty()) {
    return InvalidArgument("api_url: the repository URL names no host; set api_url");
  } else if (h.host == GitHost::kGitHub) {
    h.api_url = host == "github.com" ? "https://api.github.com" : "https://" + host + "/api/v3";
  } else if (h.host == GitHost::kGitLab) {
    h.api_url = "https://" + host + "/api/v4";
  } else {
    h.api_url = "https://" + host + "/api/v1";
  }
  h.project = !project.empty() ? project : path;
  while (!h.project.empty() && h.project.back() == '/') h.project.pop_back();
  if (h.project.empty())
    return InvalidArgument("project: the repository URL names no project; set project");
  if (h.host != GitHost::kGitLab && std::count(h.project.begin(), h.project.end(), '/') != 1) {
    return InvalidArgument("project: must be \"owner/repo\" (got \"" + h.project + "\")");
  }
  return h;
}

std::string_view CommitStateName(CommitState s) {
  switch (s) {
    case CommitState::kPending:
      return "pending";
    case CommitState::kSuccess:
      return "success";
    case CommitState::kFailure:
      return "failure";
    case CommitState::kError:
      return "error";
  }
  return "error";
}

std::string_view CommitStateOn(GitHost host, CommitState s) {
  if (host != GitHost::kGitLab) return CommitStateName(s);
  switch (s) {
    case CommitState::kPending:
      return "running";  // GitLab's "pending" means queued, not started
    case CommitState::kSuccess:
      return "success";
    case CommitState::kFailure:
    case CommitState::kError:
      return "failed";
  }
  return "failed";
}

size_t DescriptionLimit(GitHost host) {
  switch (host) {
    case GitHost::kGitHub:
      // Not documented: GitHub's REST reference ("Create a commit status",
      // docs.github.com/rest/commits/statuses) calls `description` only "a short
      // description of the status", but the API answers a longer one with 422
      // "description is too long (maximum is 140 characters)". 140 is that
      // observed limit (the same one GitHub documents for deployment statuses).
      return 140;
    case GitHost::kGitLab:
      // Documented: GitLab REST API, Commits, "Set the pipeline status of a
      // commit" (docs.gitlab.com/api/commits/): "description ... Must be 255
      // characters or fewer."
      return 255;
    case GitHost::kGitea:
      // Not documented: the Gitea/Forgejo API (swagger CreateStatusOption) gives
      // `description` as a plain string with no maxLength. 255 is a safe value
      // that every Gitea/Forgejo database layout stores.
      return 255;
  }
  return 140;  // the smallest of the above
}

std::string CutText(std::string_view text, size_t limit) {
  // Byte offsets where each code point starts.
  std::vector<size_t> starts;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) starts.push_back(i);
  }
  if (starts.size() <= limit) return std::string(text);
  const size_t keep = limit >= 3 ? limit - 3 : 0;
  return std::string(text.substr(0, starts[keep])) + std::string("...").substr(0, limit - keep);
}

HttpRequest BuildStatusRequest(const StatusHost& host, const std::string& token,
                               const CommitStatus& status) {
  HttpRequest req;
  req.ca_file = host.ca_file;
  Json body = Json::object();
  body["state"] = std::string(CommitStateOn(host.host, status.state));
  body["description"] = CutText(status.description, DescriptionLimit(host.host));
  if (!status.target_url.empty()) body["target_url"] = status.target_url;
  switch (host.host) {
    case GitHost::kGitHub:
      req.url = host.api_url + "/repos/" + host.project + "/statuses/" + status.sha;
      req.headers = {{"Authorization", "Bearer " + token},
                     {"Accept", "application/vnd.github+json"},
                     {"X-GitHub-Api-Version", "2022-11-28"}};
      body["context"] = status.context;
      break;
    case GitHost::kGitLab:
      req.url = host.api_url + "/projects/" + UrlEncode(host.project) + "/statuses/" + status.sha;
      req.headers = {{"PRIVATE-TOKEN", token}};
      body["name"] = status.context;
      break;
    case GitHost::kGitea:
      req.url = host.api_url + "/repos/" + host.project + "/statuses/" + status.sha;
      req.headers = {{"Authorization", "token " + token}};
      body["context"] = status.context;
      break;
  }
  req.body = CanonicalJson(body);
  return req;
}

}  // namespace stackctl::notify
