// Clock: the seam for time (leveldb Env::NowMicros style). Production code
// takes a Clock and never reads the system clock itself, so expiry checks,
// backoff, rollout delays and timeouts are deterministic in tests.
//
// SystemClock reads the real clocks; FakeClock starts at a given wall time
// and only moves when told to: SleepFor advances it instantly.
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
  using TimePoint = std::chrono::system_clock::time_point;
  virtual ~Clock() = default;
  // Wall-clock time, UTC (for expiry and records).
  virtual TimePoint Now() const = 0;
  // Monotonic time (for timeouts and durations).
  virtual std::chrono::steady_clock::time_point Steady() const = 0;
  virtual void SleepFor(std::chrono::nanoseconds d) = 0;
};

class SystemClock : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
  std::chrono::steady_clock::time_point Steady() const override {
    return std::chrono::steady_clock::now();
  }
  void SleepFor(std::chrono::nanoseconds d) override;
};

class FakeClock : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint(std::chrono::seconds(1700000000))) : now_(start) {}
  TimePoint Now() const override {
    std::lock_guard<std::mutex> l(mu_);
    return now_;
  }
  // Moves with Now(): the fake steady clock is the wall clock.
  std::chrono::steady_clock::time_point Steady() const override {
    std::lock_guard<std::mutex> l(mu_);
    return std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(now_.time_since_epoch()));
  }
  void SleepFor(std::chrono::nanoseconds d) override { Advance(d); }
  void Set(TimePoint now) {
    std::lock_guard<std::mutex> l(mu_);
    now_ = now;
  }
  void Advance(std::chrono::nanoseconds d) {
    std::lock_guard<std::mutex> l(mu_);
    now_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  }

 private:
  mutable std::mutex mu_;
  TimePoint now_;
};

// "2026-11-22T18:47:53Z"
std::string FormatRfc3339(Clock::TimePoint t);

}  // namespace stackctl
