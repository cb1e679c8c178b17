#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "filters/circuit_breaker/config.h"
#include "proxy/common/time.h"
#include "proxy/router/upstream_policy.h"

namespace switchyard::filters::circuit_breaker {

// The values are those of switchyard_circuit_breaker_state.
enum class BreakerState : uint8_t { Closed = 0, HalfOpen = 1, Open = 2 };
// "closed", "half_open", "open".
std::string_view breakerStateName(BreakerState state);

// What admit() lets through.
using router::Admission;

// The metric families of the circuit_breaker filter, registered once per factory (registration
// merges with families of the same name, e.g. those of the configuration this one replaces).
struct BreakerMetrics {
  explicit BreakerMetrics(prometheus::Registry& registry);
  prometheus::Family<prometheus::Gauge>& state;                // {cluster}
  prometheus::Family<prometheus::Counter>& transitions;        // {cluster,from,to}
  prometheus::Family<prometheus::Counter>& rejected;           // {cluster}
  prometheus::Family<prometheus::Counter>& bulkhead_overflow;  // {cluster,limit}
};

// One breaker's metrics, resolved once (a breaker never looks a family up). Null pointers count
// nothing.
struct BreakerStats {
  BreakerStats() = default;
  BreakerStats(BreakerMetrics& metrics, const std::string& cluster);

  prometheus::Gauge* state = nullptr;
  prometheus::Counter* rejected = nullptr;
  // [from][to] by BreakerState; only the four transitions that happen are set.
  std::array<std::array<prometheus::Counter*, 3>, 3> transitions{};
};

// One cluster's circuit breaker, shared by every worker. Thread-safe; every method is a function
// of the `now` passed in (monotonic time), so tests drive it with plain numbers.
//
//   closed    --(consecutive_failures in a row within interval, or failure_ratio of at least
//               min_requests within interval)-->                                      open
//   open      --(cooldown passed; the next admit())-->                                half-open
//   half-open --(success_threshold probe successes)-->                                closed
//   half-open --(a probe fails)-->                                                     open
//
// Closed, admit() is one atomic load and a success one or two more; open, a rejection is two
// atomic loads. A failure, a probe and a transition take a mutex.
//
// A reload applies new settings with reconfigure(): the state (open, half-open, the failure
// streak) is kept; a breaker opened before keeps its cooldown; a changed `interval` starts the
// ratio window afresh, a changed `consecutive_failures` the ring of failure times.
//
// The caller reports every admitted attempt exactly once: onResult() with whether it succeeded
// (a response whose status isFailureStatus() names, a timeout or a connection failure is a
// failure), or onCancelled() when it ended without a verdict (the client went away, or a local
// limit refused it). `was_probe` is the Admission's probe(). Results of attempts admitted in an
// earlier state (a request let through while closed that fails after the breaker opened) are
// ignored.
class CircuitBreaker {
 public:
  // Ten buckets of interval/10 each: the ratio window is 90-100% of `interval` long.
  static constexpr size_t WindowBuckets = 10;

  // `cluster` names the breaker in logs and the admin page.
  CircuitBreaker(std::string cluster, const BreakerSettings& settings, BreakerStats stats = {});
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  Admission admit(common::MonotonicTime now);
  void onResult(common::MonotonicTime now, bool success, bool was_probe);
  void onCancelled(bool was_probe);
  void reconfigure(const BreakerSettings& settings);

  bool isFailureStatus(int status) const { return settings().isFailureStatus(status); }
  // The settings in effect (a copy: reconfigure() may replace them at any time).
  BreakerSettings settings() const;
  const std::string& cluster() const { return cluster_; }

  BreakerState state() const { return state_.load(std::memory_order_acquire); }
  // Failures in a row while closed.
  uint32_t consecutiveFailures() const { return streak_.load(std::memory_order_relaxed); }
  struct WindowCounts {
    uint64_t requests = 0;
    uint64_t failures = 0;
  };
  // Results counted in the ratio window ending at `now` (always zero when failure_ratio is off).
  WindowCounts window(common::MonotonicTime now) const;
  uint32_t probesInFlight() const { return probes_.load(std::memory_order_relaxed); }
  uint64_t transitionCount() const;
  // {"state", "consecutive_failures", "window": {"requests", "failures"}, "probes_in_flight",
  //  "transitions", and when open "open_remaining_ms"} for the admin /clusters page.
  nlohmann::json snapshot(common::MonotonicTime now) const;

 private:
  struct Bucket {
    std::atomic<int64_t> epoch{-1};  // time / bucket_ns_ of the counts below
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> failures{0};
  };

  void onClosedFailure(common::MonotonicTime now);
  void onProbeResult(common::MonotonicTime now, bool success);
  void recordInWindow(int64_t now_ns, bool failure);
  void transitionLocked(BreakerState to, common::MonotonicTime now);
  void resetCountsLocked();
  void resetWindow();

  const std::string cluster_;
  BreakerSettings settings_;  // guarded by mutex_; the lock-free paths read the atomics below
  const BreakerStats stats_;
  std::atomic<int64_t> bucket_ns_;
  std::atomic<uint32_t> half_open_max_;
  std::atomic<bool> ratio_enabled_;

  std::atomic<BreakerState> state_{BreakerState::Closed};
  std::atomic<int64_t> open_until_ns_{0};  // while open
  std::atomic<uint32_t> streak_{0};        // failures in a row (closed); reset by a success
  std::atomic<uint32_t> probes_{0};        // probes in flight (half-open)
  std::array<Bucket, WindowBuckets> buckets_;

  mutable std::mutex mutex_;            // failures, probes, transitions
  std::vector<int64_t> failure_times_;  // ring of the streak's last consecutive_failures times
  size_t ring_next_ = 0;
  size_t ring_size_ = 0;
  uint32_t probe_successes_ = 0;
  uint64_t transitions_ = 0;
  std::mutex bucket_mutex_;  // turning a bucket over to a new epoch
};

}  // namespace switchyard::filters::circuit_breaker
