#pragma once

// The response headers of a deprecated route or version. Pure functions of their arguments: no
// clock, no locale, no TZ. Dates are UTC, rounded down to the second.

#include <string>
#include <string_view>
#include <vector>

#include "config/deprecation.h"
#include "proxy/common/time.h"
#include "proxy/http/headers.h"

namespace switchyard::filters::deprecation {

// RFC 9745 `Deprecation` value, an sf-date (RFC 9651 §3.3.7): "@1688169599".
std::string formatSfDate(common::SystemTime t);
// RFC 9110 §5.6.7 IMF-fixdate, for `Sunset` (RFC 8594): "Sun, 30 Jun 2024 23:59:59 GMT". Always
// the literal "GMT", never "UTC".
std::string formatImfFixdate(common::SystemTime t);
// The calendar date "2024-06-30", for the legacy `X-API-Sunset`.
std::string formatDate(common::SystemTime t);
// RFC 8288 link-value: `<https://example.com/x>; rel="deprecation"`.
std::string formatLink(std::string_view url, std::string_view rel);

// Every header value one policy produces. The policy is immutable, so these are formatted once
// and reused for every response.
struct PolicyHeaders {
  std::string deprecation;         // "@<unix-seconds>"
  std::string sunset;              // IMF-fixdate; empty without a sunset
  std::string legacy_sunset;       // "YYYY-MM-DD"; empty without a sunset
  std::vector<std::string> links;  // rel="deprecation" first, then rel="sunset", when configured
};
PolicyHeaders formatPolicyHeaders(const config::DeprecationPolicy& policy);

// Writes the headers into `headers` (names lower-case, as HeaderMap stores them): `deprecation`
// and `sunset`, and with `legacy` `x-api-deprecation: true` and `x-api-sunset`, replace any value
// already there (each is a single-valued field, and the proxy's policy is the one that holds);
// each link is added as its own `link` entry, keeping any Link the upstream sent.
void applyPolicyHeaders(const PolicyHeaders& policy, bool legacy, http::HeaderMap& headers);

}  // namespace switchyard::filters::deprecation
