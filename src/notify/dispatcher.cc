#include "notify/dispatcher.h"

#include <algorithm>

#include "common/log.h"

namespace stackctl::notify {

Dispatcher::Dispatcher(Sender& sender, Clock& clock, metrics::ControllerMetrics& metrics,
                       DispatcherOptions options)
    : sender_(sender), clock_(clock), metrics_(metrics), options_(options) {}

Dispatcher::~Dispatcher() { Stop(); }

void Dispatcher::Drop(const Entry& e, const std::string& why) {
  metrics_.notifications_dropped_total.With({e.d.kind}).Inc();
  log::Get("notify")->error("{}: given up after {} attempt(s): {}", e.d.what, e.attempts, why);
}

void Dispatcher::Enqueue(Delivery d) {
  std::optional<Entry> overflow;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!d.key.empty()) {
      std::erase_if(queue_, [&](const Entry& e) { return e.d.key == d.key; });
    }
    if (queue_.size() >= kMaxQueued) {
      overflow = std::move(queue_.front());
      queue_.pop_front();
    }
    queue_.push_back(Entry{std::move(d), 0, clock_.Steady()});
  }
  if (overflow) Drop(*overflow, "the queue is full");
  cv_.notify_all();
}

int Dispatcher::RunDue() {
  int attempts = 0;
  auto log = log::Get("notify");
  for (;;) {
    Entry e;
    {
      std::lock_guard<std::mutex> l(mu_);
      const auto now = clock_.Steady();
      auto it =
          std::find_if(queue_.begin(), queue_.end(), [&](const Entry& x) { return x.due <= now; });
      if (it == queue_.end() || stop_) return attempts;
      e = std::move(*it);
      queue_.erase(it);
      ++sending_;
    }
    // Whatever happens below, this delivery is no longer being sent.
    struct Done {
      Dispatcher* d;
      ~Done() {
        std::lock_guard<std::mutex> l(d->mu_);
        --d->sending_;
      }
    } done{this};
    ++attempts;
    ++e.attempts;
    Result<HttpRequest> req = e.d.build();
    Status st = req.ok() ? sender_.Send(*req) : req.status();
    if (st.ok()) {
      metrics_.notifications_sent_total.With({e.d.kind}).Inc();
      log->info("{}: sent", e.d.what);
      continue;
    }
    metrics_.notifications_failed_total.With({e.d.kind}).Inc();
    if (!req.ok() || st.code() != Code::kUnavailable || e.attempts >= options_.max_attempts) {
      Drop(e, st.message());
      continue;
    }
    auto backoff = options_.min_backoff * (1LL << std::min(e.attempts - 1, 20));
    auto wait = std::min<std::chrono::milliseconds>(backoff, options_.max_backoff);
    log->warn("{}: attempt {} failed, retrying in {} ms: {}", e.d.what, e.attempts, wait.count(),
              st.message());
    std::lock_guard<std::mutex> l(mu_);
    // A newer delivery with the same key was queued meanwhile: it replaces this one.
    if (!e.d.key.empty() && std::any_of(queue_.begin(), queue_.end(),
                                        [&](const Entry& x) { return x.d.key == e.d.key; })) {
      continue;
    }
    e.due = clock_.Steady() + wait;
    queue_.push_back(std::move(e));
  }
}

std::optional<std::chrono::steady_clock::time_point> Dispatcher::NextDue() const {
  std::lock_guard<std::mutex> l(mu_);
  if (queue_.empty()) return std::nullopt;
  auto it = std::min_element(queue_.begin(), queue_.end(),
                             [](const Entry& a, const Entry& b) { return a.due < b.due; });
  return it->due;
}

bool Dispatcher::Idle() const {
  std::lock_guard<std::mutex> l(mu_);
  return queue_.empty() && sending_ == 0;
}

size_t Dispatcher::Queued() const {
  std::lock_guard<std::mutex> l(mu_);
  return queue_.size();
}

void Dispatcher::Start() {
  std::lock_guard<std::mutex> l(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Dispatcher::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Dispatcher::Loop() {
  for (;;) {
    RunDue();
    std::unique_lock<std::mutex> l(mu_);
    if (stop_) return;
    // Wake for new deliveries at once, for retries when due (at least once a second).
    std::chrono::milliseconds wait{1000};
    if (!queue_.empty()) {
      auto due = std::min_element(queue_.begin(), queue_.end(), [](const Entry& a, const Entry& b) {
                   return a.due < b.due;
                 })->due;
      wait =
          std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(due - clock_.Steady()),
                     std::chrono::milliseconds(0), wait);
    }
    if (wait.count() > 0) cv_.wait_for(l, wait);
  }
}

}  // namespace stackctl::notify
