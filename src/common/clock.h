// Clock: the injectable source of "now" (leveldb Env::NowMicros style).
//
// Production code takes a `const Clock&` and never calls the system clock
// itself, so expiry checks, backoff and timeouts can be tested with a
// FakeClock. SystemClock reads std::chrono::system_clock (wall time, UTC).
//
// Thread safety: SystemClock is stateless. FakeClock is a test helper: Set()
// and Advance() must not race with Now() (tests set it up front).
#pragma once

#include <chrono>

namespace stackctl {

class Clock {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SystemClock : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
};

class FakeClock : public Clock {
 public:
  explicit FakeClock(TimePoint now = TimePoint{}) : now_(now) {}
  TimePoint Now() const override { return now_; }
  void Set(TimePoint now) { now_ = now; }
  void Advance(std::chrono::system_clock::duration d) { now_ += d; }

 private:
  TimePoint now_;
};

}  // namespace stackctl
