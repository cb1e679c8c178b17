#include "filters/cache/entry.h"

#include <algorithm>

namespace switchyard::filters::cache {
namespace {

using std::chrono::seconds;

// Fields a stored response never keeps: the connection's (RFC 9110 7.6.1), the framing (the
// body is stored whole), Age (recomputed on every hit) and Set-Cookie (never stored at all).
bool dropWhenStoring(std::string_view name) {
  static constexpr std::string_view Dropped[] = {
      "connection", "keep-alive",        "proxy-connection",  "te",
      "trailer",    "transfer-encoding", "upgrade",           "content-length",
      "age",        "set-cookie",        "proxy-authenticate"};
  return std::find(std::begin(Dropped), std::end(Dropped), name) != std::end(Dropped);
}

}  // namespace

std::vector<std::string> tagsOf(const http::HeaderMap& headers, std::string_view name) {
  std::vector<std::string> out;
  if (name.empty()) return out;
  for (const http::HeaderMap::Entry& e : headers.entries()) {
    if (e.name != name) continue;
    std::string_view rest = e.value;
    while (!rest.empty()) {
      const size_t end = rest.find_first_of(" \t,");
      const std::string_view tag = rest.substr(0, end);
      if (!tag.empty()) out.emplace_back(tag);
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::shared_ptr<CachedResponse> makeEntry(const http::ResponseHeaders& response,
                                          const EntryContext& ctx, std::string& secondary) {
  if (ctx.request_cc.no_store) return nullptr;
  if (response.content_length > static_cast<int64_t>(ctx.max_object_bytes)) return nullptr;
  const ResponseCacheControl cc = parseResponseCacheControl(response.headers);
  StoreFacts facts;
  facts.response_has_expires = response.headers.get("expires") != nullptr;
  const seconds swr = cc.stale_while_revalidate.value_or(ctx.stale_defaults.stale_while_revalidate);
  const seconds sie = cc.stale_if_error.value_or(ctx.stale_defaults.stale_if_error);
  // Before anything else is looked at (this is every forwarded response): a response with no
  // source of freshness (no max-age, s-maxage or Expires, no heuristic, no route ttl) and no
  // stale window would serve nothing.
  if (!cc.s_maxage && !cc.max_age && !facts.response_has_expires && !ctx.route_ttl &&
      !ctx.heuristic.enabled && swr <= seconds(0) && sie <= seconds(0)) {
    return nullptr;
  }
  const VaryNames vary = parseVary(response.headers);
  facts.request_has_authorization = ctx.request_has_authorization;
  facts.response_has_set_cookie = response.headers.get("set-cookie") != nullptr;
  facts.vary_star = vary.star;
  const StoreDecision decision = isStoreable("GET", ctx.request_cc, response.status, cc, facts);
  if (!decision.storeable() || !decision.reusable) return nullptr;

  const common::SystemTime now = ctx.now;
  const std::optional<common::SystemTime> date = parseDateField(response.headers, "date", now);
  const std::optional<common::SystemTime> last_modified =
      parseDateField(response.headers, "last-modified", now);
  Freshness freshness = freshnessLifetime(cc, date, parseExpires(response.headers, now),
                                          last_modified, response.status, now, ctx.heuristic);
  if (ctx.route_ttl && (freshness.source == FreshnessSource::None ||
                        freshness.source == FreshnessSource::Heuristic)) {
    freshness.lifetime = std::chrono::duration_cast<seconds>(*ctx.route_ttl);
  }
  // Nothing to serve it for: no freshness, no stale window.
  if (freshness.lifetime <= seconds(0) && swr <= seconds(0) && sie <= seconds(0)) return nullptr;

  auto entry = std::make_shared<CachedResponse>();
  entry->status = response.status;
  for (const http::HeaderMap::Entry& e : response.headers.entries()) {
    if (dropWhenStoring(e.name) || e.name == ctx.tag_header) continue;
    entry->headers.emplace_back(std::string(e.name), std::string(e.value));
  }
  entry->request_time = ctx.request_time;
  entry->response_time = now;
  entry->stored_at = ctx.monotonic_now;
  entry->initial_age = correctedInitialAge(parseAge(response.headers), date, ctx.request_time, now);
  entry->cache_control = cc;
  entry->freshness_lifetime = freshness.lifetime;
  entry->stale_while_revalidate = swr;
  entry->stale_if_error = sie;
  if (const std::string_view* etag = response.headers.get("etag")) entry->etag = *etag;
  if (const std::string_view* lm = response.headers.get("last-modified")) {
    entry->last_modified = *lm;
  }
  entry->tags = tagsOf(response.headers, ctx.tag_header);
  entry->vary_names = vary.names;
  secondary = secondaryKey(vary, ctx.request_headers);
  entry->secondary_key = secondary;
  return entry;
}

http::ResponseHeadersPtr mergeNotModified(const CachedResponse& stored,
                                          const http::ResponseHeaders& not_modified,
                                          std::string_view tag_header) {
  auto merged = http::makeResponseHeaders();
  merged->status = stored.status;
  for (const auto& [name, value] : stored.headers) {
    if (not_modified.headers.get(name) == nullptr) merged->headers.add(name, value);
  }
  for (const http::HeaderMap::Entry& e : not_modified.headers.entries()) {
    if (e.name == "content-length" || e.name == "transfer-encoding") continue;
    merged->headers.add(e.name, e.value);
  }
  if (!tag_header.empty() && not_modified.headers.get(tag_header) == nullptr) {
    for (const std::string& tag : stored.tags) merged->headers.add(tag_header, tag);
  }
  merged->content_length = static_cast<int64_t>(stored.body.size());
  return merged;
}

}  // namespace switchyard::filters::cache
