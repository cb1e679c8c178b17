#pragma once

// Whether each endpoint of one cluster may take requests, shared by every worker.
//
// Two things take an endpoint out: the active health checker (HealthChecker) after
// unhealthy_threshold failed probes, until healthy_threshold good ones, and passive outlier
// detection (OutlierDetector) for an ejection time after a streak of failed requests. Both
// write here from one thread (the writer: the thread whose dispatcher runs the cluster's checker
// and detector); workers read it on the data path without locks, and count the outcomes of their
// requests into per-endpoint streaks with atomics (recordOutcome()), which tell them when to hand
// an ejection to the writer.
//
// One object per endpoint list: its size is fixed. When the list changes (DNS, reload) the writer
// makes the next one with carryOver(), which keeps the state of the endpoints that stay, and
// hands it to the workers with the new list. A worker keeps reading the object it has until then
// (a shared_ptr keeps it alive); nothing writes the old one any more.
//
// The panic rule (as Envoy's healthy panic threshold): when fewer than panic_threshold_percent of
// the endpoints are usable, or none is, load balancing uses all of them: sending requests to
// endpoints that may be down beats sending them nowhere, or piling them all onto the last one.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "proxy/common/socket_address.h"
#include "proxy/common/time.h"

namespace switchyard::upstream {

// What the active health checker last concluded about an endpoint. Unknown (not probed yet, or
// no health check configured) is usable.
enum class ActiveHealth : uint8_t { Unknown, Healthy, Unhealthy };
const char* activeHealthName(ActiveHealth health);

// How one request to an endpoint went, as far as outlier detection is concerned. ServerError is a
// 5xx answer, or a response timeout or reset once connected (what the proxy answers 504/502 for).
enum class UpstreamOutcome : uint8_t { Success, ServerError, ConnectFailure };

enum class EjectionReason : uint8_t { Consecutive5xx, ConnectFailure };
inline constexpr size_t EjectionReasonCount = 2;
// The metric label: "consecutive_5xx", "connect_failure".
const char* ejectionReasonName(EjectionReason reason);

// For carryOver(): the endpoint is new (no index in the previous list).
inline constexpr size_t NewEndpoint = static_cast<size_t>(-1);

struct EndpointHealthOptions {
  // Below this share of usable endpoints, all are used (0: only when none is usable).
  uint32_t panic_threshold_percent = 50;
  // The streaks recordOutcome() reports when they reach these lengths; 0: not counted. Normally
  // OutlierDetectionConfig's consecutive_5xx and consecutive_connect_failures.
  uint32_t consecutive_5xx = 0;
  uint32_t consecutive_connect_failures = 0;
};

class EndpointHealth {
 public:
  explicit EndpointHealth(size_t endpoints, EndpointHealthOptions options = {});
  EndpointHealth(const EndpointHealth&) = delete;
  EndpointHealth& operator=(const EndpointHealth&) = delete;

  size_t size() const { return size_; }
  const EndpointHealthOptions& options() const { return options_; }

  // Any thread. The data path's reads are one relaxed load each.

  // Neither marked unhealthy by the active checker nor ejected at `now`. An ejection ends at its
  // time whether or not the writer has cleared it yet.
  bool usable(size_t i, common::MonotonicTime now) const {
    const uint64_t word = slots_[i].word.load(std::memory_order_relaxed);
    if (word == 0) return true;
    if ((word & UnhealthyBit) != 0) return false;
    return toNanos(now) >= (word >> 1);
  }
  // Too few endpoints are usable: load balancing uses them all. Counted by the writer at its last
  // change, so an ejection that has just run out may still count for a moment (the writer clears
  // it on a timer).
  bool panic() const { return usable_count_.load(std::memory_order_relaxed) < min_usable_; }
  // Whether load balancing may send a request to endpoint `i` now: usable, or in panic.
  bool mayUse(size_t i, common::MonotonicTime now) const { return panic() || usable(i, now); }
  // Neither marked unhealthy nor ever ejected since its last return: usable at any time, without
  // reading the clock (one relaxed load).
  bool clear(size_t i) const { return slots_[i].word.load(std::memory_order_relaxed) == 0; }
  // The endpoints load balancing may use at `now`, in order, into `out` (cleared first); true if
  // that is all of them because of the panic rule. Reads every endpoint: for callers that cache
  // the set per generation() rather than for every request.
  bool pickUsable(common::MonotonicTime now, std::vector<size_t>& out) const;
  // Changes with every write of the writer (acquire: a reader that sees a new generation sees the
  // writes before it).
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Endpoints neither unhealthy nor ejected, as the writer last counted them.
  size_t usableCount() const { return usable_count_.load(std::memory_order_relaxed); }

