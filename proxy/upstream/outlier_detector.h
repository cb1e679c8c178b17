#pragma once

// Passive outlier ejection for one cluster: an endpoint whose requests fail N times in a row
// (5xx or connect failures, counted by the workers in EndpointHealth's streaks) is taken out of
// load balancing for a while.
//
// - The n-th ejection of an endpoint lasts n * base_ejection_time, at most max_ejection_time.
//   The count forgets one ejection for every max_ejection_time the endpoint then goes without
//   one, so an endpoint that failed once last week does not start at the cap.
// - At most max_ejection_percent of the endpoints (rounded down) are ejected at once.
// - An ejection that would leave no usable endpoint (none that is neither ejected nor marked
//   unhealthy by the active checker) is refused: passive checks alone never take the last one.
//
// OutlierDetector is the arithmetic: no clock, no thread, `now` passed in. OutlierMonitor runs it
// on the writer's dispatcher, takes the workers' reports and clears ejections when they run out.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "config/health_check.h"
#include "proxy/common/time.h"
#include "proxy/event/dispatcher.h"
#include "proxy/upstream/endpoint_health.h"

namespace switchyard::upstream {

// What became of a streak that reached its threshold.
enum class EjectionDecision : uint8_t {
  Ejected,
  AlreadyEjected,      // still ejected (the streak ran while every endpoint was in use: panic)
  MaxEjectionPercent,  // refused: as many are ejected as max_ejection_percent allows
  LastUsable,          // refused: it is the last usable endpoint
};
const char* ejectionDecisionName(EjectionDecision decision);

// The EndpointHealthOptions that make EndpointHealth count the streaks `config` acts on.
EndpointHealthOptions outlierOptions(const OutlierDetectionConfig& config,
                                     uint32_t panic_threshold_percent = 50);

// Single-threaded: every method on the writer's thread (the one that writes `health`). The
// counters may be read from any thread.
class OutlierDetector {
 public:
  struct Result {
    EjectionDecision decision;
    common::MonotonicTime until{};  // when Ejected: the end of the ejection
  };

  OutlierDetector(const OutlierDetectionConfig& config, std::shared_ptr<EndpointHealth> health);
  OutlierDetector(const OutlierDetector&) = delete;
  OutlierDetector& operator=(const OutlierDetector&) = delete;

  // Endpoint `i`'s `reason` streak reached its threshold. Clears ejections that have run out,
  // restarts the streak, and ejects the endpoint unless a rule forbids it.
  Result onStreak(size_t i, EjectionReason reason, common::MonotonicTime now);
  // One request's outcome, counted and acted on here: EndpointHealth::recordOutcome(), then
  // onStreak() if a streak reached its threshold. For an owner that sees outcomes on this thread.
  std::optional<Result> onOutcome(size_t i, UpstreamOutcome outcome, common::MonotonicTime now);
  // Returns the endpoints whose ejection has run out by `now`, back in load balancing.
  std::vector<size_t> unejectDue(common::MonotonicTime now);
  // The end of the earliest ejection in force.
  std::optional<common::MonotonicTime> nextUnejection() const;

  // A new endpoint list (see EndpointHealth::carryOver()): endpoints that stay keep their
  // ejection and its count; new ones start clean.
  void setEndpoints(std::shared_ptr<EndpointHealth> health,
                    const std::vector<size_t>& previous_index);

  const OutlierDetectionConfig& config() const { return config_; }
  const std::shared_ptr<EndpointHealth>& health() const { return health_; }
  uint32_t timesEjected(size_t i) const { return endpoints_[i].times; }
  size_t ejectedCount() const;

  // Ejections made, by reason (switchyard_upstream_ejections_total{cluster,reason}), and
  // ejections refused by a rule. Any thread.
  uint64_t ejections(EjectionReason reason) const {
    return ejections_[static_cast<size_t>(reason)].load(std::memory_order_relaxed);
  }
  uint64_t refusals(EjectionDecision rule) const {
    return rule == EjectionDecision::MaxEjectionPercent
               ? refused_percent_.load(std::memory_order_relaxed)
           : rule == EjectionDecision::LastUsable ? refused_last_.load(std::memory_order_relaxed)
                                                  : 0;
  }

 private:
  struct Endpoint {
    bool ejected = false;
    common::MonotonicTime until{};
    uint32_t times = 0;                // ejections counted towards the next one's length
    common::MonotonicTime returned{};  // when the last ejection ended
  };

  const OutlierDetectionConfig config_;
  std::shared_ptr<EndpointHealth> health_;
  std::vector<Endpoint> endpoints_;
  std::array<std::atomic<uint64_t>, EjectionReasonCount> ejections_{};
  std::atomic<uint64_t> refused_percent_{0};
  std::atomic<uint64_t> refused_last_{0};
};

// A streak acted on (an ejection made or refused), or an ejection ended, for logs.
struct OutlierEvent {
  size_t endpoint = 0;
  bool returned = false;  // the endpoint's ejection ended; nothing else is set
  EjectionReason reason = EjectionReason::Consecutive5xx;
  EjectionDecision decision = EjectionDecision::Ejected;
  common::MonotonicTime until{};  // when Ejected
};

// OutlierDetector on the writer's dispatcher. report() is the workers' entry point; everything
// else runs on the dispatcher's thread, where the monitor must be created and destroyed. Owned
// through a shared_ptr: work posted from the workers holds a weak one and is dropped once the
// monitor is gone.
class OutlierMonitor : public std::enable_shared_from_this<OutlierMonitor> {
 public:
  using EventCallback = std::function<void(const OutlierEvent&)>;

  static std::shared_ptr<OutlierMonitor> create(event::Dispatcher& dispatcher,
                                                const OutlierDetectionConfig& config,
                                                std::shared_ptr<EndpointHealth> health,
                                                EventCallback on_event = {});
  ~OutlierMonitor();
  OutlierMonitor(const OutlierMonitor&) = delete;
  OutlierMonitor& operator=(const OutlierMonitor&) = delete;

  // Any thread: counts a request's outcome on endpoint `i` of `health`, the EndpointHealth the
  // worker balances over; when a streak reaches its threshold, posts it to the dispatcher. A
  // report against a list that has since been replaced is dropped there.
  void report(const std::shared_ptr<EndpointHealth>& health, size_t i, UpstreamOutcome outcome);

  // The dispatcher's thread.
  void setEndpoints(std::shared_ptr<EndpointHealth> health,
                    const std::vector<size_t>& previous_index);
  // A streak that EndpointHealth::recordOutcome() reported for endpoint `i` of `health`, for a
  // caller that posts it here itself (report() does both).
  void onStreak(const std::shared_ptr<EndpointHealth>& health, size_t i, EjectionReason reason);
  const OutlierDetector& detector() const { return detector_; }

 private:
  OutlierMonitor(event::Dispatcher& dispatcher, const OutlierDetectionConfig& config,
                 std::shared_ptr<EndpointHealth> health, EventCallback on_event);
  void onTimer();
  void returnDue(common::MonotonicTime now);
  void armTimer();

  event::Dispatcher& dispatcher_;
  OutlierDetector detector_;
  EventCallback on_event_;
  event::TimerPtr timer_;
};

}  // namespace switchyard::upstream
