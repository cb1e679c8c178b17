#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace switchyard::tracing {

// Where spans are POSTed: a plain-HTTP OTLP collector on a numeric address.
struct CollectorEndpoint {
  std::string host;  // numeric IPv4 or IPv6 literal (no brackets); "localhost" becomes 127.0.0.1
  uint16_t port = 80;
  std::string path = "/v1/traces";  // request target, query included
  std::string url;                  // as written, for logs and the config dump
};

// "http://<host>[:<port>][<path>]" with host an IPv4 literal, "[IPv6]" or "localhost" (no name
// lookup: the exporter must never wait on DNS). A missing path means "/v1/traces", the OTLP/HTTP
// default. No user info, no fragment, no https (send through a local collector for TLS).
// Returns false with a message in `error`.
bool parseCollectorUrl(std::string_view url, CollectorEndpoint& out, std::string& error);

// The top-level `tracing:` block, built once at load.
struct TracingConfig {
  // False when the block is absent or says `enabled: false`: no spans are made or exported, but
  // trace headers are still forwarded untouched.
  bool enabled = false;
  CollectorEndpoint collector;
  double sampling_ratio = 1.0;  // for traces that start here; callers' decisions are followed
  std::string service_name = "switchyard";
  uint32_t max_queue_spans = 2048;  // finished spans waiting for export; more are dropped
  uint32_t max_batch_spans = 512;   // spans per POST
  std::chrono::milliseconds flush_interval{1000};  // longest a span waits for a full batch
  std::chrono::milliseconds export_timeout{2000};  // one export: connect, send, response head

  // The effective configuration for the admin /config dump.
  nlohmann::json toJson() const;
};

// Parses the `tracing:` node found at `path` (normally "tracing"). An undefined node (no
// `tracing:` key) gives the defaults with tracing disabled; a present block enables tracing
// unless it says `enabled: false`, and then `collector` is required. Keys: enabled, collector,
// sampling_ratio (0..1), service_name (non-empty), max_queue_spans (1..1000000),
// max_batch_spans (1..max_queue_spans), flush_interval (above 0), export_timeout (above 0, at
// most 1m). Throws config::ConfigError at the offending node with the key path.
TracingConfig parseTracingConfig(const YAML::Node& node, const std::string& path);

}  // namespace switchyard::tracing
