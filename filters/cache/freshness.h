#pragma once

// The expiration model of a shared cache (RFC 9111 sections 3 and 4.2, RFC 5861), as pure
// functions: whether a response may be stored, how long it stays fresh, how old a stored one is,
// and whether a stored one may answer a request. Nothing here reads a clock: every time is passed
// in. Durations are whole seconds, as the fields they come from.
//
// A caller stores, with each entry, the request and response times, the parsed directives, Date,
// Expires, Last-Modified and Age of the response; on a lookup it computes
//   lifetime = freshnessLifetime(...), age = currentAge(...)
// and asks decideReuse(); when the upstream fails while an entry exists it asks canServeStale()
// with StaleContext::UpstreamError.

#include <chrono>
#include <optional>
#include <string_view>

#include "filters/cache/cache_control.h"
#include "proxy/common/time.h"
#include "proxy/http/headers.h"

namespace switchyard::filters::cache {

// ---- the response's date fields ----

// Expires (RFC 9111 section 5.3) as freshness reads it. An invalid value ("0", "-1", garbage)
// means a time in the past: the response is stale from the start.
struct Expires {
  enum class Kind { Absent, Date, Invalid };
  Kind kind = Kind::Absent;
  common::SystemTime date{};  // with Kind::Date
};
// All `expires` lines: one HTTP-date (or the same text on every line) is a Date; two different
// values are Invalid (RFC 9111 4.2.1 lets a cache consider such a response stale). `now` places
// an rfc850-date's two-digit year.
Expires parseExpires(const http::HeaderMap& headers, common::SystemTime now);
// The first `name` line (Date, Last-Modified) as an HTTP-date; nullopt when absent or invalid.
std::optional<common::SystemTime> parseDateField(const http::HeaderMap& headers,
                                                 std::string_view name, common::SystemTime now);
// Age (RFC 9111 5.1): the first member of its lines that is valid delta-seconds (saturating at
// 2^31); invalid members ("-1", "1.5", "abc") are skipped. nullopt when there is none.
std::optional<std::chrono::seconds> parseAge(const http::HeaderMap& headers);

// ---- freshness lifetime (RFC 9111 4.2.1, 4.2.2) ----

// Heuristically cacheable status codes (RFC 9110 section 15.1): 200, 203, 204, 206, 300, 301,
// 308, 404, 405, 410, 414 and 501.
bool isHeuristicallyCacheable(int status);

// Whether a response carries explicit freshness a shared cache reads: s-maxage, max-age or
// Expires (even an invalid one).
bool hasExplicitFreshness(const ResponseCacheControl& response, const Expires& expires);

// Heuristic freshness: 10% of the time between Last-Modified and Date, at most `max`.
struct HeuristicPolicy {
  bool enabled = true;
  std::chrono::seconds max{std::chrono::hours(24)};
};

enum class FreshnessSource { SMaxAge, MaxAge, Expires, Heuristic, None };

struct Freshness {
  std::chrono::seconds lifetime{0};  // 0..MaxDeltaSeconds
  FreshnessSource source = FreshnessSource::None;
};

// The first that applies: s-maxage; max-age; Expires - Date (an invalid Expires: 0); with no
// explicit freshness, a status that is heuristically cacheable or a `public` response (RFC 9111
// 4.2.2), heuristic freshness from a Last-Modified earlier than Date; otherwise none (0). A
// missing Date is `response_time`, the time the response arrived (RFC 9110 6.6.1).
Freshness freshnessLifetime(const ResponseCacheControl& response,
                            std::optional<common::SystemTime> date, const Expires& expires,
                            std::optional<common::SystemTime> last_modified, int status,
                            common::SystemTime response_time, const HeuristicPolicy& heuristic);

// ---- age (RFC 9111 4.2.3) ----
//
// Each time is first cut to its second (Date and Age carry whole seconds). Negative
// differences, from a clock stepped back or a Date ahead of ours, count as zero. The result
// saturates at MaxDeltaSeconds, which is also what an Age field must say when a cache cannot
// count further (RFC 9111 5.1).

// corrected_initial_age = max(apparent_age, age_value + response_delay), where
// apparent_age = max(0, response_time - date_value) and response_delay = response_time -
// request_time. A missing or invalid Date counts as `response_time`; a missing Age as 0.
std::chrono::seconds correctedInitialAge(std::optional<std::chrono::seconds> age_value,
                                         std::optional<common::SystemTime> date,
                                         common::SystemTime request_time,
                                         common::SystemTime response_time);
// corrected_initial_age + resident_time, where resident_time = now - response_time.
std::chrono::seconds currentAge(std::chrono::seconds corrected_initial_age,
                                common::SystemTime response_time, common::SystemTime now);
// Both steps at once.
std::chrono::seconds currentAge(std::optional<std::chrono::seconds> age_value,
                                std::optional<common::SystemTime> date,
                                common::SystemTime request_time, common::SystemTime response_time,
                                common::SystemTime now);

// ---- storing (RFC 9111 3, 3.5) ----

// Why a response is not stored, checked in this order (the first that applies is reported).
enum class NotStoreable {
  None,                // it may be stored
  Method,              // not GET (a HEAD is answered from a stored GET by the caller)
  NotFinal,            // 1xx, or not a status code at all
  PartialContent,      // 206: partial content is never stored
  NotModified,         // 304: it updates a stored response, it is not one
  RequestNoStore,      // the request said no-store
  MustUnderstand,      // must-understand with a status code this cache does not know
  ResponseNoStore,     // no-store (without an understood must-understand)
  Private,             // private, with or without field names
  Authorization,       // the request had Authorization, without public, s-maxage or
                       // must-revalidate on the response
  SetCookie,           // the response sets a cookie (our policy: it is somebody's session)
  StatusNotCacheable,  // neither heuristically cacheable nor explicit freshness nor public
};
// Lower-case, underscored: "request_no_store", ... ("none" for None).
std::string_view notStoreableName(NotStoreable why);

// The parts of the exchange, beside the directives, that storing depends on.
struct StoreFacts {
  bool request_has_authorization = false;
  bool response_has_set_cookie = false;
  bool response_has_expires = false;  // an Expires line, valid or not
  bool vary_star = false;             // Vary: * (see parseVary() in key.h)
};

struct StoreDecision {
  NotStoreable why_not = NotStoreable::None;
  // False for Vary: *: such a response may be stored but never answers a later request (RFC 9111
  // 4.1), so storing it buys nothing but a marker that the URL is not worth waiting for.
  bool reusable = true;
  bool storeable() const { return why_not == NotStoreable::None; }
};

StoreDecision isStoreable(std::string_view method, const RequestCacheControl& request, int status,
                          const ResponseCacheControl& response, const StoreFacts& facts);

// ---- reuse (RFC 9111 4.2.4, 5.2.1; RFC 5861) ----

// Staleness windows for responses that name none; a response's own stale-while-revalidate or
// stale-if-error replaces them (including "=0"). Zero: no window.
struct StalePolicy {
  std::chrono::seconds stale_while_revalidate{0};
  std::chrono::seconds stale_if_error{0};
};

enum class StaleContext {
  Request,        // answering a request from the store instead of asking upstream first
  UpstreamError,  // the upstream failed: an error, a 500/502/503/504, a timeout, an open breaker
};

enum class StaleReason {
  None,                  // the stored response must not be served
  MaxStale,              // the request's max-stale covers the staleness
  StaleWhileRevalidate,  // within the window: serve, and revalidate in the background
  StaleIfError,          // within the window after an upstream failure (or not stale yet)
};
// "none", "max_stale", "stale_while_revalidate", "stale_if_error".
std::string_view staleReasonName(StaleReason reason);

// Whether a stored response whose freshness has run out may be served anyway, and on what
// grounds. Staleness is current_age - freshness_lifetime.
//
// Never when the response has must-revalidate, proxy-revalidate or s-maxage (which implies
// proxy-revalidate for a shared cache), nor when the response or the request has no-cache: both
// ask for nothing stored without a successful validation. Otherwise:
//   - StaleContext::Request: the request's max-age and min-fresh hold (the client stated what it
//     accepts); then max-stale (staleness <= N, or any with a bare max-stale); then the
//     stale-while-revalidate window (staleness < N).
//   - StaleContext::UpstreamError: the request's max-age and min-fresh no longer apply (a reload
//     sends max-age=0, and the origin could not answer it); max-stale as above; then the wider
//     of the response's (or configured) and the request's stale-if-error windows (staleness <
//     N). An entry still fresh (it was being revalidated only because the request asked) is
//     within any window, and must-revalidate and its kin do not concern it.
StaleReason canServeStale(const RequestCacheControl& request, const ResponseCacheControl& response,
                          std::chrono::seconds current_age, std::chrono::seconds freshness_lifetime,
                          StaleContext context, const StalePolicy& policy);

enum class ReuseAction {
  ServeFresh,      // answer from the store
  ServeStale,      // answer from the store, stale (see stale_reason)
  Revalidate,      // ask upstream first, conditionally when the entry has validators
  GatewayTimeout,  // only-if-cached and the entry cannot be used: answer 504
};

struct ReuseDecision {
  ReuseAction action = ReuseAction::Revalidate;
  // With ServeStale: MaxStale, or StaleWhileRevalidate (then start a background revalidation).
  StaleReason stale_reason = StaleReason::None;
  // freshness_lifetime - current_age: what Cache-Status reports as ttl (negative when stale).
  std::chrono::seconds ttl{0};
};

// What to do with a stored response for a request. Fresh (lifetime > age) and within the
// request's max-age and min-fresh: serve it. No-cache on either side: revalidate, however fresh.
// Stale: whatever canServeStale(StaleContext::Request) allows, else revalidate. A request with
// only-if-cached gets GatewayTimeout instead of Revalidate (RFC 9111 5.2.1.7); a miss with
// only-if-cached is the caller's 504.
ReuseDecision decideReuse(const RequestCacheControl& request, const ResponseCacheControl& response,
                          std::chrono::seconds current_age, std::chrono::seconds freshness_lifetime,
                          const StalePolicy& policy);

}  // namespace switchyard::filters::cache
