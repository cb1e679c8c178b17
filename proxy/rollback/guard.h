#pragma once

// The sidecar's own rollback trigger: the error ratio and p95 latency of one route's version over
// a sliding window, so that a failing version is rolled back even when the monitoring pipeline
// (Prometheus, Alertmanager) is down.
//
// Threads: record() is called by every worker on the request path: per call it does a few
// atomic operations on per-second buckets (no lock, no allocation, no clock read: the caller
// passes the time it already has). They are relaxed except the error count's, which is released
// after the request count: a reader never sees more errors than requests. evaluate() and reset()
// are called by the rollback manager's thread and read the same atomics. Counts are exact as long
// as a worker records a request within `window` of the time it passes in.
//
// Decision logic is a pure function of the `now` passed in, so tests drive it with simulated
// time.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/common/time.h"
#include "proxy/rollback/config.h"
#include "proxy/router/request_observer.h"

namespace switchyard::rollback {

struct GuardStatus {
  uint64_t requests = 0;  // in the window
  uint64_t errors = 0;    // responses >= 500 in the window
  uint64_t slow = 0;      // slower than max_latency (when watched)
  double error_ratio = 0;
  double p95_seconds = 0;  // estimated from the histogram; 0 without requests
  bool breached = false;
  // Why it breached, e.g. "error ratio 23.1% over 30s (231/1000) above 5%"; empty otherwise.
  std::string reason;
};

class Guard final : public router::RequestObserver {
 public:
  // Upper bounds of the latency histogram, in milliseconds; max_latency is added to them so
  // that "p95 above max_latency" is decided exactly. The last bucket is unbounded.
  static constexpr std::array<int64_t, 12> DefaultBoundsMs = {5,   10,   25,   50,   100,   250,
                                                              500, 1000, 2500, 5000, 10000, 30000};

  explicit Guard(const GuardConfig& config);
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

  // One response of the watched route and version: its status (>= 500 counts as an error,
  // including the proxy's own 502/503/504) and how long it took.
  void record(common::MonotonicTime now, int status, common::Duration latency) noexcept override;

  // The window ending at `now` (the current second and the window's earlier whole seconds,
  // none before the last reset()). Breaches when at least min_requests were counted and either
  // the error ratio is above max_error_ratio or more than 5% of the requests took longer than
  // max_latency (that is, the p95 is above it).
  GuardStatus evaluate(common::MonotonicTime now) const;

  // Forgets everything recorded before the second of `now` (a resumed route starts afresh).
  void reset(common::MonotonicTime now) noexcept;

  const GuardConfig& config() const { return config_; }

 private:
  // A counter tagged with the second it counts: the tag in the top 24 bits, the count below.
  // A writer of a newer second replaces the word (compare-exchange); others add to it.
  static constexpr int CountBits = 40;
  struct Bucket {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> errors{0};
    std::unique_ptr<std::atomic<uint64_t>[]> latency;  // one per histogram bucket
  };

  static int64_t secondOf(common::MonotonicTime t);
  static void add(std::atomic<uint64_t>& word, uint64_t tag,
                  std::memory_order order = std::memory_order_relaxed) noexcept;
  static uint64_t countFor(const std::atomic<uint64_t>& word, uint64_t tag,
                           std::memory_order order = std::memory_order_relaxed) noexcept;

  GuardConfig config_;
  int64_t window_seconds_;
  std::vector<int64_t> bounds_ms_;  // ascending; the histogram has bounds_ms_.size() + 1 buckets
  size_t slow_bucket_ = 0;          // first histogram bucket above max_latency
  std::vector<Bucket> ring_;        // window_seconds_ + 2 buckets, indexed by second
  std::atomic<int64_t> floor_second_{INT64_MIN};
};

// "23.1%" / "5%": one decimal, none when it is zero.
std::string formatPercent(double ratio);
// "30s", "1.5s", "250ms".
std::string formatSeconds(double seconds);

}  // namespace switchyard::rollback
