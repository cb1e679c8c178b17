#pragma once

// Absolute http:// and https:// URLs, split into their parts. Callers add their own rules: a Link
// target may name any host, a webhook must be plain HTTP to a numeric address.

#include <string_view>

namespace switchyard::common {

struct UrlParts {
  bool https = false;
  std::string_view authority;  // between "//" and the first of "/?#": [userinfo@]host[:port]
  std::string_view target;     // path and query as written (may be empty or start with '?')
  bool has_fragment = false;
  std::string_view fragment;  // after '#'
};

// Splits `text` if it starts with "http://" or "https://" (in any case); false otherwise. Checks
// nothing else: an empty authority, odd characters or a bad port are the caller's to reject.
bool splitHttpUrl(std::string_view text, UrlParts& out);

}  // namespace switchyard::common
