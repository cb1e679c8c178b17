#include "proxy/common/socket_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <string_view>

namespace switchyard::common {

bool parseSocketAddress(const std::string& text, SocketAddress& out) {
  std::string_view view = text;
  std::string host;
  std::string_view port;
  bool bracketed = !view.empty() && view.front() == '[';
  if (bracketed) {
    size_t close = view.find(']');
    if (close == std::string_view::npos || close + 1 >= view.size() || view[close + 1] != ':') {
      return false;
    }
    host = std::string(view.substr(1, close - 1));
    port = view.substr(close + 2);
  } else {
    size_t colon = view.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = std::string(view.substr(0, colon));
    port = view.substr(colon + 1);
    if (host.find(':') != std::string::npos) return false;  // IPv6 needs brackets
  }
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value == 0 ||
      value > 65535) {
    return false;
  }
  unsigned char buf[16];
  if (!bracketed && host == "localhost") {
    host = "127.0.0.1";
  } else if (inet_pton(bracketed ? AF_INET6 : AF_INET, host.c_str(), buf) != 1) {
    return false;
  }
  out.host = std::move(host);
  out.port = static_cast<uint16_t>(value);
  out.text = text;
  return true;
}

}  // namespace switchyard::common
