#include "filters/rate_limit/gcra.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

namespace switchyard::filters::rate_limit {
namespace {

constexpr int64_t Max = std::numeric_limits<int64_t>::max();
constexpr int64_t Min = std::numeric_limits<int64_t>::min();

int64_t addSaturated(int64_t a, int64_t b) {
  int64_t sum;
  if (__builtin_add_overflow(a, b, &sum)) return b > 0 ? Max : Min;
  return sum;
}

int64_t subSaturated(int64_t a, int64_t b) {
  int64_t difference;
  if (__builtin_sub_overflow(a, b, &difference)) return b < 0 ? Max : Min;
  return difference;
}

// For a, b >= 0.
int64_t mulSaturated(int64_t a, int64_t b) {
  int64_t product;
  if (__builtin_mul_overflow(a, b, &product)) return Max;
  return product;
}

}  // namespace

GcraParams GcraParams::make(int64_t limit, int64_t window_ns) {
  return make(limit, window_ns, limit);
}

GcraParams GcraParams::make(int64_t limit, int64_t window_ns, int64_t burst) {
  if (limit < 1) {
    throw std::invalid_argument("limit must be at least 1, not " + std::to_string(limit));
  }
  if (window_ns < 1) {
    throw std::invalid_argument("window must be positive, not " + std::to_string(window_ns) +
                                " ns");
  }
  if (burst < 1) {
    throw std::invalid_argument("burst must be at least 1, not " + std::to_string(burst));
  }
  GcraParams params;
  params.limit = limit;
  params.window_ns = window_ns;
  params.burst = burst;
  params.emission_interval_ns = (window_ns - 1) / limit + 1;
  if (burst > MaxToleranceNs / params.emission_interval_ns) {
    throw std::invalid_argument("burst * window / limit must be at most 100 years");
  }
  params.tolerance_ns = burst * params.emission_interval_ns;
  return params;
}

GcraDecision gcraDecide(int64_t stored_tat, int64_t now, const GcraParams& params, int64_t cost) {
  const int64_t interval = params.emission_interval_ns;
  const int64_t tolerance = params.tolerance_ns;
  const int64_t new_tat =
      addSaturated(std::max(stored_tat, now), mulSaturated(std::max<int64_t>(cost, 0), interval));
  const int64_t ahead = subSaturated(new_tat, now);  // >= 0: how far the TAT runs ahead of now
  GcraDecision decision;
  if (ahead > tolerance) {
    decision.tat = stored_tat;
    decision.retry_after_ns = ahead - tolerance;
    decision.reset_ns = decision.retry_after_ns;
    return decision;
  }
  decision.allowed = true;
  decision.tat = new_tat;
  decision.remaining = (tolerance - ahead) / interval;
  // The bucket holds remaining + 1 requests again once the TAT is this close to now.
  const int64_t threshold = tolerance - (decision.remaining + 1) * interval;
  decision.reset_ns = std::max<int64_t>(0, ahead - threshold);
  return decision;
}

int64_t ceilSeconds(int64_t ns) {
  constexpr int64_t Second = 1'000'000'000;
  return ns <= 0 ? 0 : (ns - 1) / Second + 1;
}

int64_t retryAfterSeconds(int64_t retry_after_ns) {
  return std::max<int64_t>(1, ceilSeconds(retry_after_ns));
}

}  // namespace switchyard::filters::rate_limit
