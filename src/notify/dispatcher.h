// Dispatcher: sends notifications and commit statuses in the background,
// retrying with exponential backoff, so that no deploy ever waits for (or
// fails because of) a Git host or a chat service.
//
// Deliveries are sent one at a time, in the order they were queued, by one
// thread (Start). A failed attempt that may succeed later (Sender: kUnavailable,
// i.e. transport errors, 5xx, 429) is retried after min_backoff, doubling up
// to max_backoff, at most max_attempts times in all; other failures (a 401,
// a 404, a token file that cannot be read) are dropped at once. Every
// attempt is logged (logger "notify") and counted:
//   stackctl_notifications_sent_total{kind}     delivered
//   stackctl_notifications_failed_total{kind}   attempts that failed
//   stackctl_notifications_dropped_total{kind}  given up on
// A delivery with a `key` replaces one with the same key that has not been
// sent yet: a commit status still waiting to be retried is superseded by the
// newer state of the same commit and context, so a host never receives an
// older state after a newer one. The queue holds at most kMaxQueued
// deliveries; beyond that the oldest is dropped (and counted).
//
// Time comes from the Clock; tests on a FakeClock call RunDue() instead of
// Start() and advance the clock to reach retries.
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/status.h"
#include "notify/sender.h"

namespace stackctl::notify {

struct Delivery {
  std::string kind;  // metrics label: github, gitlab, gitea, webhook, slack
  std::string what;  // names the delivery in logs, never a URL or token
  std::string key;   // "" = never superseded
  // Builds the request when it is sent (reads token and URL files then, so
  // a rotated secret is used); an error drops the delivery.
  std::function<Result<HttpRequest>()> build;
};

struct DispatcherOptions {
  int max_attempts = 6;
  std::chrono::milliseconds min_backoff{std::chrono::seconds(1)};
  std::chrono::milliseconds max_backoff{std::chrono::minutes(1)};
};

class Dispatcher {
 public:
  static constexpr size_t kMaxQueued = 1000;

  Dispatcher(Sender& sender, Clock& clock, metrics::ControllerMetrics& metrics,
             DispatcherOptions options = {});
  ~Dispatcher();  // stops the thread; what is still queued is not sent

  void Enqueue(Delivery d);
  // Sends, in order, every delivery that is due now. Returns how many attempts it made.
  int RunDue();
  // When the next queued delivery is due; nullopt when the queue is empty.
  std::optional<std::chrono::steady_clock::time_point> NextDue() const;
  size_t Queued() const;
  // Nothing queued and nothing being sent.
  bool Idle() const;

  // The background thread: RunDue whenever something is due.
  void Start();
  void Stop();

 private:
  struct Entry {
    Delivery d;
    int attempts = 0;
    std::chrono::steady_clock::time_point due{};
  };
  void Loop();
  void Drop(const Entry& e, const std::string& why);

  Sender& sender_;
  Clock& clock_;
  metrics::ControllerMetrics& metrics_;
  const DispatcherOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> queue_;  // in order of queueing; a retry goes to the back
  int sending_ = 0;          // deliveries taken from the queue, not yet finished
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace stackctl::notify
