#pragma once

// The cache filter's configuration, built once at load and shared read-only by every worker.
//
//   filters:
//     - cache:
//         max_bytes: 256MiB            # memory tier, LRU by bytes (headers + body + overhead)
//         max_object_bytes: 2MiB       # larger responses stream through uncached
//         max_variants: 16             # Vary variants kept per key
//         redis: true                  # a shared tier behind the memory tier (needs redis:)
//         redis_max_object_bytes: 512KiB
//         stale_if_error: 0s           # defaults when the response says nothing (RFC 5861)
//         stale_while_revalidate: 0s
//         coalesce_timeout: 5s
//         max_coalesced: 1000          # waiters per key; more go upstream
//         heuristic_max: 24h           # cap of heuristic freshness (RFC 9111 4.2.2)
//         tag_header: Surrogate-Key    # response header listing purge tags; removed downstream
//   routes:
//     - name: api
//       filters: {cache: {ttl: 30s}}   # a TTL for responses without freshness
//     - name: admin
//       filters: {cache: {enabled: false}}

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "config/config_error.h"

namespace switchyard::filters::cache {

using std::chrono::milliseconds;

struct CacheConfig {
  uint64_t max_bytes = 256ull << 20;
  uint64_t max_object_bytes = 2ull << 20;
  uint32_t max_variants = 16;
  bool redis = false;
  uint64_t redis_max_object_bytes = 512ull << 10;
  milliseconds stale_if_error{0};
  milliseconds stale_while_revalidate{0};
  milliseconds coalesce_timeout{5000};
  uint32_t max_coalesced = 1000;
  milliseconds heuristic_max{24 * 3600 * 1000};
  std::string tag_header = "surrogate-key";  // lower case; "" when none
  // Where `redis: true` was written, for the check against the whole file (empty message).
  config::ConfigError redis_at{"", ""};
};

// A route's (or version's) block: over the filter's settings for its requests.
struct CacheRouteConfig {
  bool enabled = true;
  // Freshness for responses that state none (no max-age, s-maxage or Expires), instead of
  // heuristic freshness; explicit freshness in the response always wins.
  std::optional<milliseconds> ttl;
};

// Parses the filter's block at `path` ("filters[N].cache"); throws config::ConfigError at the
// offending node. max_object_bytes must not exceed max_bytes.
CacheConfig parseCacheConfig(const YAML::Node& node, const std::string& path);
// Parses a route block over `base` (the filter's defaults, or the route's block for a version).
CacheRouteConfig parseCacheRouteConfig(const YAML::Node& node, const std::string& path,
                                       const CacheRouteConfig& base);

nlohmann::json toJson(const CacheConfig& config);
nlohmann::json toJson(const CacheRouteConfig& config);

}  // namespace switchyard::filters::cache
