#pragma once

#include <chrono>
#include <cstdint>

namespace switchyard::common {

using MonotonicTime = std::chrono::steady_clock::time_point;
using SystemTime = std::chrono::system_clock::time_point;
using Duration = std::chrono::nanoseconds;

// The only way code reads the clock. RealTimeSource is the one implementation that touches the
// real clocks; tests use SimulatedTimeSource and advance it by hand. Thread-safe: both
// implementations may be read from any thread.
class TimeSource {
 public:
  virtual ~TimeSource() = default;
  virtual MonotonicTime monotonicNow() const = 0;
  virtual SystemTime systemNow() const = 0;
};

class RealTimeSource final : public TimeSource {
 public:
  // Inside a CachedClockScope on the calling thread: the time the scope began.
  MonotonicTime monotonicNow() const override;
  SystemTime systemNow() const override;
};

// One monotonic clock read per event-loop callback, as nginx caches its time per loop pass:
// while a scope is alive, RealTimeSource::monotonicNow() on its thread returns the time read
// when the scope began. A worker's callbacks never block, so everything one callback does
// (start a request, arm a timer, record a duration) happens at that time, give or take
// microseconds; a request's duration runs from the callback that read its head to the one that
// completed it. Scopes nest (the outermost one reads the clock); SimulatedTimeSource ignores
// them.
class CachedClockScope {
 public:
  CachedClockScope();
  ~CachedClockScope();
  CachedClockScope(const CachedClockScope&) = delete;
  CachedClockScope& operator=(const CachedClockScope&) = delete;

 private:
  bool owner_;
};

// Time that moves only when a test says so. Not thread-safe for writers; tests advance it from
// the thread that owns the code under test.
class SimulatedTimeSource final : public TimeSource {
 public:
  explicit SimulatedTimeSource(
      SystemTime system_start = SystemTime(std::chrono::seconds(1767225600)))
      : system_(system_start) {}

  MonotonicTime monotonicNow() const override { return monotonic_; }
  SystemTime systemNow() const override { return system_; }

  void advance(Duration d) {
    monotonic_ += d;
    system_ += std::chrono::duration_cast<SystemTime::duration>(d);
  }
  void setSystemTime(SystemTime t) { system_ = t; }

 private:
  MonotonicTime monotonic_{std::chrono::seconds(1000)};
  SystemTime system_;
};

inline double toSeconds(Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace switchyard::common
