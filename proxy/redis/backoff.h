#pragma once

#include <cstdint>

#include "proxy/common/random.h"
#include "proxy/common/time.h"

namespace switchyard::redis {

// How long to wait before reconnect attempt `attempt` (0 for the first after a connection was
// lost): d = min(max, base * 2^attempt), then a uniformly random point of [d/2, d] ("equal
// jitter": the workers of one proxy, and the proxies of a fleet, do not reconnect in lockstep,
// and no delay is shorter than half its step).
common::Duration reconnectDelay(uint32_t attempt, common::Duration base, common::Duration max,
                                common::Random& random);

// The failure cooldown of one client, a pure function of the `now` passed in (one worker's
// thread; not thread-safe). After `threshold` failures in a row the client skips the network
// until now + cooldown; then it tries again, and the next failure (the streak is still at or
// above the threshold) starts another cooldown at once, while a success ends the streak.
// A threshold of 0 never cools down.
class FailureCooldown {
 public:
  FailureCooldown(uint32_t threshold, common::Duration cooldown)
      : threshold_(threshold), cooldown_(cooldown) {}

  // Whether requests must be answered without the network at `now`.
  bool coolingDown(common::MonotonicTime now) const { return cooling_ && now < until_; }
  // Counts a failure; true when it starts a cooldown (not when one is already running).
  bool onFailure(common::MonotonicTime now);
  void onSuccess() {
    failures_ = 0;
    cooling_ = false;
  }

  uint32_t consecutiveFailures() const { return failures_; }
  // The end of the current (or last) cooldown; meaningful once one has started.
  common::MonotonicTime until() const { return until_; }

 private:
  const uint32_t threshold_;
  const common::Duration cooldown_;
  uint32_t failures_ = 0;
  bool cooling_ = false;
  common::MonotonicTime until_{};
};

}  // namespace switchyard::redis