  ActiveHealth activeHealth(size_t i) const {
    return static_cast<ActiveHealth>(slots_[i].active.load(std::memory_order_relaxed));
  }
  bool ejected(size_t i, common::MonotonicTime now) const;
  // Every endpoint has been marked unhealthy by the active checker (false for an empty list).
  bool allActiveUnhealthy() const;

  // Counts a request's outcome into the endpoint's streaks: a success ends both, a ServerError
  // ends the connect-failure streak. Returns the reason whose streak has just reached its
  // threshold: the caller hands it to the writer's OutlierDetector::onStreak() (a post), which
  // also restarts the streak. Any thread; a success costs two relaxed loads when no streak runs.
  std::optional<EjectionReason> recordOutcome(size_t i, UpstreamOutcome outcome);
  uint32_t streak(size_t i, EjectionReason reason) const;

  // The writer thread only.

  void setActiveHealth(size_t i, ActiveHealth health);
  // Out of load balancing until `until` (after the epoch of the monotonic clock).
  void eject(size_t i, common::MonotonicTime until);
  void uneject(size_t i);
  void resetStreak(size_t i, EjectionReason reason);
  // The state for a new endpoint list: endpoint j of the new list is endpoint previous_index[j]
  // of this one (its health, ejection and streaks carry over), or NewEndpoint (Unknown, not
  // ejected). Its generation follows this one's.
  std::shared_ptr<EndpointHealth> carryOver(const std::vector<size_t>& previous_index,
                                            EndpointHealthOptions options) const;

 private:
  // Per endpoint, one cache line: the word load balancing reads, the streaks workers count.
  struct alignas(64) Slot {
    // Bit 0: the active checker says unhealthy. Bits 1-63: ejected until this many nanoseconds
    // of the monotonic clock (0: not ejected). One word, so usable() is one load.
    std::atomic<uint64_t> word{0};
    std::atomic<uint32_t> streak_5xx{0};
    std::atomic<uint32_t> streak_connect{0};
    std::atomic<uint8_t> active{static_cast<uint8_t>(ActiveHealth::Unknown)};
  };
  static constexpr uint64_t UnhealthyBit = 1;

  static uint64_t toNanos(common::MonotonicTime t) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch());
    return ns.count() > 0 ? static_cast<uint64_t>(ns.count()) : 0;
  }
  // After each write: counts the usable endpoints (ejections the writer has not cleared count as
  // ejected) and publishes a new generation.
  void published();

  const size_t size_;
  const EndpointHealthOptions options_;
  const size_t min_usable_;  // fewer usable endpoints than this: panic
  std::unique_ptr<Slot[]> slots_;
  std::atomic<size_t> usable_count_;
  std::atomic<uint64_t> generation_{0};
};

// For each endpoint of `next`, its index in `previous` (same host and port), or NewEndpoint.
// An address listed twice is matched once per listing, in order.
std::vector<size_t> matchEndpoints(const std::vector<common::SocketAddress>& previous,
                                   const std::vector<common::SocketAddress>& next);

}  // namespace switchyard::upstream
