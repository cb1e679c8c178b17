#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <vector>

namespace switchyard::filters::deprecation {

// The `deprecation` filter's own settings, built once at load and shared read-only by every
// worker. Which routes and versions are deprecated, and when, is not here: that is the
// `deprecated:` block of a route or version (config::DeprecationPolicy), which the router puts
// in StreamInfo::deprecation.
struct DeprecationFilterConfig {
  // Request header naming the client, for the `client` metric label (lower-case).
  std::string client_header = "x-client-id";
  // Allow-list of client labels; empty means "the first max_clients distinct values".
  std::vector<std::string> clients;
  uint32_t max_clients = 50;
  // Also send X-API-Deprecation / X-API-Sunset, which older clients read.
  bool legacy_headers = true;
  // Honour the policies' brownout windows and enforce_sunset; off, the filter only adds headers
  // and counts.
  bool enforce = true;
};

// Parses the filter's YAML node (`deprecation: {...}`); a null or empty node gives the defaults.
// Keys: client_header, clients (list of 1..64 characters of [A-Za-z0-9._:-], not "other" or
// "unknown"), max_clients (0..10000, not together with clients), legacy_headers, enforce. Throws
// config::ConfigError located at the offending node, with `path` extended by the key.
DeprecationFilterConfig parseDeprecationFilterConfig(const YAML::Node& node,
                                                     const std::string& path);

}  // namespace switchyard::filters::deprecation
