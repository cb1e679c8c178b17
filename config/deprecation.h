#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/time.h"

namespace switchyard::config {

// A scheduled brownout: between `start` (inclusive) and `end` (exclusive) requests to the
// deprecated route or version are refused with `status`, carrying the deprecation headers.
struct BrownoutWindow {
  common::SystemTime start;
  common::SystemTime end;
  int status = 503;
};

// The `deprecated:` block of a route or of one version of a route.
//
//   deprecated:
//     since: 2025-01-01T00:00:00Z          # required; Deprecation: @<unix-seconds>
//     sunset: 2025-06-01T00:00:00Z         # optional, not before `since`; Sunset: <IMF-fixdate>
//     link: https://example.com/migrate    # optional; Link: <...>; rel="deprecation"
//     sunset_link: https://example.com/sunset   # optional; Link: <...>; rel="sunset"
//     brownouts: [{start: ..., end: ..., status: 503}]   # optional, each end after its start
//     enforce_sunset: true                 # optional; 410 Gone once the sunset has passed
//     sunset_status: 410                   # optional, 400..599; the status enforce_sunset uses
struct DeprecationPolicy {
  common::SystemTime since;
  std::optional<common::SystemTime> sunset;
  std::string link;
  std::string sunset_link;
  std::vector<BrownoutWindow> brownouts;
  bool enforce_sunset = false;
  int sunset_status = 410;
};

// Parses a `deprecated:` node found at `path`; throws ConfigError (with the node's position and
// key path) for unknown keys, unparseable or inconsistent dates, bad URLs or statuses.
DeprecationPolicy parseDeprecationPolicy(const YAML::Node& node, const std::string& path);

// The policy as JSON for the admin /config dump (dates as RFC 3339 UTC strings).
nlohmann::json deprecationPolicyToJson(const DeprecationPolicy& policy);

}  // namespace switchyard::config
