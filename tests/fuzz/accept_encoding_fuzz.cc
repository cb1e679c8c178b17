// libFuzzer target for the Accept-Encoding parser and the choice of a coding (and the media-type
// matching the compression filter does on Content-Type). The first byte picks the server's offer;
// the rest, cut at '\n', are the field lines of one request. The choice must be one of the
// codings offered, and one the client did not refuse.
// Built and run by scripts/fuzz.sh.

#include <array>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "filters/compression/accept_encoding.h"
#include "filters/compression/content_types.h"

using namespace switchyard;
using filters::compression::Coding;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::array<std::array<Coding, 2>, 2> orders = {
      {{Coding::Brotli, Coding::Gzip}, {Coding::Gzip, Coding::Brotli}}};
  const auto& order = orders[data[0] & 1];
  const std::span<const Coding> offered(order.data(), (data[0] & 2) ? 1 : 2);
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);

  http::HeaderMap headers;
  while (true) {
    const size_t nl = rest.find('\n');
    headers.add("accept-encoding", rest.substr(0, nl));
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  const filters::compression::AcceptedCodings accepted =
      filters::compression::parseAcceptEncoding(headers);
  const std::optional<Coding> chosen = filters::compression::chooseCoding(accepted, offered);
  if (chosen) {
    bool found = false;
    for (Coding c : offered) found |= c == *chosen;
    const int16_t named = *chosen == Coding::Brotli ? accepted.brotli : accepted.gzip;
    if (!found || named == 0 || (named < 0 && accepted.star <= 0)) abort();
  }

  static const filters::compression::ContentTypes types(
      {"application/json", "text/*", "image/svg+xml", "*/*"});
  (void)types.matches(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
