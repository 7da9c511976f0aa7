// Repository URL helpers: pure functions, no libgit2.
//
// RedactUrl removes credentials before a URL goes into a message or a log.
// RepoKey reduces the many spellings of one repository (https clone URL,
// scp-like ssh "git@host:owner/repo.git", ssh://, git://, with or without
// ".git", trailing slash, user info, default port) to "host/owner/repo" so a
// webhook's repository can be matched against the configured URL.
//
// Thread safety: pure functions.
#pragma once

#include <string>

namespace stackctl::gitsource {

// "https://user:secret@host/x.git" -> "https://host/x.git". Other text unchanged.
std::string RedactUrl(const std::string& url);

// "https://GitHub.com/Owner/Repo.git/" -> "github.com/Owner/Repo";
// "git@github.com:Owner/Repo.git" -> "github.com/Owner/Repo";
// "file:///srv/git/repo.git" -> "/srv/git/repo". The host is lower-cased,
// the path keeps its case. Explicit ports are kept except the scheme's default.
std::string RepoKey(const std::string& url);

// The scheme ("https", "ssh", "file", "git"); "ssh" for scp-like syntax;
// "file" for plain paths.
std::string UrlScheme(const std::string& url);

}  // namespace stackctl::gitsource
