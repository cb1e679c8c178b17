#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "proxy/common/socket_address.h"

namespace switchyard::redis {

using std::chrono::milliseconds;

// The top-level `redis:` block: the one Redis every worker talks to (one connection each).
// Built once at load; a reload that changes it is refused (the connections are made at start).
struct RedisConfig {
  // Numeric IPv4 or [IPv6] literal, or localhost: hiredis resolves names with a blocking
  // getaddrinfo, which must never run on a worker's loop.
  common::SocketAddress address;
  milliseconds timeout{20};            // per command, from issue to reply
  milliseconds connect_timeout{1000};  // TCP connect plus AUTH/SELECT/SCRIPT LOAD
  std::string username;                // ACL user (AUTH <username> <password>); needs a password
  std::string password;                // secret; empty: no AUTH
  uint32_t database = 0;               // SELECT when not 0
  // After this many failures in a row (timeouts, lost connections, failed connects) the client
  // answers Unavailable without the network for `cooldown`; 0 never cools down.
  uint32_t failures_before_cooldown = 3;
  milliseconds cooldown{1000};
  // Reconnect delays: base * 2^attempt, capped at max, with jitter (see reconnectDelay()).
  milliseconds reconnect_base{100};
  milliseconds reconnect_max{5000};

  // The effective configuration for the admin /config dump; the password is "<redacted>".
  nlohmann::json toJson() const;
};

// Parses the `redis:` node found at `path` (normally "redis"). Keys: address (required),
// timeout, connect_timeout, username, password, database, failures_before_cooldown, cooldown,
// reconnect {base, max}. Throws config::ConfigError at the offending node with the key path.
RedisConfig parseRedisConfig(const YAML::Node& node, const std::string& path);

}  // namespace switchyard::redis
