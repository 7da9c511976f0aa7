// Clock: the seam for time. SystemClock in production; FakeClock in tests so
// expiry checks, backoff and rollout delays are deterministic and instant.
//
// Thread safety: SystemClock is stateless; FakeClock is internally locked.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace stackctl {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (for expiry and records).
  virtual std::chrono::system_clock::time_point Now() = 0;
  // Monotonic time (for timeouts and durations).
  virtual std::chrono::steady_clock::time_point Steady() = 0;
  virtual void SleepFor(std::chrono::nanoseconds d) = 0;
};

class SystemClock : public Clock {
 public:
  std::chrono::system_clock::time_point Now() override { return std::chrono::system_clock::now(); }
  std::chrono::steady_clock::time_point Steady() override {
    return std::chrono::steady_clock::now();
  }
  void SleepFor(std::chrono::nanoseconds d) override;
};

// Starts at `start`; SleepFor advances time instantly.
class FakeClock : public Clock {
 public:
  explicit FakeClock(std::chrono::system_clock::time_point start =
                         std::chrono::system_clock::time_point(std::chrono::seconds(1700000000)))
      : now_(start) {}
  std::chrono::system_clock::time_point Now() override {
    std::lock_guard<std::mutex> l(mu_);
    return now_;
  }
  std::chrono::steady_clock::time_point Steady() override {
    std::lock_guard<std::mutex> l(mu_);
    return std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(now_.time_since_epoch()));
  }
  void SleepFor(std::chrono::nanoseconds d) override { Advance(d); }
  void Advance(std::chrono::nanoseconds d) {
    std::lock_guard<std::mutex> l(mu_);
    now_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  }

 private:
  std::mutex mu_;
  std::chrono::system_clock::time_point now_;
};

// "2026-11-22T18:47:53Z"
std::string FormatRfc3339(std::chrono::system_clock::time_point t);

}  // namespace stackctl
