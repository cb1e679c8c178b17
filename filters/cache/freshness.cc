#include "filters/cache/freshness.h"

#include <algorithm>

#include "proxy/common/http_date.h"

namespace switchyard::filters::cache {
namespace {

using std::chrono::seconds;

std::string_view trimOws(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Whole seconds since the epoch: differences of these cannot overflow, whatever the dates.
seconds epochSeconds(common::SystemTime t) {
  return std::chrono::floor<seconds>(t.time_since_epoch());
}

seconds saturate(seconds s) { return std::clamp(s, seconds(0), MaxDeltaSeconds); }

// Status codes RFC 9110 section 15 defines, whose caching rules this cache follows; a response
// with must-understand and any other code is not stored (RFC 9111 5.2.2.3). 206 and 304 are
// refused before this matters.
bool isUnderstoodStatus(int status) {
  return (status >= 200 && status <= 206) || (status >= 300 && status <= 305) || status == 307 ||
         status == 308 || (status >= 400 && status <= 417) || status == 421 || status == 422 ||
         status == 426 || (status >= 500 && status <= 505);
}

// Must-revalidate and its kin: once stale, only a successful validation makes it usable.
bool forbidsStale(const ResponseCacheControl& response) {
  return response.must_revalidate || response.proxy_revalidate || response.s_maxage.has_value();
}

}  // namespace

Expires parseExpires(const http::HeaderMap& headers, common::SystemTime now) {
  Expires out;
  std::string_view first;
  for (const http::HeaderMap::Entry& entry : headers.entries()) {
    if (entry.name != "expires") continue;
    const std::string_view value = trimOws(entry.value);
    if (out.kind == Expires::Kind::Absent) {
      first = value;
      const std::optional<common::SystemTime> date = common::parseHttpDate(value, now);
      out.kind = date ? Expires::Kind::Date : Expires::Kind::Invalid;
      if (date) out.date = *date;
    } else if (value != first) {
      out.kind = Expires::Kind::Invalid;
    }
  }
  if (out.kind == Expires::Kind::Invalid) out.date = {};
  return out;
}

std::optional<common::SystemTime> parseDateField(const http::HeaderMap& headers,
                                                 std::string_view name, common::SystemTime now) {
  const std::string_view* value = headers.get(name);
  if (value == nullptr) return std::nullopt;
  return common::parseHttpDate(trimOws(*value), now);
}

std::optional<seconds> parseAge(const http::HeaderMap& headers) {
  for (const http::HeaderMap::Entry& entry : headers.entries()) {
    if (entry.name != "age") continue;
    // Age is a single value, but a hop that joined two lines leaves "5, 7".
    std::string_view rest = entry.value;
    while (true) {
      const size_t comma = rest.find(',');
      if (std::optional<seconds> age = parseDeltaSeconds(trimOws(rest.substr(0, comma)))) {
        return age;
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return std::nullopt;
}

bool isHeuristicallyCacheable(int status) {
  switch (status) {
    case 200:
    case 203:
    case 204:
    case 206:
    case 300:
    case 301:
    case 308:
    case 404:
    case 405:
    case 410:
    case 414:
    case 501:
      return true;
    default:
      return false;
  }
}

bool hasExplicitFreshness(const ResponseCacheControl& response, const Expires& expires) {
  return response.s_maxage || response.max_age || expires.kind != Expires::Kind::Absent;
}

Freshness freshnessLifetime(const ResponseCacheControl& response,
                            std::optional<common::SystemTime> date, const Expires& expires,
                            std::optional<common::SystemTime> last_modified, int status,
                            common::SystemTime response_time, const HeuristicPolicy& heuristic) {
  if (response.s_maxage) return {saturate(*response.s_maxage), FreshnessSource::SMaxAge};
  if (response.max_age) return {saturate(*response.max_age), FreshnessSource::MaxAge};
  const seconds date_s = epochSeconds(date.value_or(response_time));
  switch (expires.kind) {
    case Expires::Kind::Date:
      return {saturate(epochSeconds(expires.date) - date_s), FreshnessSource::Expires};
    case Expires::Kind::Invalid:
      return {seconds(0), FreshnessSource::Expires};
    case Expires::Kind::Absent:
      break;
  }
  if (!heuristic.enabled || !last_modified) return {};
  if (!isHeuristicallyCacheable(status) && !response.is_public) return {};
  const seconds since_modified = date_s - epochSeconds(*last_modified);
  if (since_modified <= seconds(0)) return {};
  return {std::min(since_modified / 10, saturate(heuristic.max)), FreshnessSource::Heuristic};
}

seconds correctedInitialAge(std::optional<seconds> age_value,
                            std::optional<common::SystemTime> date, common::SystemTime request_time,
                            common::SystemTime response_time) {
  const seconds response_s = epochSeconds(response_time);
  const seconds apparent_age =
      std::max(seconds(0), response_s - epochSeconds(date.value_or(response_time)));
  const seconds response_delay = std::max(seconds(0), response_s - epochSeconds(request_time));
  const seconds corrected_age_value = saturate(age_value.value_or(seconds(0))) + response_delay;
  return saturate(std::max(apparent_age, corrected_age_value));
}

seconds currentAge(seconds corrected_initial_age, common::SystemTime response_time,
                   common::SystemTime now) {
  const seconds resident_time =
      std::max(seconds(0), epochSeconds(now) - epochSeconds(response_time));
  return saturate(saturate(corrected_initial_age) + resident_time);
}

seconds currentAge(std::optional<seconds> age_value, std::optional<common::SystemTime> date,
                   common::SystemTime request_time, common::SystemTime response_time,
                   common::SystemTime now) {
  return currentAge(correctedInitialAge(age_value, date, request_time, response_time),
                    response_time, now);
}

std::string_view notStoreableName(NotStoreable why) {
  switch (why) {
    case NotStoreable::None:
      return "none";
    case NotStoreable::Method:
      return "method";
    case NotStoreable::NotFinal:
      return "not_final";
    case NotStoreable::PartialContent:
      return "partial_content";
    case NotStoreable::NotModified:
      return "not_modified";
    case NotStoreable::RequestNoStore:
      return "request_no_store";
    case NotStoreable::MustUnderstand:
      return "must_understand";
    case NotStoreable::ResponseNoStore:
      return "response_no_store";
    case NotStoreable::Private:
      return "private";
    case NotStoreable::Authorization:
      return "authorization";
    case NotStoreable::SetCookie:
      return "set_cookie";
    case NotStoreable::StatusNotCacheable:
      return "status_not_cacheable";
  }
  return "unknown";
}

StoreDecision isStoreable(std::string_view method, const RequestCacheControl& request, int status,
                          const ResponseCacheControl& response, const StoreFacts& facts) {
  StoreDecision d;
  d.reusable = !facts.vary_star;
  auto refuse = [&d](NotStoreable why) {
    d.why_not = why;
    return d;
  };
  if (method != "GET") return refuse(NotStoreable::Method);
  if (status < 200 || status > 599) return refuse(NotStoreable::NotFinal);
  if (status == 206) return refuse(NotStoreable::PartialContent);
  if (status == 304) return refuse(NotStoreable::NotModified);
  if (request.no_store) return refuse(NotStoreable::RequestNoStore);
  if (response.must_understand) {
    // Understood, must-understand overrides no-store: the origin sent no-store for caches that
    // do not know the status code's rules (RFC 9111 5.2.2.3).
    if (!isUnderstoodStatus(status)) return refuse(NotStoreable::MustUnderstand);
  } else if (response.no_store) {
    return refuse(NotStoreable::ResponseNoStore);
  }
  if (response.is_private) return refuse(NotStoreable::Private);
  if (facts.request_has_authorization && !response.is_public && !response.s_maxage &&
      !response.must_revalidate) {
    return refuse(NotStoreable::Authorization);
  }
  if (facts.response_has_set_cookie) return refuse(NotStoreable::SetCookie);
  if (!isHeuristicallyCacheable(status) && !response.is_public && !response.s_maxage &&
      !response.max_age && !facts.response_has_expires) {
    return refuse(NotStoreable::StatusNotCacheable);
  }
  return d;
}

std::string_view staleReasonName(StaleReason reason) {
  switch (reason) {
    case StaleReason::None:
      return "none";
    case StaleReason::MaxStale:
      return "max_stale";
    case StaleReason::StaleWhileRevalidate:
      return "stale_while_revalidate";
    case StaleReason::StaleIfError:
      return "stale_if_error";
  }
  return "unknown";
}

StaleReason canServeStale(const RequestCacheControl& request, const ResponseCacheControl& response,
                          seconds current_age, seconds freshness_lifetime, StaleContext context,
                          const StalePolicy& policy) {
  if (response.no_cache || request.no_cache) return StaleReason::None;
  // Both are bounded (by MaxDeltaSeconds in practice): no overflow.
  const seconds staleness = current_age - freshness_lifetime;
  const bool stale = staleness >= seconds(0);
  if (stale && forbidsStale(response)) return StaleReason::None;

  if (context == StaleContext::Request) {
    if (!stale) return StaleReason::None;  // decideReuse() serves it fresh or revalidates
    if (request.max_age && current_age > *request.max_age) return StaleReason::None;
    if (request.min_fresh && -staleness < *request.min_fresh) return StaleReason::None;
    if (request.max_stale && staleness <= *request.max_stale) return StaleReason::MaxStale;
    const seconds window = response.stale_while_revalidate.value_or(policy.stale_while_revalidate);
    if (staleness < window) return StaleReason::StaleWhileRevalidate;
    return StaleReason::None;
  }

  if (!stale) return StaleReason::StaleIfError;  // revalidated only because the request asked
  if (request.max_stale && staleness <= *request.max_stale) return StaleReason::MaxStale;
  const seconds window = std::max(response.stale_if_error.value_or(policy.stale_if_error),
                                  request.stale_if_error.value_or(seconds(0)));
  if (staleness < window) return StaleReason::StaleIfError;
  return StaleReason::None;
}

ReuseDecision decideReuse(const RequestCacheControl& request, const ResponseCacheControl& response,
                          seconds current_age, seconds freshness_lifetime,
                          const StalePolicy& policy) {
  ReuseDecision d;
  d.ttl = freshness_lifetime - current_age;
  auto revalidate = [&] {
    d.action = request.only_if_cached ? ReuseAction::GatewayTimeout : ReuseAction::Revalidate;
    return d;
  };
  if (response.no_cache || request.no_cache) return revalidate();
  if (d.ttl > seconds(0)) {
    const bool young_enough = !request.max_age || current_age <= *request.max_age;
    const bool fresh_enough = !request.min_fresh || d.ttl >= *request.min_fresh;
    if (young_enough && fresh_enough) {
      d.action = ReuseAction::ServeFresh;
      return d;
    }
    return revalidate();
  }
  d.stale_reason = canServeStale(request, response, current_age, freshness_lifetime,
                                 StaleContext::Request, policy);
  if (d.stale_reason == StaleReason::None) return revalidate();
  d.action = ReuseAction::ServeStale;
  return d;
}

}  // namespace switchyard::filters::cache
