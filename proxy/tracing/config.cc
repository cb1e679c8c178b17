#include "proxy/tracing/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

#include "config/config_error.h"
#include "config/yaml_util.h"
#include "proxy/common/duration.h"

namespace switchyard::tracing {
namespace {

using config::ConfigError;
using std::chrono::milliseconds;

using common::formatDuration;

}  // namespace

bool parseCollectorUrl(std::string_view url, CollectorEndpoint& out, std::string& error) {
  constexpr std::string_view Scheme = "http://";
  if (url.substr(0, 8) == "https://") {
    error = "https is not supported; export over http to a local collector";
    return false;
  }
  if (url.substr(0, Scheme.size()) != Scheme) {
    error = "expected a URL starting with \"http://\", got \"" + std::string(url) + "\"";
    return false;
  }
  std::string_view rest = url.substr(Scheme.size());
  if (rest.find('#') != std::string_view::npos) {
    error = "a collector URL cannot have a fragment ('#')";
    return false;
  }
  const size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  const std::string_view target =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    error = "a collector URL cannot carry user information ('@')";
    return false;
  }
  CollectorEndpoint endpoint;
  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated '[' in the collector address";
      return false;
    }
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') {
      error = "expected ':' and a port after ']' in the collector address";
      return false;
    }
    has_port = !after.empty();
    if (has_port) port = after.substr(1);
    unsigned char buf[16];
    if (inet_pton(AF_INET6, std::string(host).c_str(), buf) != 1) {
      error = "\"" + std::string(host) + "\" is not an IPv6 address";
      return false;
    }
  } else {
    const size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    has_port = colon != std::string_view::npos;
    if (has_port) port = authority.substr(colon + 1);
    unsigned char buf[4];
    if (host != "localhost" && inet_pton(AF_INET, std::string(host).c_str(), buf) != 1) {
      error =
          "the collector host must be an IP address or localhost (no name is looked up), "
          "got \"" +
          std::string(host) + "\"";
      return false;
    }
  }
  endpoint.host = host == "localhost" ? "127.0.0.1" : std::string(host);
  if (has_port) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value == 0 ||
        value > 65535) {
      error = "the collector port must be 1 to 65535, got \"" + std::string(port) + "\"";
      return false;
    }
    endpoint.port = static_cast<uint16_t>(value);
  }
  if (!target.empty()) {
    endpoint.path =
        target.front() == '?' ? "/v1/traces" + std::string(target) : std::string(target);
  }
  for (char c : endpoint.path) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      error = "the collector path cannot contain spaces or control characters";
      return false;
    }
  }
  endpoint.url = std::string(url);
  out = std::move(endpoint);
  return true;
}

nlohmann::json TracingConfig::toJson() const {
  return {
      {"enabled", enabled},
      {"collector", collector.url},
      {"sampling_ratio", sampling_ratio},
      {"service_name", service_name},
      {"max_queue_spans", max_queue_spans},
      {"max_batch_spans", max_batch_spans},
      {"flush_interval", formatDuration(flush_interval)},
      {"export_timeout", formatDuration(export_timeout)},
  };
}

TracingConfig parseTracingConfig(const YAML::Node& node, const std::string& path) {
  TracingConfig out;
  if (!node.IsDefined()) return out;
  config::expectMap(node, path,
                    {"enabled", "collector", "sampling_ratio", "service_name", "max_queue_spans",
                     "max_batch_spans", "flush_interval", "export_timeout"});
  out.enabled = true;
  if (const YAML::Node n = node["enabled"]) {
    out.enabled = config::getBool(n, config::child(path, "enabled"));
  }
  if (const YAML::Node n = node["collector"]) {
    const std::string p = config::child(path, "collector");
    std::string error;
    if (!parseCollectorUrl(config::getString(n, p), out.collector, error)) {
      throw ConfigError(n, p, error);
    }
  } else if (out.enabled) {
    throw ConfigError(node, config::child(path, "collector"),
                      "required when tracing is enabled (e.g. http://127.0.0.1:4318/v1/traces)");
  }
  if (const YAML::Node n = node["sampling_ratio"]) {
    out.sampling_ratio = config::getDouble(n, config::child(path, "sampling_ratio"), 0.0, 1.0);
  }
  if (const YAML::Node n = node["service_name"]) {
    const std::string p = config::child(path, "service_name");
    out.service_name = config::getString(n, p);
    if (out.service_name.empty()) throw ConfigError(n, p, "must not be empty");
  }
  if (const YAML::Node n = node["max_queue_spans"]) {
    out.max_queue_spans = static_cast<uint32_t>(
        config::getInt(n, config::child(path, "max_queue_spans"), 1, 1000000));
  }
  if (const YAML::Node n = node["max_batch_spans"]) {
    const std::string p = config::child(path, "max_batch_spans");
    out.max_batch_spans = static_cast<uint32_t>(config::getInt(n, p, 1, 1000000));
    if (out.max_batch_spans > out.max_queue_spans) {
      throw ConfigError(
          n, p, "must not exceed max_queue_spans (" + std::to_string(out.max_queue_spans) + ")");
    }
  } else {
    // The default batch never exceeds a small queue: a batch that can never fill would only go
    // out on the flush interval.
    out.max_batch_spans = std::min(out.max_batch_spans, out.max_queue_spans);
  }
  if (const YAML::Node n = node["flush_interval"]) {
    out.flush_interval = config::getPositiveDuration(n, config::child(path, "flush_interval"),
                                                     std::chrono::hours(1));
  }
  if (const YAML::Node n = node["export_timeout"]) {
    out.export_timeout = config::getPositiveDuration(n, config::child(path, "export_timeout"),
                                                     std::chrono::minutes(1));
  }
  return out;
}

}  // namespace switchyard::tracing
