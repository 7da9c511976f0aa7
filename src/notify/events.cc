#include "notify/events.h"

#include <fnmatch.h>

#include <algorithm>

#include "common/crypto.h"
#include "common/json.h"

namespace stackctl::notify {

std::string_view EventName(EventKind k) {
  switch (k) {
    case EventKind::kRolloutFailed:
      return "rollout_failed";
    case EventKind::kRolledBack:
      return "rolled_back";
    case EventKind::kRecovered:
      return "recovered";
    case EventKind::kDriftDetected:
      return "drift_detected";
    case EventKind::kDriftReverted:
      return "drift_reverted";
    case EventKind::kImageRefused:
      return "image_refused";
    case EventKind::kRenderFailed:
      return "render_failed";
  }
  return "unknown";
}

const std::vector<EventKind>& AllEvents() {
  static const std::vector<EventKind> kAll = {EventKind::kRolloutFailed, EventKind::kRolledBack,
                                              EventKind::kRecovered,     EventKind::kDriftDetected,
                                              EventKind::kDriftReverted, EventKind::kImageRefused,
                                              EventKind::kRenderFailed};
  return kAll;
}

bool ParseEventKind(const std::string& name, EventKind* out) {
  for (EventKind k : AllEvents()) {
    if (EventName(k) == name) {
      *out = k;
      return true;
    }
  }
  return false;
}

bool ParseTargetType(const std::string& name, TargetType* out) {
  if (name == "webhook")
    *out = TargetType::kWebhook;
  else if (name == "slack")
    *out = TargetType::kSlack;
  else
    return false;
  return true;
}

std::string_view TargetTypeName(TargetType t) {
  return t == TargetType::kSlack ? "slack" : "webhook";
}

bool Target::Wants(const Event& e) const {
  if (!events.empty() && !events.count(e.kind)) return false;
  if (stacks.empty()) return true;
  return std::any_of(stacks.begin(), stacks.end(), [&](const std::string& glob) {
    return fnmatch(glob.c_str(), e.stack.c_str(), 0) == 0;
  });
}

std::string WebhookBody(const Event& e) {
  Json j = Json::object();
  j["event"] = std::string(EventName(e.kind));
  j["stack"] = e.stack;
  auto put = [&](const char* key, const std::string& v) {
    if (!v.empty()) j[key] = v;
  };
  put("commit", e.commit);
  put("repository", e.repository);
  put("service", e.service);
  put("message", e.message);
  put("url", e.url);
  j["time"] = FormatRfc3339(e.time);
  return CanonicalJson(j);
}

std::string SlackBody(const Event& e) {
  std::string what;
  switch (e.kind) {
    case EventKind::kRolloutFailed:
      what = "rollout failed";
      break;
    case EventKind::kRolledBack:
      what = "rolled back";
      break;
    case EventKind::kRecovered:
      what = "recovered";
      break;
    case EventKind::kDriftDetected:
      what = "drift detected";
      break;
    case EventKind::kDriftReverted:
      what = "drift reverted";
      break;
    case EventKind::kImageRefused:
      what = "image signature refused";
      break;
    case EventKind::kRenderFailed:
      what = "render failed";
      break;
  }
  std::string text = "stackctl: stack " + e.stack + " " + what;
  if (!e.commit.empty()) text += " at " + e.commit.substr(0, 12);
  // Deploy errors usually name the service already ("service web_app: ...").
  if (!e.service.empty() && e.message.find("service " + e.service) == std::string::npos) {
    text += ": service " + e.service;
  }
  if (!e.message.empty()) text += ": " + e.message;
  if (!e.url.empty()) text += " (" + e.url + ")";
  Json j = Json::object();
  j["text"] = text;
  return CanonicalJson(j);
}

HttpRequest BuildTargetRequest(const Target& target, const std::string& url,
                               const std::string& secret, const Event& e) {
  HttpRequest req;
  req.url = url;
  req.ca_file = target.ca_file;
  if (target.type == TargetType::kSlack) {
    req.body = SlackBody(e);
  } else {
    req.body = WebhookBody(e);
    req.headers.push_back({"X-Event", std::string(EventName(e.kind))});
    if (!secret.empty()) req.headers.push_back({kBodySignatureHeader, SignBody(secret, req.body)});
  }
  return req;
}

}  // namespace stackctl::notify
