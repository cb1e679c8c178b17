#pragma once

#include <cstdint>
#include <string>

namespace switchyard::common {

// A numeric socket address as configured: listeners, endpoints, the admin listener, webhooks.
struct SocketAddress {
  std::string host;  // numeric IPv4 or IPv6 literal (no brackets)
  uint16_t port = 0;
  std::string text;  // as written, e.g. "127.0.0.1:8080" or "[::1]:8080"
  bool operator==(const SocketAddress&) const = default;
};

// "127.0.0.1:8080", "[::1]:8080", "localhost:8080" (resolved to 127.0.0.1 only for the literal
// name localhost). Returns false on anything else.
bool parseSocketAddress(const std::string& text, SocketAddress& out);

}  // namespace switchyard::common
