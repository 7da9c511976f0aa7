// Webhook verification and push-event parsing, per Git hosting provider.
// Pure functions, used by the HTTP server (server.h) and tested on their own.
//
//   github   X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>;
//            X-GitHub-Event: push | ping | ...
//   gitlab   X-Gitlab-Token: <secret>; X-Gitlab-Event: Push Hook | Tag Push Hook | ...
//   gitea    X-Gitea-Signature (or X-Forgejo-Signature): <hex HMAC-SHA256>;
//            X-Gitea-Event (or X-Forgejo-Event): push | ...
//   generic  X-Signature: sha256=<hex HMAC-SHA256>; optional X-Event: push | ping;
//            body {"repository": "<url>", "ref": "refs/heads/main" | "main",
//                  "commit": "<sha>"}
// All comparisons are constant-time.
//
// Thread safety: pure functions.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace stackctl::server {

enum class Provider { kGitHub, kGitLab, kGitea, kGeneric };

// "github" -> kGitHub, ...; false for an unknown name.
bool ParseProvider(const std::string& name, Provider* out);
const char* ProviderName(Provider p);

// Header lookup (case-insensitive name); "" when absent.
using HeaderFn = std::function<std::string(const std::string& name)>;

// True when the request carries a valid signature/token for `secret`.
bool VerifyWebhook(Provider p, const std::string& secret, const HeaderFn& header,
                   const std::string& body);

enum class EventKind { kPing, kPush, kOther };

struct PushEvent {
  EventKind kind = EventKind::kOther;
  std::string event;                   // the provider's event name
  std::vector<std::string> repo_urls;  // every URL the payload gives for the repository
  std::string ref;                     // "refs/heads/main", "refs/tags/v1"
  std::string commit;                  // the new head; "" if unknown
  bool deleted = false;                // the ref was deleted
};

// Parses a verified request. kInvalidArgument for bad JSON or a push payload
// without repository URL or ref.
Result<PushEvent> ParseWebhook(Provider p, const HeaderFn& header, const std::string& body);

}  // namespace stackctl::server
