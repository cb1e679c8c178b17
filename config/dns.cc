#include "config/dns.h"

#include <arpa/inet.h>

#include "config/config_error.h"
#include "config/yaml_util.h"
#include "proxy/common/duration.h"

namespace switchyard::upstream {
namespace {

using common::formatDuration;
using config::child;
using config::ConfigError;

constexpr uint16_t DnsPort = 53;

// "10.0.0.53:5353", "[fd00::53]:53", or an address alone ("10.0.0.53", "fd00::53"), which
// means port 53.
bool parseResolverAddress(const std::string& text, common::SocketAddress& out) {
  if (common::parseSocketAddress(text, out)) return true;
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) {
    out = {text, DnsPort, text + ":" + std::to_string(DnsPort)};
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    out = {text, DnsPort, "[" + text + "]:" + std::to_string(DnsPort)};
    return true;
  }
  return false;
}

}  // namespace

nlohmann::json DnsConfig::toJson() const {
  nlohmann::json servers = nlohmann::json::array();
  for (const common::SocketAddress& r : resolvers) servers.push_back(r.text);
  return {
      {"resolvers", servers},
      {"refresh", formatDuration(refresh)},
      {"min_refresh", formatDuration(min_refresh)},
      {"timeout", formatDuration(timeout)},
      {"attempts", attempts},
      {"retry", {{"base", formatDuration(retry_base)}, {"max", formatDuration(retry_max)}}},
  };
}

DnsConfig parseDnsConfig(const YAML::Node& node, const std::string& path) {
  config::expectMap(node, path,
                    {"resolvers", "refresh", "min_refresh", "timeout", "attempts", "retry"});
  DnsConfig out;
  if (const YAML::Node list = node["resolvers"]) {
    const std::string p = child(path, "resolvers");
    config::expectSequence(list, p);
    if (list.size() == 0) {
      throw ConfigError(list, p,
                        "must not be empty (leave resolvers out to use those of "
                        "/etc/resolv.conf)");
    }
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node n = list[i];
      const std::string ip = child(p, i);
      const std::string text = config::getString(n, ip);
      common::SocketAddress address;
      if (!parseResolverAddress(text, address)) {
        throw ConfigError(n, ip,
                          "expected a numeric IP address with an optional port, e.g. "
                          "127.0.0.1:5353, 10.0.0.53 or [::1]:53, got \"" +
                              text + "\"");
      }
      for (const common::SocketAddress& seen : out.resolvers) {
        if (seen.host == address.host && seen.port == address.port) {
          throw ConfigError(n, ip, "\"" + text + "\" is listed twice");
        }
      }
      out.resolvers.push_back(std::move(address));
    }
  }
  if (const YAML::Node n = node["refresh"]) {
    out.refresh = config::getPositiveDuration(n, child(path, "refresh"), std::chrono::hours(24));
  }
  if (const YAML::Node n = node["min_refresh"]) {
    const std::string p = child(path, "min_refresh");
    out.min_refresh = config::getPositiveDuration(n, p, std::chrono::hours(24));
    if (out.min_refresh > out.refresh) {
      throw ConfigError(n, p, "must not be above refresh (" + formatDuration(out.refresh) + ")");
    }
  } else {
    out.min_refresh = std::min(out.min_refresh, out.refresh);
  }
  if (const YAML::Node n = node["timeout"]) {
    out.timeout = config::getPositiveDuration(n, child(path, "timeout"), std::chrono::minutes(1));
  }
  if (const YAML::Node n = node["attempts"]) {
    out.attempts = static_cast<uint32_t>(config::getInt(n, child(path, "attempts"), 1, 5));
  }
  if (const YAML::Node n = node["retry"]) {
    const std::string p = child(path, "retry");
    config::expectMap(n, p, {"base", "max"});
    if (const YAML::Node b = n["base"]) {
      out.retry_base = config::getPositiveDuration(b, child(p, "base"), std::chrono::hours(1));
    }
    if (const YAML::Node m = n["max"]) {
      out.retry_max = config::getPositiveDuration(m, child(p, "max"), std::chrono::hours(24));
      if (out.retry_max < out.retry_base) {
        throw ConfigError(m, child(p, "max"),
                          "must not be below retry.base (" + formatDuration(out.retry_base) + ")");
      }
    } else {
      out.retry_max = std::max(out.retry_max, out.retry_base);
    }
  }
  return out;
}

}  // namespace switchyard::upstream
