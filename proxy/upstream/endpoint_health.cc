#include "proxy/upstream/endpoint_health.h"

#include <algorithm>

namespace switchyard::upstream {
namespace {

size_t minUsable(size_t endpoints, uint32_t percent) {
  const size_t share = (endpoints * std::min<uint32_t>(percent, 100) + 99) / 100;
  return std::max<size_t>(share, 1);
}

}  // namespace

const char* activeHealthName(ActiveHealth health) {
  switch (health) {
    case ActiveHealth::Unknown:
      return "unknown";
    case ActiveHealth::Healthy:
      return "healthy";
    case ActiveHealth::Unhealthy:
      return "unhealthy";
  }
  return "unknown";
}

const char* ejectionReasonName(EjectionReason reason) {
  switch (reason) {
    case EjectionReason::Consecutive5xx:
      return "consecutive_5xx";
    case EjectionReason::ConnectFailure:
      return "connect_failure";
  }
  return "unknown";
}

EndpointHealth::EndpointHealth(size_t endpoints, EndpointHealthOptions options)
    : size_(endpoints),
      options_(options),
      min_usable_(minUsable(endpoints, options.panic_threshold_percent)),
      slots_(std::make_unique<Slot[]>(endpoints)),
      usable_count_(endpoints) {}

bool EndpointHealth::pickUsable(common::MonotonicTime now, std::vector<size_t>& out) const {
  out.clear();
  for (size_t i = 0; i < size_; ++i) {
    if (usable(i, now)) out.push_back(i);
  }
  if (out.size() >= min_usable_) return false;
  out.clear();
  for (size_t i = 0; i < size_; ++i) out.push_back(i);
  return true;
}

bool EndpointHealth::ejected(size_t i, common::MonotonicTime now) const {
  const uint64_t until = slots_[i].word.load(std::memory_order_relaxed) >> 1;
  return until != 0 && toNanos(now) < until;
}

bool EndpointHealth::allActiveUnhealthy() const {
  if (size_ == 0) return false;
  for (size_t i = 0; i < size_; ++i) {
    if (activeHealth(i) != ActiveHealth::Unhealthy) return false;
  }
  return true;
}

std::optional<EjectionReason> EndpointHealth::recordOutcome(size_t i, UpstreamOutcome outcome) {
  Slot& s = slots_[i];
  // Loads before stores: a success, the common case, writes nothing while no streak runs, so
  // workers do not take the cache line from each other.
  auto end = [](std::atomic<uint32_t>& streak) {
    if (streak.load(std::memory_order_relaxed) != 0) streak.store(0, std::memory_order_relaxed);
  };
  auto extend = [](std::atomic<uint32_t>& streak, uint32_t threshold) {
    // Exactly one caller sees the streak reach the threshold; the writer restarts it.
    return threshold != 0 && streak.fetch_add(1, std::memory_order_relaxed) + 1 == threshold;
  };
  switch (outcome) {
    case UpstreamOutcome::Success:
      end(s.streak_5xx);
      end(s.streak_connect);
      return std::nullopt;
    case UpstreamOutcome::ServerError:
      end(s.streak_connect);
      if (extend(s.streak_5xx, options_.consecutive_5xx)) return EjectionReason::Consecutive5xx;
      return std::nullopt;
    case UpstreamOutcome::ConnectFailure:
      if (extend(s.streak_connect, options_.consecutive_connect_failures)) {
        return EjectionReason::ConnectFailure;
      }
      return std::nullopt;
  }
  return std::nullopt;
}

uint32_t EndpointHealth::streak(size_t i, EjectionReason reason) const {
  const Slot& s = slots_[i];
  return (reason == EjectionReason::Consecutive5xx ? s.streak_5xx : s.streak_connect)
      .load(std::memory_order_relaxed);
}

void EndpointHealth::setActiveHealth(size_t i, ActiveHealth health) {
  Slot& s = slots_[i];
  s.active.store(static_cast<uint8_t>(health), std::memory_order_relaxed);
  uint64_t word = s.word.load(std::memory_order_relaxed);
  word = health == ActiveHealth::Unhealthy ? (word | UnhealthyBit) : (word & ~UnhealthyBit);
  s.word.store(word, std::memory_order_relaxed);
  published();
}

void EndpointHealth::eject(size_t i, common::MonotonicTime until) {
  Slot& s = slots_[i];
  const uint64_t unhealthy = s.word.load(std::memory_order_relaxed) & UnhealthyBit;
  s.word.store((std::max<uint64_t>(toNanos(until), 1) << 1) | unhealthy, std::memory_order_relaxed);
  published();
}

void EndpointHealth::uneject(size_t i) {
  Slot& s = slots_[i];
  s.word.store(s.word.load(std::memory_order_relaxed) & UnhealthyBit, std::memory_order_relaxed);
  published();
}

void EndpointHealth::resetStreak(size_t i, EjectionReason reason) {
  Slot& s = slots_[i];
  (reason == EjectionReason::Consecutive5xx ? s.streak_5xx : s.streak_connect)
      .store(0, std::memory_order_relaxed);
}

std::shared_ptr<EndpointHealth> EndpointHealth::carryOver(const std::vector<size_t>& previous_index,
                                                          EndpointHealthOptions options) const {
  auto next = std::make_shared<EndpointHealth>(previous_index.size(), options);
  for (size_t j = 0; j < previous_index.size(); ++j) {
    const size_t i = previous_index[j];
    if (i == NewEndpoint || i >= size_) continue;
    const Slot& from = slots_[i];
    Slot& to = next->slots_[j];
    to.word.store(from.word.load(std::memory_order_relaxed), std::memory_order_relaxed);
    to.active.store(from.active.load(std::memory_order_relaxed), std::memory_order_relaxed);
    // A streak at its threshold has been posted against this object, where the writer will
    // drop it: the copy starts again rather than run past the threshold for good.
    auto keep = [](const std::atomic<uint32_t>& streak, uint32_t threshold) {
      const uint32_t v = streak.load(std::memory_order_relaxed);
      return v < threshold ? v : 0;
    };
    to.streak_5xx.store(keep(from.streak_5xx, options.consecutive_5xx), std::memory_order_relaxed);
    to.streak_connect.store(keep(from.streak_connect, options.consecutive_connect_failures),
                            std::memory_order_relaxed);
  }
  next->generation_.store(generation_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  next->published();
  return next;
}

void EndpointHealth::published() {
  size_t usable = 0;
  for (size_t i = 0; i < size_; ++i) {
    if (slots_[i].word.load(std::memory_order_relaxed) == 0) ++usable;
  }
  usable_count_.store(usable, std::memory_order_relaxed);
  generation_.store(generation_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

std::vector<size_t> matchEndpoints(const std::vector<common::SocketAddress>& previous,
                                   const std::vector<common::SocketAddress>& next) {
  std::vector<size_t> out(next.size(), NewEndpoint);
  std::vector<bool> taken(previous.size(), false);
  for (size_t j = 0; j < next.size(); ++j) {
    for (size_t i = 0; i < previous.size(); ++i) {
      if (!taken[i] && previous[i].host == next[j].host && previous[i].port == next[j].port) {
        taken[i] = true;
        out[j] = i;
        break;
      }
    }
  }
  return out;
}

}  // namespace switchyard::upstream
