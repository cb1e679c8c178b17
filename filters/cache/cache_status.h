#pragma once

// The Cache-Status field (RFC 9211) the cache adds to every response it handled: one list member
// named "Switchyard" with what happened, after the members of caches upstream of it.
//
//   Cache-Status: Switchyard; hit; ttl=41
//   Cache-Status: Switchyard; fwd=uri-miss; stored
//   Cache-Status: Switchyard; fwd=miss; collapsed
//   Cache-Status: Switchyard; fwd=stale; fwd-status=503; ttl=-12

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace switchyard::filters::cache {

// Why the request went forward (RFC 9211 section 2.2).
enum class Forward : uint8_t {
  None,      // a hit: it did not
  Bypass,    // the cache was configured not to handle it (route off, method, ...)
  Method,    // the method is not cacheable
  UriMiss,   // nothing stored for the URI
  VaryMiss,  // stored, but no variant matches the request's headers
  Miss,      // the key was known but its response was not usable (e.g. a waiter that gave up)
  Request,   // the request asked (no-cache, max-age=0, ...)
  Stale,     // a stored response was stale and had to be validated
};

struct CacheStatus {
  bool hit = false;
  Forward fwd = Forward::None;
  std::optional<int> fwd_status;  // the status the next hop answered
  std::optional<int64_t> ttl;     // freshness left in seconds; negative when stale
  bool stored = false;            // the forwarded response was stored
  bool collapsed = false;         // the request waited for another one's response
  std::string_view detail;        // a token, e.g. "stale-if-error"; empty for none
};

// "Switchyard; hit; ttl=41" (parameters in RFC 9211's order).
std::string formatCacheStatus(const CacheStatus& status);

// The same, written into `buf` (no allocation: every response the cache handles has one). A
// detail longer than 32 bytes is cut.
inline constexpr size_t CacheStatusMaxBytes = 160;
std::string_view formatCacheStatus(const CacheStatus& status, char (&buf)[CacheStatusMaxBytes]);

// The value to send: `upstream` (the Cache-Status lines the response already carries, joined,
// or "") followed by ours.
std::string appendCacheStatus(std::string_view upstream, const CacheStatus& status);
// The same, written over `out` (whose capacity a caller may keep from one call to the next).
void appendCacheStatus(std::string& out, std::string_view upstream, const CacheStatus& status);

}  // namespace switchyard::filters::cache
