#include "notify/notifier.h"

#include "common/secret_file.h"
#include "gitsource/url.h"

namespace stackctl::notify {

Notifier::Notifier(NotifyConfig config, Dispatcher& dispatcher, Clock& clock)
    : config_(std::move(config)), dispatcher_(dispatcher), clock_(clock) {}

std::string Notifier::StackUrl(const std::string& stack) const {
  std::string url = config_.dashboard_url;
  for (size_t at = url.find("{stack}"); at != std::string::npos;
       at = url.find("{stack}", at + stack.size())) {
    url.replace(at, 7, stack);
  }
  return url;
}

void Notifier::SetStatusLocked(StackMemory& m, const std::string& stack, const StatusHost& host,
                               const std::string& commit, CommitState state,
                               const std::string& description) {
  SentStatus now{commit, state, description};
  if (m.status == now) return;
  m.status = now;
  CommitStatus status{commit, state, "stackctl/" + stack, description, StackUrl(stack)};
  const std::chrono::milliseconds timeout = config_.timeout;
  Delivery d;
  d.kind = std::string(GitHostName(host.host));
  d.what = std::string(GitHostName(host.host)) + " status " + std::string(CommitStateName(state)) +
           " " + status.context + " " + commit.substr(0, 12);
  d.key = std::string(GitHostName(host.host)) + " " + host.api_url + " " + host.project + " " +
          commit + " " + status.context;
  d.build = [host, status, timeout]() -> Result<HttpRequest> {
    auto token = ReadSecretFile(host.token_file);
    if (!token.ok()) return token.status();
    HttpRequest req = BuildStatusRequest(host, *token, status);
    req.timeout = timeout;
    return req;
  };
  dispatcher_.Enqueue(std::move(d));
}

void Notifier::Send(const Event& e) {
  for (const Target& t : config_.targets) {
    if (!t.Wants(e)) continue;
    const std::chrono::milliseconds timeout = config_.timeout;
    Delivery d;
    d.kind = std::string(TargetTypeName(t.type));
    d.what = "target " + t.name + " " + std::string(EventName(e.kind)) + " " + e.stack;
    d.build = [t, e, timeout]() -> Result<HttpRequest> {
      std::string url = t.url, secret;
      if (!t.url_file.empty()) {
        auto u = ReadSecretFile(t.url_file);
        if (!u.ok()) return u.status();
        url = *u;
      }
      if (!t.secret_file.empty()) {
        auto s = ReadSecretFile(t.secret_file);
        if (!s.ok()) return s.status();
        secret = *s;
      }
      HttpRequest req = BuildTargetRequest(t, url, secret, e);
      req.timeout = timeout;
      return req;
    };
    dispatcher_.Enqueue(std::move(d));
  }
}

void Notifier::Started(const std::string& stack, const std::string& commit,
                       const std::optional<StatusHost>& host, bool drift) {
  if (drift || !host || commit.empty()) return;
  std::lock_guard<std::mutex> l(mu_);
  SetStatusLocked(stacks_[stack], stack, *host, commit, CommitState::kPending, "rollout started");
}

void Notifier::Finished(const StackOutcome& o) {
  Event e;
  e.stack = o.stack;
  e.commit = o.commit;
  e.repository = gitsource::RedactUrl(o.repository);
  e.service = o.service;
  e.message = o.message;
  e.url = StackUrl(o.stack);
  e.time = clock_.Now();
  std::vector<Event> events;
  {
    std::lock_guard<std::mutex> l(mu_);
    StackMemory& m = stacks_[o.stack];
    auto status = [&](CommitState state, const std::string& description) {
      if (!o.drift && o.status_host && !o.commit.empty()) {
        SetStatusLocked(m, o.stack, *o.status_host, o.commit, state, description);
      }
    };
    auto failure = [&](EventKind kind) {
      m.failing = true;
      const std::string key = o.commit + " " + std::string(EventName(kind)) + " " + o.service;
      if (key == m.failure_key) return;
      m.failure_key = key;
      e.kind = kind;
      events.push_back(e);
    };
    const std::string failed_text =
        o.service.empty() || o.message.find("service " + o.service) != std::string::npos
            ? o.message
            : "service " + o.service + ": " + o.message;
    switch (o.ending) {
      case Ending::kDeployed:
      case Ending::kInSync:
        status(CommitState::kSuccess, o.ending == Ending::kDeployed ? "deployed" : "in sync");
        if (m.failing) {
          m.failing = false;
          m.failure_key.clear();
          e.kind = EventKind::kRecovered;
          events.push_back(e);
        }
        if (o.drift && o.ending == Ending::kDeployed && o.drifted > 0) {
          e.kind = EventKind::kDriftReverted;
          events.push_back(e);
        }
        m.drift_key.clear();
        break;
      case Ending::kRolledBack:
        status(CommitState::kFailure, failed_text);
        failure(EventKind::kRolledBack);
        break;
      case Ending::kDeployFailed:
        status(CommitState::kFailure, failed_text);
        failure(EventKind::kRolloutFailed);
        break;
      case Ending::kImageRefused:
        status(CommitState::kFailure, failed_text);
        failure(EventKind::kImageRefused);
        break;
      case Ending::kRenderFailed:
        status(CommitState::kError, o.message);
        failure(EventKind::kRenderFailed);
        break;
      case Ending::kRetrying:
        failure(EventKind::kRolloutFailed);
        break;
      case Ending::kOutOfSync:
        if (o.drifted > 0) {
          const std::string key = o.commit + " " + o.message;
          if (key != m.drift_key) {
            m.drift_key = key;
            e.kind = EventKind::kDriftDetected;
            events.push_back(e);
          }
        }
        break;
      case Ending::kPinned:
        break;
    }
  }
  for (const Event& ev : events) Send(ev);
}

}  // namespace stackctl::notify
