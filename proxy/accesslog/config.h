#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace switchyard::accesslog {

// The top-level `access_log:` block, built once at load.
struct AccessLogConfig {
  bool enabled = false;              // true when the block is present
  std::string path;                  // file appended to; "-" is standard output
  uint32_t max_queue_lines = 10000;  // lines waiting for the writer thread; more are dropped

  bool toStdout() const { return path == "-"; }
  // The effective configuration for the admin /config dump.
  nlohmann::json toJson() const;
};

// Parses the `access_log:` node found at `path` (normally "access_log"). An undefined node (no
// `access_log:` key) gives a disabled log. Keys: path (required, non-empty; "-" for standard
// output), max_queue_lines (1..10000000). Throws config::ConfigError at the offending node with
// the key path.
AccessLogConfig parseAccessLogConfig(const YAML::Node& node, const std::string& path);

}  // namespace switchyard::accesslog
