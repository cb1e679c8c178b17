#include "filters/retry/config.h"

#include <algorithm>
#include <string_view>

#include "config/config_error.h"
#include "config/yaml_util.h"
#include "proxy/http/headers.h"

namespace switchyard::filters::retry {
namespace {

using config::ConfigError;

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A duration that must be above zero.
milliseconds positiveDuration(const YAML::Node& node, const std::string& path) {
  milliseconds d = config::getDuration(node, path);
  if (d.count() <= 0) throw ConfigError(node, path, "must be greater than 0s");
  return d;
}

void parseRetryOn(const YAML::Node& node, const std::string& path, RetryConfig& out) {
  config::expectSequence(node, path);
  out.retry_connect_failure = false;
  out.retry_reset = false;
  out.retry_timeout = false;
  out.retriable_status.reset();
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    const std::string p = config::child(path, i);
    const std::string text = config::getString(item, p);
    if (allDigits(text)) {
      const auto code = config::getInt(item, p, MinRetriableStatus, MaxRetriableStatus);
      out.retriable_status.set(static_cast<size_t>(code));
    } else if (text == "connect-failure") {
      out.retry_connect_failure = true;
    } else if (text == "reset") {
      out.retry_reset = true;
    } else if (text == "timeout") {
      out.retry_timeout = true;
    } else if (text == "5xx") {
      for (int code = 500; code <= 599; ++code) out.retriable_status.set(static_cast<size_t>(code));
    } else {
      throw ConfigError(item, p,
                        "unknown retry condition \"" + text +
                            "\" (expected connect-failure, reset, timeout, 5xx or a status code "
                            "400-599)");
    }
  }
}

void parseBudget(const YAML::Node& node, const std::string& path, RetryBudgetConfig& out) {
  config::expectMap(node, path, {"percent", "min_retries"});
  if (node.IsNull()) return;
  if (const YAML::Node n = node["percent"]) {
    out.percent = config::getDouble(n, config::child(path, "percent"), 0, 100);
  }
  if (const YAML::Node n = node["min_retries"]) {
    out.min_retries =
        static_cast<uint32_t>(config::getInt(n, config::child(path, "min_retries"), 0, 1'000'000));
  }
}

}  // namespace

RetryConfig::RetryConfig() {
  for (size_t code : {502, 503, 504}) retriable_status.set(code);
}

std::vector<std::string> RetryConfig::retryOnNames() const {
  std::vector<std::string> out;
  if (retry_connect_failure) out.emplace_back("connect-failure");
  if (retry_reset) out.emplace_back("reset");
  if (retry_timeout) out.emplace_back("timeout");
  bool all_5xx = true;
  for (int code = 500; code <= 599; ++code) all_5xx = all_5xx && retriableStatus(code);
  for (int code = MinRetriableStatus; code <= MaxRetriableStatus; ++code) {
    if (all_5xx && code == 500) out.emplace_back("5xx");
    if (all_5xx && code >= 500) continue;
    if (retriableStatus(code)) out.push_back(std::to_string(code));
  }
  return out;
}

RetryConfig parseRetryConfig(const YAML::Node& node, const std::string& path,
                             const RetryConfig& base, bool route_block) {
  RetryConfig out = base;
  if (!node.IsDefined() || node.IsNull()) return out;
  config::expectMap(node, path,
                    {"max_retries", "base_interval", "max_interval", "backoff_factor", "multiplier",
                     "per_try_timeout", "timeout", "retry_on", "idempotency_headers",
                     "max_replay_body_bytes", "budget", "honor_retry_after", "max_retry_after"});
  if (route_block && node["budget"]) {
    throw ConfigError(node["budget"], config::child(path, "budget"),
                      "the retry budget is per cluster: set it in the filter's own block "
                      "(filters: [retry: {budget: ...}])");
  }

  if (const YAML::Node n = node["max_retries"]) {
    out.max_retries =
        static_cast<uint32_t>(config::getInt(n, config::child(path, "max_retries"), 0, 100));
  }
  if (const YAML::Node n = node["base_interval"]) {
    out.base_interval = positiveDuration(n, config::child(path, "base_interval"));
  }
  if (const YAML::Node n = node["max_interval"]) {
    out.max_interval = positiveDuration(n, config::child(path, "max_interval"));
  }
  if (out.max_interval < out.base_interval) {
    // Blame the key the user wrote; when both are written, the cap is the one to raise.
    const bool cap_written = node["max_interval"].IsDefined();
    const std::string key = cap_written ? "max_interval" : "base_interval";
    throw ConfigError(node[key], config::child(path, key),
                      "max_interval must not be shorter than base_interval");
  }
  if (node["backoff_factor"] && node["multiplier"]) {
    throw ConfigError(node["multiplier"], config::child(path, "multiplier"),
                      "\"multiplier\" is another name for \"backoff_factor\": set only one");
  }
  for (const char* key : {"backoff_factor", "multiplier"}) {
    if (const YAML::Node n = node[key]) {
      out.backoff_factor = config::getDouble(n, config::child(path, key), 1, 100);
    }
  }
  if (const YAML::Node n = node["timeout"]) {
    out.timeout = positiveDuration(n, config::child(path, "timeout"));
  }
  if (const YAML::Node n = node["per_try_timeout"]) {
    const std::string p = config::child(path, "per_try_timeout");
    out.per_try_timeout = positiveDuration(n, p);
    if (*out.per_try_timeout > out.timeout) {
      throw ConfigError(n, p,
                        "per_try_timeout must not be longer than timeout (the whole request)");
    }
  }
  if (const YAML::Node n = node["retry_on"]) {
    parseRetryOn(n, config::child(path, "retry_on"), out);
  }
  if (const YAML::Node n = node["idempotency_headers"]) {
    const std::string p = config::child(path, "idempotency_headers");
    config::expectSequence(n, p);
    out.idempotency_headers.clear();
    for (size_t i = 0; i < n.size(); ++i) {
      std::string name = config::getHeaderName(n[i], config::child(p, i));
      if (std::find(out.idempotency_headers.begin(), out.idempotency_headers.end(), name) ==
          out.idempotency_headers.end()) {
        out.idempotency_headers.push_back(std::move(name));
      }
    }
  }
  if (const YAML::Node n = node["max_replay_body_bytes"]) {
    const std::string p = config::child(path, "max_replay_body_bytes");
    out.max_replay_body_bytes = config::getBytes(n, p);
    // Every retried request holds its body this long: keep one request from pinning a lot.
    if (out.max_replay_body_bytes > 16 * 1024 * 1024) {
      throw ConfigError(n, p, "must be at most 16MiB");
    }
  }
  if (const YAML::Node n = node["budget"]) {
    parseBudget(n, config::child(path, "budget"), out.budget);
  }
  if (const YAML::Node n = node["honor_retry_after"]) {
    out.honor_retry_after = config::getBool(n, config::child(path, "honor_retry_after"));
  }
  if (const YAML::Node n = node["max_retry_after"]) {
    out.max_retry_after = positiveDuration(n, config::child(path, "max_retry_after"));
  }
  return out;
}

}  // namespace switchyard::filters::retry
