#pragma once

#include <yaml-cpp/yaml.h>

#include <bitset>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_error.h"

namespace switchyard::filters::circuit_breaker {

using std::chrono::milliseconds;

inline constexpr int MinFailureStatus = 400;
inline constexpr int MaxFailureStatus = 599;

// One cluster's breaker and bulkhead settings. The defaults are the migration plans' numbers.
struct BreakerSettings {
  BreakerSettings();

  // Open after this many failures in a row, all within `interval`; 0 turns the rule off.
  uint32_t consecutive_failures = 5;
  milliseconds interval{60000};
  // Also open when at least this share of the requests of the last `interval` failed, once
  // there were at least `min_requests` of them; unset turns the rule off.
  std::optional<double> failure_ratio;
  uint32_t min_requests = 20;
  // How long the breaker stays open before it lets probes through.
  milliseconds cooldown{30000};
  // Probes in flight at once while half-open, and probe successes that close it again.
  uint32_t half_open_max_requests = 1;
  uint32_t success_threshold = 1;
  // Response statuses that count as failures (timeouts and connection failures always do).
  // Indexed by code; only MinFailureStatus..MaxFailureStatus can be set.
  std::bitset<MaxFailureStatus + 1> failure_status;
  // Bulkheads over all workers; 0 = unlimited.
  uint32_t max_concurrent_requests = 0;
  uint32_t max_concurrent_retries = 0;

  bool isFailureStatus(int status) const {
    return status >= MinFailureStatus && status <= MaxFailureStatus &&
           failure_status.test(static_cast<size_t>(status));
  }
  // `failure_status` as the parser accepts it, e.g. {"5xx"} or {"502", "503"}.
  std::vector<std::string> failureStatusNames() const;
};

// The filter's configuration, built once at load and shared read-only by every worker.
struct CircuitBreakerConfig {
  BreakerSettings defaults;
  // Per-cluster settings: the top-level ones with the cluster's own keys applied over them.
  std::map<std::string, BreakerSettings, std::less<>> clusters;
  // Where each of `clusters` was named (path and position, empty message), so that a name the
  // configuration does not define is reported there.
  struct ClusterRef {
    std::string name;
    config::ConfigError where;
  };
  std::vector<ClusterRef> cluster_refs;

  const BreakerSettings& forCluster(std::string_view cluster) const {
    auto it = clusters.find(cluster);
    return it == clusters.end() ? defaults : it->second;
  }
};

// Parses the filter's YAML node (`circuit_breaker: {...}`); a null or empty node gives the
// defaults. Keys: consecutive_failures (0-10000), interval, failure_ratio (above 0, up to 1),
// min_requests (1-1000000), cooldown, half_open_max_requests and success_threshold (1-1000000),
// failure_status ("5xx", or a list of "5xx" and codes 400-599), max_concurrent_requests and
// max_concurrent_retries (0-1000000), and clusters: {<name>: {the same keys}}. Throws
// config::ConfigError located at the offending node, with `path` extended by the key (e.g.
// "filters[4].circuit_breaker.clusters.legacy.cooldown").
CircuitBreakerConfig parseCircuitBreakerConfig(const YAML::Node& node, const std::string& path);

}  // namespace switchyard::filters::circuit_breaker
