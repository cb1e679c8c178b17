#include "filters/cache/config.h"

#include "config/config_error.h"
#include "config/yaml_util.h"
#include "proxy/common/duration.h"

namespace switchyard::filters::cache {
namespace {

using config::child;
using config::ConfigError;

constexpr milliseconds Day{24 * 3600 * 1000};

uint64_t bytesAtLeast(const YAML::Node& node, const std::string& path, uint64_t min) {
  const uint64_t v = config::getBytes(node, path);
  if (v < min) throw ConfigError(node, path, "must be at least " + std::to_string(min) + " bytes");
  return v;
}

// A window that may be 0 (off), at most a week.
milliseconds window(const YAML::Node& node, const std::string& path) {
  const milliseconds d = config::getDuration(node, path);
  if (d > 7 * Day) throw ConfigError(node, path, "must be at most 168h");
  return d;
}

}  // namespace

CacheConfig parseCacheConfig(const YAML::Node& node, const std::string& path) {
  config::expectMap(node, path,
                    {"max_bytes", "max_object_bytes", "max_variants", "redis",
                     "redis_max_object_bytes", "stale_if_error", "stale_while_revalidate",
                     "coalesce_timeout", "max_coalesced", "heuristic_max", "tag_header"});
  CacheConfig out;
  if (node.IsNull()) return out;
  if (const YAML::Node n = node["max_bytes"]) {
    out.max_bytes = bytesAtLeast(n, child(path, "max_bytes"), 64 << 10);
  }
  if (const YAML::Node n = node["max_object_bytes"]) {
    out.max_object_bytes = bytesAtLeast(n, child(path, "max_object_bytes"), 1);
  }
  if (out.max_object_bytes > out.max_bytes) {
    const YAML::Node at = node["max_object_bytes"] ? node["max_object_bytes"] : node["max_bytes"];
    throw ConfigError(at, child(path, node["max_object_bytes"] ? "max_object_bytes" : "max_bytes"),
                      "max_object_bytes (" + std::to_string(out.max_object_bytes) +
                          ") must not exceed max_bytes (" + std::to_string(out.max_bytes) + ")");
  }
  if (const YAML::Node n = node["max_variants"]) {
    out.max_variants =
        static_cast<uint32_t>(config::getInt(n, child(path, "max_variants"), 1, 1024));
  }
  if (const YAML::Node n = node["redis"]) {
    out.redis = config::getBool(n, child(path, "redis"));
    out.redis_at = ConfigError(n, child(path, "redis"), "");
  }
  if (const YAML::Node n = node["redis_max_object_bytes"]) {
    out.redis_max_object_bytes = bytesAtLeast(n, child(path, "redis_max_object_bytes"), 1);
    if (out.redis_max_object_bytes > (512ull << 20)) {
      throw ConfigError(n, child(path, "redis_max_object_bytes"),
                        "must be at most 512MiB (Redis's largest string)");
    }
  }
  if (const YAML::Node n = node["stale_if_error"]) {
    out.stale_if_error = window(n, child(path, "stale_if_error"));
  }
  if (const YAML::Node n = node["stale_while_revalidate"]) {
    out.stale_while_revalidate = window(n, child(path, "stale_while_revalidate"));
  }
  if (const YAML::Node n = node["coalesce_timeout"]) {
    out.coalesce_timeout =
        config::getPositiveDuration(n, child(path, "coalesce_timeout"), std::chrono::minutes(5));
  }
  if (const YAML::Node n = node["max_coalesced"]) {
    out.max_coalesced =
        static_cast<uint32_t>(config::getInt(n, child(path, "max_coalesced"), 0, 1'000'000));
  }
  if (const YAML::Node n = node["heuristic_max"]) {
    out.heuristic_max = window(n, child(path, "heuristic_max"));
  }
  if (const YAML::Node n = node["tag_header"]) {
    const std::string p = child(path, "tag_header");
    out.tag_header = config::getString(n, p).empty() ? "" : config::getHeaderName(n, p);
  }
  return out;
}

CacheRouteConfig parseCacheRouteConfig(const YAML::Node& node, const std::string& path,
                                       const CacheRouteConfig& base) {
  config::expectMap(node, path, {"enabled", "ttl"});
  CacheRouteConfig out = base;
  if (node.IsNull()) return out;
  if (const YAML::Node n = node["enabled"])
    out.enabled = config::getBool(n, child(path, "enabled"));
  if (const YAML::Node n = node["ttl"]) {
    out.ttl = config::getPositiveDuration(n, child(path, "ttl"), 365 * Day);
  }
  return out;
}

nlohmann::json toJson(const CacheConfig& c) {
  return {
      {"max_bytes", c.max_bytes},
      {"max_object_bytes", c.max_object_bytes},
      {"max_variants", c.max_variants},
      {"redis", c.redis},
      {"redis_max_object_bytes", c.redis_max_object_bytes},
      {"stale_if_error", common::formatDuration(c.stale_if_error)},
      {"stale_while_revalidate", common::formatDuration(c.stale_while_revalidate)},
      {"coalesce_timeout", common::formatDuration(c.coalesce_timeout)},
      {"max_coalesced", c.max_coalesced},
      {"heuristic_max", common::formatDuration(c.heuristic_max)},
      {"tag_header", c.tag_header},
  };
}

nlohmann::json toJson(const CacheRouteConfig& c) {
  nlohmann::json out = {{"enabled", c.enabled}};
  if (c.ttl) out["ttl"] = common::formatDuration(*c.ttl);
  return out;
}

}  // namespace switchyard::filters::cache
