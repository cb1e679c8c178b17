#include "filters/circuit_breaker/circuit_breaker.h"

#include <algorithm>

#include "proxy/common/logging.h"

namespace switchyard::filters::circuit_breaker {
namespace {

using std::chrono::duration_cast;
using std::chrono::nanoseconds;

// What a request refused while the probes are out is told to wait: the probes' verdict usually
// comes well within a second, and Retry-After counts whole seconds.
constexpr common::Duration HalfOpenRetryAfter = std::chrono::seconds(1);

int64_t toNs(common::MonotonicTime t) {
  return duration_cast<nanoseconds>(t.time_since_epoch()).count();
}

int64_t toNs(milliseconds d) { return duration_cast<nanoseconds>(d).count(); }

size_t index(BreakerState s) { return static_cast<size_t>(s); }

}  // namespace

std::string_view breakerStateName(BreakerState state) {
  switch (state) {
    case BreakerState::Closed:
      return "closed";
    case BreakerState::HalfOpen:
      return "half_open";
    case BreakerState::Open:
      return "open";
  }
  return "unknown";
}

BreakerMetrics::BreakerMetrics(prometheus::Registry& registry)
    : state(prometheus::BuildGauge()
                .Name("switchyard_circuit_breaker_state")
                .Help("Circuit breaker state by cluster: 0 closed, 1 half-open, 2 open")
                .Register(registry)),
      transitions(prometheus::BuildCounter()
                      .Name("switchyard_circuit_breaker_transitions_total")
                      .Help("Circuit breaker state changes, by cluster and from/to state")
                      .Register(registry)),
      rejected(prometheus::BuildCounter()
                   .Name("switchyard_circuit_breaker_rejected_total")
                   .Help("Upstream attempts refused because the cluster's breaker was open or "
                         "its half-open probes were all out")
                   .Register(registry)),
      bulkhead_overflow(prometheus::BuildCounter()
                            .Name("switchyard_bulkhead_overflow_total")
                            .Help("Requests or retries refused because the cluster was at its "
                                  "concurrency limit, by cluster and limit")
                            .Register(registry)) {}

BreakerStats::BreakerStats(BreakerMetrics& metrics, const std::string& cluster)
    : state(&metrics.state.Add({{"cluster", cluster}})),
      rejected(&metrics.rejected.Add({{"cluster", cluster}})) {
  auto add = [&](BreakerState from, BreakerState to) {
    transitions[index(from)][index(to)] =
        &metrics.transitions.Add({{"cluster", cluster},
                                  {"from", std::string(breakerStateName(from))},
                                  {"to", std::string(breakerStateName(to))}});
  };
  add(BreakerState::Closed, BreakerState::Open);
  add(BreakerState::Open, BreakerState::HalfOpen);
  add(BreakerState::HalfOpen, BreakerState::Closed);
  add(BreakerState::HalfOpen, BreakerState::Open);
}

namespace {

int64_t bucketNs(const BreakerSettings& s) {
  return std::max<int64_t>(1, toNs(s.interval) / int64_t{CircuitBreaker::WindowBuckets});
}

}  // namespace

CircuitBreaker::CircuitBreaker(std::string cluster, const BreakerSettings& settings,
                               BreakerStats stats)
    : cluster_(std::move(cluster)),
      settings_(settings),
      stats_(stats),
      bucket_ns_(bucketNs(settings)),
      half_open_max_(settings.half_open_max_requests),
      ratio_enabled_(settings.failure_ratio.has_value()),
      failure_times_(settings.consecutive_failures) {
  if (stats_.state != nullptr) stats_.state->Set(index(BreakerState::Closed));
}

void CircuitBreaker::reconfigure(const BreakerSettings& settings) {
  std::lock_guard lock(mutex_);
  const bool window_changed =
      settings.interval != settings_.interval ||
      settings.failure_ratio.has_value() != settings_.failure_ratio.has_value();
  if (settings.consecutive_failures != settings_.consecutive_failures) {
    failure_times_.assign(settings.consecutive_failures, 0);
    ring_size_ = ring_next_ = 0;
  }
  settings_ = settings;
  half_open_max_.store(settings.half_open_max_requests, std::memory_order_relaxed);
  ratio_enabled_.store(settings.failure_ratio.has_value(), std::memory_order_relaxed);
  if (window_changed) {
    bucket_ns_.store(bucketNs(settings), std::memory_order_relaxed);
    resetWindow();
  }
}

BreakerSettings CircuitBreaker::settings() const {
  std::lock_guard lock(mutex_);
  return settings_;
}

Admission CircuitBreaker::admit(common::MonotonicTime now) {
  const BreakerState seen = state_.load(std::memory_order_acquire);
  if (seen == BreakerState::Closed) return {};

  auto reject = [this](common::Duration retry_after) {
    if (stats_.rejected != nullptr) stats_.rejected->Increment();
    return Admission{Admission::Kind::Rejected, retry_after};
  };
  const int64_t now_ns = toNs(now);
  // Refusals without the lock: while open, or half-open with every probe out, that is nearly
  // every request.
  if (seen == BreakerState::Open) {
    const int64_t until = open_until_ns_.load(std::memory_order_relaxed);
    if (now_ns < until) return reject(nanoseconds(until - now_ns));
  } else if (probes_.load(std::memory_order_relaxed) >=
             half_open_max_.load(std::memory_order_relaxed)) {
    return reject(HalfOpenRetryAfter);
  }

  std::lock_guard lock(mutex_);
  switch (state_.load(std::memory_order_relaxed)) {
    case BreakerState::Closed:
      return {};
    case BreakerState::Open: {
      const int64_t until = open_until_ns_.load(std::memory_order_relaxed);
      if (now_ns < until) return reject(nanoseconds(until - now_ns));
      transitionLocked(BreakerState::HalfOpen, now);
      break;
    }
    case BreakerState::HalfOpen:
      break;
  }
  if (probes_.load(std::memory_order_relaxed) >= settings_.half_open_max_requests) {
    return reject(HalfOpenRetryAfter);
  }
  probes_.fetch_add(1, std::memory_order_relaxed);
  return Admission{Admission::Kind::AllowedProbe, common::Duration::zero()};
}

void CircuitBreaker::onResult(common::MonotonicTime now, bool success, bool was_probe) {
  if (was_probe) {
    onProbeResult(now, success);
    return;
  }
  if (state_.load(std::memory_order_acquire) != BreakerState::Closed) return;
  if (!success) {
    onClosedFailure(now);
    return;
  }
  // Load before store: a success with no streak to end writes nothing, so the cache line stays
  // shared between workers.
  if (streak_.load(std::memory_order_relaxed) != 0) streak_.store(0, std::memory_order_relaxed);
  if (ratio_enabled_.load(std::memory_order_relaxed)) recordInWindow(toNs(now), false);
}

void CircuitBreaker::onCancelled(bool was_probe) {
  if (!was_probe) return;
  std::lock_guard lock(mutex_);
  if (probes_.load(std::memory_order_relaxed) > 0) probes_.fetch_sub(1, std::memory_order_relaxed);
}

void CircuitBreaker::onClosedFailure(common::MonotonicTime now) {
  std::lock_guard lock(mutex_);
  if (state_.load(std::memory_order_relaxed) != BreakerState::Closed) return;
  const int64_t now_ns = toNs(now);
  bool trip = false;

  // Failures only add to the streak under the lock; a success may end it at any time without
  // the lock, so the increment is a compare-and-swap, and a streak seen ending (0) starts the
  // ring of failure times over.
  uint32_t streak = streak_.load(std::memory_order_relaxed);
  do {
    if (streak == 0) ring_size_ = ring_next_ = 0;
  } while (!streak_.compare_exchange_weak(streak, streak + 1, std::memory_order_relaxed));
  const size_t k = failure_times_.size();
  if (k > 0) {
    failure_times_[ring_next_] = now_ns;
    ring_next_ = (ring_next_ + 1) % k;
    ring_size_ = std::min(ring_size_ + 1, k);
    // Full, the ring's next slot holds the oldest of the last k failures.
    trip = ring_size_ == k && now_ns - failure_times_[ring_next_] <= toNs(settings_.interval);
  }

  if (settings_.failure_ratio) {
    recordInWindow(now_ns, true);
    const WindowCounts w = window(now);
    // The epsilon keeps e.g. 3 failures of 30 at a 0.1 ratio from missing by a rounding error.
    trip = trip || (w.requests >= settings_.min_requests &&
                    static_cast<double>(w.failures) >=
                        *settings_.failure_ratio * static_cast<double>(w.requests) - 1e-9);
  }
  if (trip) transitionLocked(BreakerState::Open, now);
}

void CircuitBreaker::onProbeResult(common::MonotonicTime now, bool success) {
  std::lock_guard lock(mutex_);
  if (probes_.load(std::memory_order_relaxed) > 0) probes_.fetch_sub(1, std::memory_order_relaxed);
  // A probe of an earlier half-open period has no say in this one.
  if (state_.load(std::memory_order_relaxed) != BreakerState::HalfOpen) return;
  if (!success) {
    transitionLocked(BreakerState::Open, now);
  } else if (++probe_successes_ >= settings_.success_threshold) {
    transitionLocked(BreakerState::Closed, now);
  }
}

void CircuitBreaker::recordInWindow(int64_t now_ns, bool failure) {
  const int64_t epoch = now_ns / bucket_ns_.load(std::memory_order_relaxed);
  Bucket& b = buckets_[static_cast<size_t>(epoch) % WindowBuckets];
  const int64_t seen = b.epoch.load(std::memory_order_acquire);
  // A bucket counting a period far ahead was filled with another bucket length, by a result
  // recorded while a reload changed the interval: it counts nothing of this window.
  const bool stale = seen > epoch + static_cast<int64_t>(WindowBuckets);
  if (seen != epoch) {
    // The bucket already counts a later period: this result is older than the window.
    if (seen > epoch && !stale) return;
    // Turning the bucket over is rare (once per bucket period); the lock keeps two workers from
    // both zeroing it, one after the other has counted into it.
    std::lock_guard lock(bucket_mutex_);
    const int64_t current = b.epoch.load(std::memory_order_relaxed);
    if (current > epoch && current <= epoch + static_cast<int64_t>(WindowBuckets)) return;
    if (current != epoch) {
      b.requests.store(0, std::memory_order_relaxed);
      b.failures.store(0, std::memory_order_relaxed);
      b.epoch.store(epoch, std::memory_order_release);
    }
  }
  b.requests.fetch_add(1, std::memory_order_relaxed);
  if (failure) b.failures.fetch_add(1, std::memory_order_relaxed);
}

CircuitBreaker::WindowCounts CircuitBreaker::window(common::MonotonicTime now) const {
  WindowCounts out;
  if (!ratio_enabled_.load(std::memory_order_relaxed)) return out;
  const int64_t current = toNs(now) / bucket_ns_.load(std::memory_order_relaxed);
  for (const Bucket& b : buckets_) {
    const int64_t epoch = b.epoch.load(std::memory_order_acquire);
    if (epoch > current - static_cast<int64_t>(WindowBuckets) && epoch <= current) {
      out.requests += b.requests.load(std::memory_order_relaxed);
      out.failures += b.failures.load(std::memory_order_relaxed);
    }
  }
  return out;
}

void CircuitBreaker::resetCountsLocked() {
  streak_.store(0, std::memory_order_relaxed);
  ring_size_ = ring_next_ = 0;
  resetWindow();
}

void CircuitBreaker::resetWindow() {
  std::lock_guard lock(bucket_mutex_);
  for (Bucket& b : buckets_) {
    b.requests.store(0, std::memory_order_relaxed);
    b.failures.store(0, std::memory_order_relaxed);
    b.epoch.store(-1, std::memory_order_release);
  }
}

void CircuitBreaker::transitionLocked(BreakerState to, common::MonotonicTime now) {
  const BreakerState from = state_.load(std::memory_order_relaxed);
  if (from == to) return;
  switch (to) {
    case BreakerState::Open:
      // Stored before the state, which admit() loads with acquire before reading it.
      open_until_ns_.store(toNs(now) + toNs(settings_.cooldown), std::memory_order_relaxed);
      break;
    case BreakerState::HalfOpen:
      probes_.store(0, std::memory_order_relaxed);
      probe_successes_ = 0;
      break;
    case BreakerState::Closed:
      // Judged afresh: nothing from before the breaker opened counts against the cluster.
      resetCountsLocked();
      break;
  }
  state_.store(to, std::memory_order_release);
  ++transitions_;
  if (stats_.state != nullptr) stats_.state->Set(index(to));
  if (prometheus::Counter* c = stats_.transitions[index(from)][index(to)]; c != nullptr) {
    c->Increment();
  }
  const std::string from_name(breakerStateName(from));
  const std::string to_name(breakerStateName(to));
  if (to == BreakerState::Open) {
    SY_LOG(Warn, "circuit breaker of cluster %s: %s -> open for %lld ms", cluster_.c_str(),
           from_name.c_str(), static_cast<long long>(settings_.cooldown.count()));
  } else {
    SY_LOG(Info, "circuit breaker of cluster %s: %s -> %s", cluster_.c_str(), from_name.c_str(),
           to_name.c_str());
  }
}

uint64_t CircuitBreaker::transitionCount() const {
  std::lock_guard lock(mutex_);
  return transitions_;
}

nlohmann::json CircuitBreaker::snapshot(common::MonotonicTime now) const {
  const BreakerState s = state();
  const WindowCounts w = window(now);
  nlohmann::json out = {{"state", breakerStateName(s)},
                        {"consecutive_failures", consecutiveFailures()},
                        {"window", {{"requests", w.requests}, {"failures", w.failures}}},
                        {"probes_in_flight", probesInFlight()},
                        {"transitions", transitionCount()}};
  if (s == BreakerState::Open) {
    const int64_t left = open_until_ns_.load(std::memory_order_relaxed) - toNs(now);
    out["open_remaining_ms"] = std::max<int64_t>(0, left / 1'000'000);
  }
  return out;
}

}  // namespace switchyard::filters::circuit_breaker
