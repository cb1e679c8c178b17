#include "filters/rate_limit/gcra.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

namespace switchyard::filters::rate_limit {
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

int64_t ceilSeconds(int64_t ns) {
  constexpr int64_t Second = 1'000'000'000;
  return ns <= 0 ? 0 : (ns - 1) / Second + 1;
}

int64_t retryAfterSeconds(int64_t retry_after_ns) {
  return std::max<int64_t>(1, ceilSeconds(retry_after_ns));
}

GcraScriptArgs gcraScriptArgs(const GcraParams& params) {
  GcraScriptArgs args;
  args.emission_interval_us = (params.emission_interval_ns - 1) / 1000 + 1;
  args.tolerance_us = params.burst * args.emission_interval_us;
  return args;
}

// `new - now` is `ahead` as in gcraDecide. The TAT is written with string.format('%d'): Redis
// converts a Lua number argument with "%.17g" (7.0) or a shortest-form formatter (7.2+), and only
// the former is sure to print 16-digit integers without an exponent. `remaining` is a floor of a
// floating-point division, corrected by one step each way so that it is the exact integer
// quotient whatever the rounding.
const char* const GcraScript = R"lua(
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0) or 0
if tat < now then
  tat = now
end
local new_tat = tat + cost * interval
local ahead = new_tat - now
if ahead > tolerance then
  return {0, 0, ahead - tolerance, ahead - tolerance}
end
local ttl_ms = math.ceil(ahead / 1000)
if ttl_ms < 1 then
  ttl_ms = 1
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', string.format('%d', ttl_ms))
local room = tolerance - ahead
local remaining = math.floor(room / interval)
if remaining * interval > room then
  remaining = remaining - 1
elseif (remaining + 1) * interval <= room then
  remaining = remaining + 1
end
local reset = ahead - (tolerance - (remaining + 1) * interval)
if reset < 0 then
  reset = 0
end
return {1, remaining, 0, reset}
)lua";

}  // namespace switchyard::filters::rate_limit
