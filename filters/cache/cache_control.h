#pragma once

// Cache-Control (RFC 9111 section 5.2) as a shared cache reads it, for requests and for
// responses. Pure functions of the header values.
//
// Syntax: every Cache-Control field line of the message, in order, as one comma-separated list;
// empty members are skipped; a directive is `token [ "=" ( token / quoted-string ) ]` with a
// case-insensitive name; blanks around members and around "=" are tolerated. A member whose
// name is not a token, and any directive this cache does not know, is ignored (RFC 9111 5.2.3).
//
// Durations (delta-seconds, RFC 9111 1.2.2) are non-negative decimal integers, as a token or a
// quoted string ("60" is 60); values beyond 2^31 seconds saturate there. Anything else ("abc",
// "-1", "1.5", "", no "=" at all) makes the directive invalid. What an invalid directive means
// depends on it, always in the direction RFC 9111 4.2.1 recommends (honour the most restrictive
// reading):
//   - response max-age / s-maxage: 0, the response is stale from the start (RFC 9111 4.2.1);
//   - request max-age: 0 (the client wants a response that was just validated);
//   - every other duration (max-stale=N, min-fresh, stale-while-revalidate, stale-if-error):
//     ignored, as if absent, so no staleness is allowed on its account.
// A directive given twice with the same value is that value. Given twice with different values
// (two lines from two hops, say "max-age=60" and "max-age=3600"), it is invalid, with the
// meaning above: RFC 9111 4.2.1 allows "the first occurrence" or "stale", and stale is the one
// that cannot serve content longer than one of its senders allowed.
// Directives that take no argument count whatever argument they come with ("no-store=1" is
// no-store). A field-name list on no-cache or private ("no-cache=\"set-cookie\"") counts as the
// unqualified directive: this cache does not store responses minus some fields.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "proxy/http/headers.h"

namespace switchyard::filters::cache {

// 2^31 seconds, where delta-seconds saturate (RFC 9111 1.2.2).
inline constexpr std::chrono::seconds MaxDeltaSeconds{int64_t{1} << 31};
// A request's max-stale without a value: any staleness is acceptable.
inline constexpr std::chrono::seconds AnyStaleness = std::chrono::seconds::max();

struct ResponseCacheControl {
  std::optional<std::chrono::seconds> max_age;
  std::optional<std::chrono::seconds> s_maxage;
  bool no_store = false;
  bool no_cache = false;    // with or without field names
  bool is_private = false;  // with or without field names
  bool is_public = false;
  bool must_revalidate = false;
  bool proxy_revalidate = false;
  bool must_understand = false;
  bool no_transform = false;
  bool immutable = false;
  std::optional<std::chrono::seconds> stale_while_revalidate;  // RFC 5861
  std::optional<std::chrono::seconds> stale_if_error;          // RFC 5861
};

struct RequestCacheControl {
  std::optional<std::chrono::seconds> max_age;
  // AnyStaleness for a bare "max-stale".
  std::optional<std::chrono::seconds> max_stale;
  std::optional<std::chrono::seconds> min_fresh;
  // Also set by "Pragma: no-cache" when the request has no Cache-Control field (RFC 9111 5.4).
  bool no_cache = false;
  bool no_store = false;
  bool only_if_cached = false;
  std::optional<std::chrono::seconds> stale_if_error;  // RFC 5861
};

// delta-seconds: one or more ASCII digits, saturating at MaxDeltaSeconds; nullopt otherwise
// (no sign, no blanks, no fraction). Also the syntax of Age.
std::optional<std::chrono::seconds> parseDeltaSeconds(std::string_view text);

// From all `cache-control` lines of a response head.
ResponseCacheControl parseResponseCacheControl(const http::HeaderMap& headers);
// One combined field value, as if it were the only line.
ResponseCacheControl parseResponseCacheControl(std::string_view value);

// From all `cache-control` lines of a request head, and its `pragma` lines when there is no
// Cache-Control line at all.
RequestCacheControl parseRequestCacheControl(const http::HeaderMap& headers);
// One combined Cache-Control value, as if it were the only line (Pragma plays no part).
RequestCacheControl parseRequestCacheControl(std::string_view value);

}  // namespace switchyard::filters::cache
