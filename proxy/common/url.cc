#include "proxy/common/url.h"

#include "proxy/common/strings.h"

namespace switchyard::common {

bool splitHttpUrl(std::string_view text, UrlParts& out) {
  out = UrlParts{};
  std::string_view rest;
  if (startsWithIgnoreCase(text, "https://")) {
    out.https = true;
    rest = text.substr(8);
  } else if (startsWithIgnoreCase(text, "http://")) {
    rest = text.substr(7);
  } else {
    return false;
  }
  const size_t end = rest.find_first_of("/?#");
  out.authority = rest.substr(0, end);
  if (end == std::string_view::npos) return true;
  rest.remove_prefix(end);
  const size_t hash = rest.find('#');
  out.target = rest.substr(0, hash);
  if (hash != std::string_view::npos) {
    out.has_fragment = true;
    out.fragment = rest.substr(hash + 1);
  }
  return true;
}

}  // namespace switchyard::common
