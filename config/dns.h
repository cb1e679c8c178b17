#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "proxy/common/socket_address.h"

namespace switchyard::upstream {

using std::chrono::milliseconds;

// The top-level `dns:` block: how endpoints given as DNS names are looked up and kept fresh.
// Built once at load.
//
//   dns:
//     resolvers: ["127.0.0.1:5353", "[::1]:53"]   # default: the servers of /etc/resolv.conf
//     refresh: 30s          # an answer is used at most this long (less when its TTL says so)
//     min_refresh: 1s       # and at least this long, whatever its TTL
//     timeout: 5s           # one lookup, both families and every attempt included
//     attempts: 3           # tries per resolver within that time
//     retry: {base: 1s, max: 30s}   # after a failed lookup: base, 2*base, ... up to max
struct DnsConfig {
  // Numeric addresses, each with a port (53 when written without one). Empty: the servers,
  // search domains and ndots of /etc/resolv.conf. When set, names are looked up as written
  // (no search domains).
  std::vector<common::SocketAddress> resolvers;
  milliseconds refresh{30000};
  milliseconds min_refresh{1000};
  milliseconds timeout{5000};
  uint32_t attempts = 3;
  milliseconds retry_base{1000};
  milliseconds retry_max{30000};

  // The effective configuration, for the admin /config dump.
  nlohmann::json toJson() const;
};

// Parses the `dns:` node found at `path` (normally "dns"); every key is optional. Throws
// config::ConfigError at the offending node with the key path.
DnsConfig parseDnsConfig(const YAML::Node& node, const std::string& path);

}  // namespace switchyard::upstream
