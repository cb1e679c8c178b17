#pragma once

// Turning an upstream response into a stored entry, shared by the filter (a response passing
// through) and the background refresh (filters/cache/refresh.h): whether a shared cache may store
// it, its freshness and age bookkeeping, the fields kept, its tags and its variant.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/cache/cache_control.h"
#include "filters/cache/freshness.h"
#include "filters/cache/key.h"
#include "filters/cache/memory_store.h"
#include "proxy/common/time.h"
#include "proxy/http/headers.h"

namespace switchyard::filters::cache {

// What decides about a response besides the response itself.
struct EntryContext {
  EntryContext(const http::HeaderMap& headers, const RequestCacheControl& cc)
      : request_headers(headers), request_cc(cc) {}
  // The request it answers (a GET), as sent upstream.
  const http::HeaderMap& request_headers;
  const RequestCacheControl& request_cc;
  bool request_has_authorization = false;
  common::SystemTime request_time{};  // when the request was sent
  common::SystemTime now{};           // when the response came
  common::MonotonicTime monotonic_now{};
  // The filter's settings.
  uint64_t max_object_bytes = 0;
  std::string_view tag_header;  // lower case, "" for none
  StalePolicy stale_defaults;
  HeuristicPolicy heuristic;
  std::optional<std::chrono::milliseconds> route_ttl;
};

// A new entry (without its body) for `response`, or null when a shared cache may not store it
// or it would serve nothing (no freshness and no stale window). `secondary` gets its variant's
// secondary key.
std::shared_ptr<CachedResponse> makeEntry(const http::ResponseHeaders& response,
                                          const EntryContext& ctx, std::string& secondary);

// The response a 304 makes of a stored one (RFC 9111 section 4.3.4): the 304's fields replace
// the stored ones of the same name, framing aside; the tags stay unless the 304 lists others.
// Its content_length is the stored body's.
http::ResponseHeadersPtr mergeNotModified(const CachedResponse& stored,
                                          const http::ResponseHeaders& not_modified,
                                          std::string_view tag_header);

// The tags of a response's tag header: a space- or comma-separated list, sorted, unique.
std::vector<std::string> tagsOf(const http::HeaderMap& headers, std::string_view name);

}  // namespace switchyard::filters::cache
