#include "proxy/redis/config.h"

#include <limits>

#include "config/config_error.h"
#include "config/yaml_util.h"
#include "proxy/common/duration.h"

namespace switchyard::redis {
namespace {

using common::formatDuration;
using config::ConfigError;

}  // namespace

nlohmann::json RedisConfig::toJson() const {
  nlohmann::json out = {
      {"address", address.text},
      {"timeout", formatDuration(timeout)},
      {"connect_timeout", formatDuration(connect_timeout)},
      {"database", database},
      {"failures_before_cooldown", failures_before_cooldown},
      {"cooldown", formatDuration(cooldown)},
      {"reconnect",
       {{"base", formatDuration(reconnect_base)}, {"max", formatDuration(reconnect_max)}}},
  };
  if (!username.empty()) out["username"] = username;
  if (!password.empty()) out["password"] = "<redacted>";
  return out;
}

RedisConfig parseRedisConfig(const YAML::Node& node, const std::string& path) {
  using config::child;
  config::expectMap(node, path,
                    {"address", "timeout", "connect_timeout", "username", "password", "database",
                     "failures_before_cooldown", "cooldown", "reconnect"});
  RedisConfig out;
  if (const YAML::Node n = node["address"]) {
    const std::string p = child(path, "address");
    const std::string text = config::getString(n, p);
    if (!common::parseSocketAddress(text, out.address)) {
      throw ConfigError(n, p,
                        "expected host:port with a numeric IP address or localhost (no name is "
                        "looked up), e.g. 127.0.0.1:6379 or [::1]:6379, got \"" +
                            text + "\"");
    }
  } else {
    throw ConfigError(node, child(path, "address"), "required (e.g. 127.0.0.1:6379)");
  }
  if (const YAML::Node n = node["timeout"]) {
    out.timeout = config::getPositiveDuration(n, child(path, "timeout"), std::chrono::minutes(1));
  }
  if (const YAML::Node n = node["connect_timeout"]) {
    out.connect_timeout =
        config::getPositiveDuration(n, child(path, "connect_timeout"), std::chrono::minutes(1));
  }
  if (const YAML::Node n = node["username"]) {
    out.username = config::getString(n, child(path, "username"));
  }
  if (const YAML::Node n = node["password"]) {
    out.password = config::getString(n, child(path, "password"));
  }
  if (!out.username.empty() && out.password.empty()) {
    throw ConfigError(node["username"], child(path, "username"), "needs a password");
  }
  if (const YAML::Node n = node["database"]) {
    out.database = static_cast<uint32_t>(
        config::getInt(n, child(path, "database"), 0, std::numeric_limits<int32_t>::max()));
  }
  if (const YAML::Node n = node["failures_before_cooldown"]) {
    out.failures_before_cooldown =
        static_cast<uint32_t>(config::getInt(n, child(path, "failures_before_cooldown"), 0, 1000));
  }
  if (const YAML::Node n = node["cooldown"]) {
    out.cooldown = config::getPositiveDuration(n, child(path, "cooldown"), std::chrono::hours(1));
  }
  if (const YAML::Node n = node["reconnect"]) {
    const std::string p = child(path, "reconnect");
    config::expectMap(n, p, {"base", "max"});
    if (const YAML::Node b = n["base"]) {
      out.reconnect_base =
          config::getPositiveDuration(b, child(p, "base"), std::chrono::minutes(1));
    }
    if (const YAML::Node m = n["max"]) {
      out.reconnect_max = config::getPositiveDuration(m, child(p, "max"), std::chrono::hours(1));
      if (out.reconnect_max < out.reconnect_base) {
        throw ConfigError(
            m, child(p, "max"),
            "must not be below reconnect.base (" + formatDuration(out.reconnect_base) + ")");
      }
    } else {
      out.reconnect_max = std::max(out.reconnect_max, out.reconnect_base);
    }
  }
  return out;
}

}  // namespace switchyard::redis
