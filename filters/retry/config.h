#pragma once

#include <yaml-cpp/yaml.h>

#include <bitset>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace switchyard::filters::retry {

using std::chrono::milliseconds;

// Status codes a policy may name: 4xx and 5xx. A retry on anything else would repeat a request
// that worked (2xx), or one the upstream sent elsewhere (3xx).
inline constexpr int MinRetriableStatus = 400;
inline constexpr int MaxRetriableStatus = 599;

// How many retries may be in flight to one cluster at once, counted over all workers.
struct RetryBudgetConfig {
  // At most this share (0-100) of the cluster's active requests may be on a retry...
  double percent = 20.0;
  // ...but this many retries are always allowed, so a quiet cluster can still retry at all.
  uint32_t min_retries = 3;
};

// The filter's configuration, built once at load and shared read-only by every worker. The
// defaults are the migration plans' numbers. Header names are lower-case.
struct RetryConfig {
  RetryConfig();

  // Retries after the first attempt; 0 turns retries off.
  uint32_t max_retries = 3;
  // Full-jitter exponential backoff: the wait before retry n (0-based) is uniform in
  // [0, min(max_interval, base_interval * backoff_factor^n)].
  milliseconds base_interval{1000};
  milliseconds max_interval{30000};
  double backoff_factor = 2.0;
  // Time one attempt may take until its response head; none = the route's timeout. Always
  // clamped to what is left of `timeout`.
  std::optional<milliseconds> per_try_timeout;
  // The whole request, every attempt and backoff included: no attempt or backoff is started
  // that would end past it.
  milliseconds timeout{30000};

  // What a failed attempt must have met to be retried (`retry_on`).
  bool retry_connect_failure = true;  // the connection was never established
  bool retry_reset = true;            // the connection broke before the response head
  bool retry_timeout = false;         // the attempt's own timeout expired
  // Indexed by status code; only MinRetriableStatus..MaxRetriableStatus can be set.
  std::bitset<MaxRetriableStatus + 1> retriable_status;

  // A request with another method than GET, HEAD, OPTIONS, PUT, DELETE or TRACE is retried only
  // when it carries one of these headers with a non-empty value.
  std::vector<std::string> idempotency_headers = {"idempotency-key", "x-operation-id"};
  // A request body up to this size is kept so it can be sent again; a larger one is streamed
  // and the request is not retried.
  uint64_t max_replay_body_bytes = 64 * 1024;
  RetryBudgetConfig budget;
  // Wait at least as long as a response's Retry-After asks before retrying; a Retry-After
  // longer than `max_retry_after`, or ending past the deadline, means no retry.
  bool honor_retry_after = true;
  milliseconds max_retry_after{30000};

  bool retriableStatus(int status) const {
    return status >= MinRetriableStatus && status <= MaxRetriableStatus &&
           retriable_status.test(static_cast<size_t>(status));
  }
  // `retry_on` as the parser accepts it, e.g. {"connect-failure", "reset", "502", "503", "504"}
  // ("5xx" when every 5xx code is set), for the configuration dump.
  std::vector<std::string> retryOnNames() const;
};

// Parses the filter's YAML node (`retry: {...}`) over `base` (the defaults, or for a route's or
// version's block the configuration it refines); a null or empty node gives `base`. Keys:
// max_retries (0-100), base_interval, max_interval, backoff_factor (or its alias multiplier;
// 1-100), per_try_timeout, timeout, retry_on (connect-failure, reset, timeout, 5xx, status codes
// 400-599; a list replaces the conditions of `base`), idempotency_headers, max_replay_body_bytes,
// budget {percent, min_retries} (not in a `route_block`: the budget is per cluster),
// honor_retry_after, max_retry_after. Throws config::ConfigError located at the offending node,
// with `path` extended by the key (e.g. "filters[3].retry.retry_on[2]").
RetryConfig parseRetryConfig(const YAML::Node& node, const std::string& path,
                             const RetryConfig& base = RetryConfig(), bool route_block = false);

}  // namespace switchyard::filters::retry
