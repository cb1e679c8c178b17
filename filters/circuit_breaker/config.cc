#include "filters/circuit_breaker/config.h"

#include <algorithm>
#include <initializer_list>

#include "config/config_error.h"
#include "config/yaml_util.h"

namespace switchyard::filters::circuit_breaker {
namespace {

using config::ConfigError;

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

milliseconds positiveDuration(const YAML::Node& node, const std::string& path) {
  milliseconds d = config::getDuration(node, path);
  if (d.count() <= 0) throw ConfigError(node, path, "must be greater than 0s");
  return d;
}

uint32_t count(const YAML::Node& node, const std::string& path, int64_t min, int64_t max) {
  return static_cast<uint32_t>(config::getInt(node, path, min, max));
}

void setFailureStatusItem(const YAML::Node& node, const std::string& path, BreakerSettings& out) {
  const std::string text = config::getString(node, path);
  if (text == "5xx") {
    for (int code = 500; code <= 599; ++code) out.failure_status.set(static_cast<size_t>(code));
  } else if (allDigits(text)) {
    out.failure_status.set(
        static_cast<size_t>(config::getInt(node, path, MinFailureStatus, MaxFailureStatus)));
  } else {
    throw ConfigError(node, path,
                      "expected \"5xx\" or a status code 400-599, got \"" + text + "\"");
  }
}

void parseFailureStatus(const YAML::Node& node, const std::string& path, BreakerSettings& out) {
  out.failure_status.reset();
  if (node.IsScalar()) {
    setFailureStatusItem(node, path, out);
    return;
  }
  config::expectSequence(node, path);
  for (size_t i = 0; i < node.size(); ++i)
    setFailureStatusItem(node[i], config::child(path, i), out);
}

// Applies the settings keys present in `node` over `out`; other keys are the caller's to check.
void applySettings(const YAML::Node& node, const std::string& path, BreakerSettings& out) {
  if (node.IsNull()) return;
  auto key = [&path](const char* name) { return config::child(path, name); };
  if (const YAML::Node n = node["consecutive_failures"]) {
    out.consecutive_failures = count(n, key("consecutive_failures"), 0, 10'000);
  }
  if (const YAML::Node n = node["interval"]) out.interval = positiveDuration(n, key("interval"));
  if (const YAML::Node n = node["failure_ratio"]) {
    const double ratio = config::getDouble(n, key("failure_ratio"), 0, 1);
    if (ratio <= 0) throw ConfigError(n, key("failure_ratio"), "must be greater than 0");
    out.failure_ratio = ratio;
  }
  if (const YAML::Node n = node["min_requests"]) {
    out.min_requests = count(n, key("min_requests"), 1, 1'000'000);
  }
  if (const YAML::Node n = node["cooldown"]) out.cooldown = positiveDuration(n, key("cooldown"));
  if (const YAML::Node n = node["half_open_max_requests"]) {
    out.half_open_max_requests = count(n, key("half_open_max_requests"), 1, 1'000'000);
  }
  if (const YAML::Node n = node["success_threshold"]) {
    out.success_threshold = count(n, key("success_threshold"), 1, 1'000'000);
  }
  if (const YAML::Node n = node["failure_status"]) {
    parseFailureStatus(n, key("failure_status"), out);
  }
  if (const YAML::Node n = node["max_concurrent_requests"]) {
    out.max_concurrent_requests = count(n, key("max_concurrent_requests"), 0, 1'000'000);
  }
  if (const YAML::Node n = node["max_concurrent_retries"]) {
    out.max_concurrent_retries = count(n, key("max_concurrent_retries"), 0, 1'000'000);
  }
}

}  // namespace

BreakerSettings::BreakerSettings() {
  for (int code = 500; code <= 599; ++code) failure_status.set(static_cast<size_t>(code));
}

std::vector<std::string> BreakerSettings::failureStatusNames() const {
  std::vector<std::string> out;
  bool all_5xx = true;
  for (int code = 500; code <= 599; ++code) all_5xx = all_5xx && isFailureStatus(code);
  for (int code = MinFailureStatus; code <= MaxFailureStatus; ++code) {
    if (all_5xx && code == 500) out.emplace_back("5xx");
    if (all_5xx && code >= 500) continue;
    if (isFailureStatus(code)) out.push_back(std::to_string(code));
  }
  return out;
}

CircuitBreakerConfig parseCircuitBreakerConfig(const YAML::Node& node, const std::string& path) {
  CircuitBreakerConfig out;
  if (!node.IsDefined() || node.IsNull()) return out;
  // The same keys as a cluster's map below, plus `clusters`.
  config::expectMap(node, path,
                    {"consecutive_failures", "interval", "failure_ratio", "min_requests",
                     "cooldown", "half_open_max_requests", "success_threshold", "failure_status",
                     "max_concurrent_requests", "max_concurrent_retries", "clusters"});
  applySettings(node, path, out.defaults);

  const YAML::Node clusters = node["clusters"];
  if (!clusters || clusters.IsNull()) return out;
  const std::string clusters_path = config::child(path, "clusters");
  if (!clusters.IsMap()) {
    throw ConfigError(clusters, clusters_path, "expected a map from cluster names to settings");
  }
  for (const auto& kv : clusters) {
    if (!kv.first.IsScalar() || kv.first.Scalar().empty()) {
      throw ConfigError(kv.first, clusters_path, "expected a cluster name as a key");
    }
    const std::string& name = kv.first.Scalar();
    const std::string p = config::child(clusters_path, name);
    if (out.clusters.contains(name)) {
      throw ConfigError(kv.first, p, "duplicate cluster \"" + name + "\"");
    }
    config::expectMap(kv.second, p,
                      {"consecutive_failures", "interval", "failure_ratio", "min_requests",
                       "cooldown", "half_open_max_requests", "success_threshold", "failure_status",
                       "max_concurrent_requests", "max_concurrent_retries"});
    BreakerSettings settings = out.defaults;
    applySettings(kv.second, p, settings);
    out.clusters.emplace(name, std::move(settings));
    out.cluster_refs.push_back({name, config::ConfigError(kv.first, p, "")});
  }
  return out;
}

}  // namespace switchyard::filters::circuit_breaker
