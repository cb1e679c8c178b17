#include "proxy/upstream/outlier_detector.h"

#include <algorithm>

namespace switchyard::upstream {

const char* ejectionDecisionName(EjectionDecision decision) {
  switch (decision) {
    case EjectionDecision::Ejected:
      return "ejected";
    case EjectionDecision::AlreadyEjected:
      return "already_ejected";
    case EjectionDecision::MaxEjectionPercent:
      return "max_ejection_percent";
    case EjectionDecision::LastUsable:
      return "last_usable";
  }
  return "unknown";
}

EndpointHealthOptions outlierOptions(const OutlierDetectionConfig& config,
                                     uint32_t panic_threshold_percent) {
  EndpointHealthOptions out;
  out.panic_threshold_percent = panic_threshold_percent;
  out.consecutive_5xx = config.consecutive_5xx;
  out.consecutive_connect_failures = config.consecutive_connect_failures;
  return out;
}

OutlierDetector::OutlierDetector(const OutlierDetectionConfig& config,
                                 std::shared_ptr<EndpointHealth> health)
    : config_(config), health_(std::move(health)), endpoints_(health_->size()) {}

OutlierDetector::Result OutlierDetector::onStreak(size_t i, EjectionReason reason,
                                                  common::MonotonicTime now) {
  unejectDue(now);
  health_->resetStreak(i, reason);
  Endpoint& e = endpoints_[i];
  if (e.ejected) return {EjectionDecision::AlreadyEjected, e.until};

  const size_t limit =
      health_->size() * std::min<uint32_t>(config_.max_ejection_percent, 100) / 100;
  if (ejectedCount() + 1 > limit) {
    refused_percent_.fetch_add(1, std::memory_order_relaxed);
    return {EjectionDecision::MaxEjectionPercent, {}};
  }
  if (health_->usable(i, now)) {
    bool another = false;
    for (size_t j = 0; j < health_->size() && !another; ++j) {
      another = j != i && health_->usable(j, now);
    }
    if (!another) {
      refused_last_.fetch_add(1, std::memory_order_relaxed);
      return {EjectionDecision::LastUsable, {}};
    }
  }

  if (e.times > 0) {
    // One ejection forgotten per max_ejection_time without one.
    const auto quiet = now - e.returned;
    const auto forget = static_cast<uint64_t>(quiet / config_.max_ejection_time);
    e.times = forget >= e.times ? 0 : e.times - static_cast<uint32_t>(forget);
  }
  // Past max / base the length no longer grows: the count stops there too.
  const uint64_t cap =
      static_cast<uint64_t>(config_.max_ejection_time / config_.base_ejection_time) + 1;
  if (e.times < cap) ++e.times;
  const common::Duration length =
      std::min<common::Duration>(config_.base_ejection_time * e.times, config_.max_ejection_time);
  e.ejected = true;
  e.until = now + length;
  health_->eject(i, e.until);
  ejections_[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  return {EjectionDecision::Ejected, e.until};
}

std::optional<OutlierDetector::Result> OutlierDetector::onOutcome(size_t i, UpstreamOutcome outcome,
                                                                  common::MonotonicTime now) {
  const std::optional<EjectionReason> reason = health_->recordOutcome(i, outcome);
  if (!reason) return std::nullopt;
  return onStreak(i, *reason, now);
}

std::vector<size_t> OutlierDetector::unejectDue(common::MonotonicTime now) {
  std::vector<size_t> out;
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    Endpoint& e = endpoints_[i];
    if (!e.ejected || e.until > now) continue;
    e.ejected = false;
    e.returned = e.until;
    health_->uneject(i);
    out.push_back(i);
  }
  return out;
}

std::optional<common::MonotonicTime> OutlierDetector::nextUnejection() const {
  std::optional<common::MonotonicTime> out;
  for (const Endpoint& e : endpoints_) {
    if (e.ejected && (!out || e.until < *out)) out = e.until;
  }
  return out;
}

size_t OutlierDetector::ejectedCount() const {
  return static_cast<size_t>(std::count_if(endpoints_.begin(), endpoints_.end(),
                                           [](const Endpoint& e) { return e.ejected; }));
}

void OutlierDetector::setEndpoints(std::shared_ptr<EndpointHealth> health,
                                   const std::vector<size_t>& previous_index) {
  std::vector<Endpoint> next(previous_index.size());
  for (size_t j = 0; j < previous_index.size(); ++j) {
    const size_t i = previous_index[j];
    if (i != NewEndpoint && i < endpoints_.size()) next[j] = endpoints_[i];
  }
  endpoints_ = std::move(next);
  health_ = std::move(health);
}

std::shared_ptr<OutlierMonitor> OutlierMonitor::create(event::Dispatcher& dispatcher,
                                                       const OutlierDetectionConfig& config,
                                                       std::shared_ptr<EndpointHealth> health,
                                                       EventCallback on_event) {
  return std::shared_ptr<OutlierMonitor>(
      new OutlierMonitor(dispatcher, config, std::move(health), std::move(on_event)));
}

OutlierMonitor::OutlierMonitor(event::Dispatcher& dispatcher, const OutlierDetectionConfig& config,
                               std::shared_ptr<EndpointHealth> health, EventCallback on_event)
    : dispatcher_(dispatcher),
      detector_(config, std::move(health)),
      on_event_(std::move(on_event)),
      timer_(dispatcher.createTimer([this] { onTimer(); })) {}

OutlierMonitor::~OutlierMonitor() = default;

void OutlierMonitor::report(const std::shared_ptr<EndpointHealth>& health, size_t i,
                            UpstreamOutcome outcome) {
  const std::optional<EjectionReason> reason = health->recordOutcome(i, outcome);
  if (!reason) return;
  dispatcher_.post([weak = weak_from_this(), health, i, r = *reason] {
    if (auto self = weak.lock()) self->onStreak(health, i, r);
  });
}

void OutlierMonitor::setEndpoints(std::shared_ptr<EndpointHealth> health,
                                  const std::vector<size_t>& previous_index) {
  detector_.setEndpoints(std::move(health), previous_index);
  armTimer();
}

void OutlierMonitor::onStreak(const std::shared_ptr<EndpointHealth>& health, size_t i,
                              EjectionReason reason) {
  // Indices of a replaced list mean other endpoints now.
  if (health != detector_.health() || i >= health->size()) return;
  const common::MonotonicTime now = dispatcher_.timeSource().monotonicNow();
  returnDue(now);
  const OutlierDetector::Result result = detector_.onStreak(i, reason, now);
  if (on_event_) {
    on_event_(
        {.endpoint = i, .reason = reason, .decision = result.decision, .until = result.until});
  }
  armTimer();
}

void OutlierMonitor::onTimer() {
  returnDue(dispatcher_.timeSource().monotonicNow());
  armTimer();
}

void OutlierMonitor::returnDue(common::MonotonicTime now) {
  for (size_t back : detector_.unejectDue(now)) {
    if (on_event_) on_event_({.endpoint = back, .returned = true});
  }
}

void OutlierMonitor::armTimer() {
  const std::optional<common::MonotonicTime> next = detector_.nextUnejection();
  if (!next) {
    timer_->disable();
    return;
  }
  const common::Duration left = *next - dispatcher_.timeSource().monotonicNow();
  timer_->enable(
      std::max(std::chrono::ceil<std::chrono::milliseconds>(left), std::chrono::milliseconds(0)));
}

}  // namespace switchyard::upstream
