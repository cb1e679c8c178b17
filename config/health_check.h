#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace switchyard::upstream {

using std::chrono::milliseconds;

// Statuses first..last, both included (a single status has first == last).
struct StatusRange {
  int first = 200;
  int last = 399;
  bool operator==(const StatusRange&) const = default;
};

inline constexpr int MinProbeStatus = 100;
inline constexpr int MaxProbeStatus = 599;

// A cluster's `health_check:` block: an HTTP GET of `path` on every endpoint every `interval`.
// Built once at load, read-only afterwards.
struct HealthCheckConfig {
  std::string path = "/health";
  // The Host header of the probes; empty: the endpoint's authority (see HealthCheckTarget).
  std::string host;
  // From the end of one probe to the start of the next, less up to `jitter` of it (so probes
  // of many endpoints and sidecars spread out, and an endpoint is probed at least this often).
  milliseconds interval{5000};
  // Connect plus the response's head; below `interval`.
  milliseconds timeout{1000};
  // Failures in a row that take an endpoint out, successes in a row that bring it back.
  uint32_t unhealthy_threshold = 3;
  uint32_t healthy_threshold = 2;
  std::vector<StatusRange> expected_statuses{StatusRange{200, 399}};
  // A share of `interval`, 0 to 1 ("10%" in YAML).
  double jitter = 0.10;

  bool isExpectedStatus(int status) const;
  bool operator==(const HealthCheckConfig&) const = default;
  // As written in YAML, for the configuration dump.
  nlohmann::json toJson() const;
};

// A cluster's `outlier_detection:` block: passive ejection of endpoints that keep failing real
// requests. Built once at load, read-only afterwards.
struct OutlierDetectionConfig {
  // Consecutive 5xx answers (or response timeouts) and consecutive failed connects that eject
  // an endpoint; 0 turns that rule off.
  uint32_t consecutive_5xx = 5;
  uint32_t consecutive_connect_failures = 5;
  // The n-th ejection of an endpoint lasts n * base_ejection_time, at most max_ejection_time.
  milliseconds base_ejection_time{30000};
  milliseconds max_ejection_time{300000};
  // At most this share of the cluster's endpoints is ejected at once (rounded down).
  uint32_t max_ejection_percent = 50;

  bool operator==(const OutlierDetectionConfig&) const = default;
  nlohmann::json toJson() const;
};

// Parse the blocks found at `path` (e.g. "clusters[1].health_check"). An empty block (`{}` or no
// value) gives the defaults. Throw config::ConfigError at the offending node with the key path:
// unknown keys, bad or non-positive durations, thresholds outside 1-1000, a timeout not below the
// interval, a jitter outside 0%-100%, statuses outside 100-599 or ranges that run backwards, a
// path not starting with "/".
//
// health_check keys: path, host, interval, timeout, unhealthy_threshold, healthy_threshold,
// expected_statuses (a list of codes and ranges, e.g. [200, 204, 300-399]), jitter ("10%").
HealthCheckConfig parseHealthCheckConfig(const YAML::Node& node, const std::string& path);
// outlier_detection keys: consecutive_5xx and consecutive_connect_failures (0-10000),
// base_ejection_time, max_ejection_time (not below base_ejection_time), max_ejection_percent
// (0-100).
OutlierDetectionConfig parseOutlierDetectionConfig(const YAML::Node& node, const std::string& path);

}  // namespace switchyard::upstream
