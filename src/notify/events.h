// Notification events and the messages sent for them: a generic JSON webhook
// signed like stackctl's incoming generic webhook (common/crypto.h,
// X-Signature: sha256=<hex HMAC-SHA256(secret, body)>), and Slack-compatible
// incoming webhooks ({"text": ...}, also taken by Mattermost, Rocket.Chat and
// Discord's /slack endpoint).
//
// Messages carry the stack, the commit, the repository URL without
// credentials, the failing service and the error text. Error texts never hold
// a secret value (the pipeline's rule, docs/architecture.md); tokens and
// webhook secrets are never part of a message.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <chrono>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "notify/sender.h"

namespace stackctl::notify {

enum class EventKind {
  kRolloutFailed,  // a deploy failed (also: retried failures, reported once)
  kRolledBack,     // a wave failed and the rollout was rolled back
  kRecovered,      // the first success after a failure
  kDriftDetected,  // the live state differs and self_heal is off
  kDriftReverted,  // self_heal put the drifted state back
  kImageRefused,   // an image failed signature verification
  kRenderFailed,   // the stack's files could not be loaded, validated or decrypted
};
// rollout_failed, rolled_back, recovered, drift_detected, drift_reverted,
// image_refused, render_failed
std::string_view EventName(EventKind k);
bool ParseEventKind(const std::string& name, EventKind* out);
const std::vector<EventKind>& AllEvents();

struct Event {
  EventKind kind = EventKind::kRolloutFailed;
  std::string stack;
  std::string commit;      // full id; "" when none was resolved
  std::string repository;  // URL, credentials removed
  std::string service;     // the failing service; "" when none
  std::string message;     // what happened (an error or a summary)
  std::string url;         // the stack's dashboard page; "" = none
  Clock::TimePoint time{};

  bool operator==(const Event&) const = default;
};

enum class TargetType { kWebhook, kSlack };
bool ParseTargetType(const std::string& name, TargetType* out);  // "webhook", "slack"
std::string_view TargetTypeName(TargetType t);

// One notification target. The URL is read from `url_file` when set (a
// Slack-style URL is itself the credential), else it is `url`.
struct Target {
  std::string name;
  TargetType type = TargetType::kWebhook;
  std::string url;
  std::string url_file;
  std::string secret_file;          // webhook: HMAC key; "" = unsigned
  std::string ca_file;              // PEM bundle for the target's TLS; "" = system roots
  std::set<EventKind> events;       // empty = every event
  std::vector<std::string> stacks;  // shell globs (fnmatch); empty = every stack

  bool Wants(const Event& e) const;
  bool operator==(const Target&) const = default;
};

// {"event", "stack", "commit", "repository", "service", "message", "url",
//  "time"} (empty strings left out), compact, keys sorted.
std::string WebhookBody(const Event& e);
// {"text": "stackctl: stack web rolled back at 0123456789ab: service web_app: ..."}
std::string SlackBody(const Event& e);
// The request for `target` (URL and secret already read from their files).
HttpRequest BuildTargetRequest(const Target& target, const std::string& url,
                               const std::string& secret, const Event& e);

}  // namespace stackctl::notify
