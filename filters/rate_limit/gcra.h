#pragma once

// The Generic Cell Rate Algorithm (GCRA) of the rate_limit filter, as pure functions of `now`
// (REFERENCE.md section 4). A key's whole state is one number, its theoretical arrival time
// (TAT): the time at which its bucket would be full again. Nothing here reads a clock; times are
// integer nanoseconds of the monotonic clock, durations integer nanoseconds.
//
// A policy of `limit` requests per `window` with `burst` (default `limit`) admits `burst`
// requests at once from a full bucket and then one request per emission interval
// T = window / limit. In any interval of length L it admits at most burst + floor(L / T)
// requests, wherever the interval starts: there is no window boundary to burst across, unlike a
// fixed-window counter (which admits 2 * limit around each boundary). Denied requests do not
// change the state, so a client that keeps retrying while denied is not locked out longer.

#include <algorithm>
#include <cstdint>
#include <limits>

namespace switchyard::filters::rate_limit {

struct GcraParams {
  // The largest tolerance accepted (about 100 years): keeps every sum of a time, the tolerance
  // and a cost far from int64_t overflow, and the Redis script's microseconds exact in doubles.
  static constexpr int64_t MaxToleranceNs = int64_t{100} * 365 * 24 * 3600 * 1'000'000'000;

  // `limit` requests per `window_ns`, burst `limit`. Throws std::invalid_argument, saying what is
  // wrong, unless limit >= 1 and window_ns >= 1 and the tolerance is at most MaxToleranceNs.
  static GcraParams make(int64_t limit, int64_t window_ns);
  // The same with burst `burst` (>= 1).
  static GcraParams make(int64_t limit, int64_t window_ns, int64_t burst);

  int64_t limit = 0;
  int64_t window_ns = 0;
  int64_t burst = 0;
  // T = ceil(window_ns / limit), at least 1 ns. Rounded up so that the policy never admits more
  // than `limit` per `window` over the long run: with a window that does not divide evenly the
  // long-run rate is below limit/window by less than 1 ns per request (3 per second: T is
  // 333'333'334 ns).
  int64_t emission_interval_ns = 0;
  // DVT = burst * T exactly (a whole number of intervals, so `remaining` below counts whole
  // requests and a full bucket admits exactly `burst` back-to-back requests).
  int64_t tolerance_ns = 0;
};

struct GcraDecision {
  bool allowed = false;
  // The TAT to store: the new one when allowed; when denied, the stored TAT passed in
  // (unchanged: a denial writes nothing).
  int64_t tat = 0;
  // Denied: how long until this request (same cost) would be admitted. Allowed: 0.
  int64_t retry_after_ns = 0;
  // Allowed: how many more cost-1 requests would be admitted right now. Denied: 0.
  int64_t remaining = 0;
  // Allowed: time until `remaining` grows by one, in (0, T] (the RateLimit field's `t`). Denied:
  // retry_after_ns, as the RateLimit field of a 429 carries the Retry-After time.
  int64_t reset_ns = 0;
};

namespace gcra_detail {
inline int64_t addSaturated(int64_t a, int64_t b) {
  int64_t sum;
  if (__builtin_add_overflow(a, b, &sum)) {
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return sum;
}
inline int64_t subSaturated(int64_t a, int64_t b) {
  int64_t difference;
  if (__builtin_sub_overflow(a, b, &difference)) {
    return b < 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return difference;
}
// For a, b >= 0.
inline int64_t mulSaturated(int64_t a, int64_t b) {
  int64_t product;
  if (__builtin_mul_overflow(a, b, &product)) return std::numeric_limits<int64_t>::max();
  return product;
}
}  // namespace gcra_detail

// One request of `cost` (>= 0) at `now` against a key whose stored TAT is `stored_tat`; any
// stored_tat <= now (0 for a key never seen) is a full bucket.
//   new = max(stored_tat, now) + cost * T
//   new - now > DVT: deny, retry_after = new - now - DVT, state unchanged
//   otherwise:       tat = new, remaining = floor((DVT - (new - now)) / T),
//                    reset = max(0, (new - now) - (DVT - (remaining + 1) * T))
// A cost above `burst` can never be admitted; its retry_after is what the formula gives (the
// configuration should refuse such costs). Arithmetic saturates instead of overflowing.
// Inline: it runs on every request of a local policy, inside the compare-and-swap loop.
inline GcraDecision gcraDecide(int64_t stored_tat, int64_t now, const GcraParams& params,
                               int64_t cost = 1) {
  const int64_t interval = params.emission_interval_ns;
  const int64_t tolerance = params.tolerance_ns;
  const int64_t new_tat = gcra_detail::addSaturated(
      std::max(stored_tat, now), gcra_detail::mulSaturated(std::max<int64_t>(cost, 0), interval));
  const int64_t ahead =
      gcra_detail::subSaturated(new_tat, now);  // >= 0: how far the TAT runs ahead of now
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

// `ns` rounded up to whole seconds; 0 for ns <= 0. The RateLimit field's `t` is
// ceilSeconds(reset_ns).
int64_t ceilSeconds(int64_t ns);

// The Retry-After value (delay-seconds) of a 429: max(1, ceil(retry_after)). Never 0, which
// clients read as "retry now" and would spin on.
int64_t retryAfterSeconds(int64_t retry_after_ns);

// The same algorithm as one Redis Lua script (EVAL/EVALSHA), for a limit shared by several
// proxies. Redis's own clock is the only time source (redis.call('TIME'), in microseconds), so
// the proxies' clocks do not matter.
//   KEYS[1]  the key (one key per call: ready for Redis Cluster with a hash tag)
//   ARGV[1]  emission interval T in microseconds (integer >= 1)
//   ARGV[2]  tolerance DVT in microseconds (integer >= 0, a multiple of T for whole `remaining`)
//   ARGV[3]  cost (integer >= 0)
// Returns the integers {allowed (0/1), remaining, retry_after_us, reset_us}, with the meaning
// of GcraDecision. An allowed request stores the new TAT (decimal microseconds since the epoch)
// with `SET key tat PX ttl`, ttl = max(1, ceil((tat - now) / 1 ms)): the key disappears when the
// bucket is full again. A denial writes nothing. A missing key or one that does not hold a number
// is a full bucket.
// Lua 5.1 only (Redis and its look-alikes): no table.maxn, no bit operations, no integer
// division operator. Lua numbers are doubles: the arithmetic is exact while
// now + DVT + cost * T stays below 2^53 microseconds (about 285 years after 1970), which
// MaxToleranceNs and any realistic cost keep. Needs Redis >= 5 (TIME before a write relies on
// effect replication, the default since 5.0).
extern const char* const GcraScript;

// The script's ARGV[1] and ARGV[2] for `params`: T rounded up to whole microseconds (at least 1)
// and DVT = burst * that T, so a policy enforced in Redis admits exactly `burst` at once and
// never more than the local one over time.
struct GcraScriptArgs {
  int64_t emission_interval_us = 0;
  int64_t tolerance_us = 0;
};
GcraScriptArgs gcraScriptArgs(const GcraParams& params);

}  // namespace switchyard::filters::rate_limit
