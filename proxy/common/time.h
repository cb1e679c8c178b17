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
  MonotonicTime monotonicNow() const override;
  SystemTime systemNow() const override;
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
