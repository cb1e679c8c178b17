#include "proxy/redis/backoff.h"

#include <algorithm>

namespace switchyard::redis {

common::Duration reconnectDelay(uint32_t attempt, common::Duration base, common::Duration max,
                                common::Random& random) {
  common::Duration d = std::min(base, max);
  // Doubling stops at max, so it never overflows however many attempts have failed.
  for (uint32_t i = 0; i < attempt && d < max; ++i) d = std::min(d * 2, max);
  const int64_t half = d.count() / 2;
  const auto jitter =
      static_cast<int64_t>(random.uniform(static_cast<uint64_t>(d.count() - half) + 1));
  return common::Duration(half + jitter);
}

bool FailureCooldown::onFailure(common::MonotonicTime now) {
  if (failures_ < UINT32_MAX) ++failures_;
  if (threshold_ == 0 || failures_ < threshold_ || coolingDown(now)) return false;
  cooling_ = true;
  until_ = now + cooldown_;
  return true;
}

}  // namespace switchyard::redis
