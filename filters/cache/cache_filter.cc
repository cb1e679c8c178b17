#include "filters/cache/cache_filter.h"

#include <prometheus/registry.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <future>
#include <optional>

#include "config/config.h"
#include "config/config_error.h"
#include "config/yaml_util.h"
#include "filters/cache/entry.h"
#include "proxy/common/http_date.h"
#include "proxy/common/logging.h"
#include "proxy/http/filter_manager.h"
#include "proxy/upstream/runtime_state.h"

namespace switchyard::filters::cache {
namespace {

using std::chrono::seconds;

// What an entry is charged beyond its body, at most: headers, keys and bookkeeping.
constexpr uint64_t StoreAllowanceBytes = 64 << 10;

// Fields a 304 carries from the stored 200 (RFC 9110 section 15.4.5).
bool keptOn304(std::string_view name) {
  static constexpr std::string_view Kept[] = {"cache-control", "content-location", "date",
                                              "etag",          "expires",          "vary"};
  return std::find(std::begin(Kept), std::end(Kept), name) != std::end(Kept);
}

const ResponseCacheControl& storedCacheControl(const CachedResponse& entry) {
  return entry.cache_control;
}

// A weak comparison of an entity-tag list (If-None-Match) with a stored ETag.
bool etagListMatches(std::string_view list, std::string_view etag) {
  const auto opaque = [](std::string_view t) {
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (t.starts_with("W/")) t.remove_prefix(2);
    return t;
  };
  if (etag.empty()) return false;
  const std::string_view mine = opaque(etag);
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view item = opaque(list.substr(0, comma));
    if (item == "*" || item == mine) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

bool unsafeMethod(std::string_view m) {
  return m == "POST" || m == "PUT" || m == "DELETE" || m == "PATCH";
}

// The Cache-Status value, formatted in a buffer of the thread's (the header map copies it).
// Our Cache-Status member after those of `upstream` (the response's own lines, joined, or "").
void putCacheStatus(http::HeaderMap& headers, std::string_view upstream, const CacheStatus& status,
                    bool replace) {
  if (upstream.empty()) {
    char buf[CacheStatusMaxBytes];
    headers.add("cache-status", formatCacheStatus(status, buf));
    return;
  }
  const std::string value = appendCacheStatus(upstream, status);
  if (replace) {
    headers.set("cache-status", value);
  } else {
    headers.add("cache-status", value);
  }
}

// The access-log field and span attribute "cache": the lookup's result.
class ResultLog final : public http::FilterState::Object {
 public:
  explicit constexpr ResultLog(std::string_view result) : result_(result) {}
  std::optional<common::FieldValue> logValue() const override { return std::string(result_); }
  std::string_view result() const { return result_; }

 private:
  std::string_view result_;
};
inline constexpr http::FilterState::Key<ResultLog> ResultKey{"cache"};
const ResultLog ResultLogs[CacheWorkerState::ResultCount] = {
    ResultLog(CacheWorkerState::name(CacheWorkerState::Hit)),
    ResultLog(CacheWorkerState::name(CacheWorkerState::Miss)),
    ResultLog(CacheWorkerState::name(CacheWorkerState::Stale)),
    ResultLog(CacheWorkerState::name(CacheWorkerState::Revalidated)),
    ResultLog(CacheWorkerState::name(CacheWorkerState::Coalesced)),
    ResultLog(CacheWorkerState::name(CacheWorkerState::Bypass)),
};

// The body of a stored response, without a copy: the buffer holds a reference to the entry until
// the bytes have been written (the entry may be evicted meanwhile).
void addStoredBody(http::Buffer& body, const std::shared_ptr<const CachedResponse>& stored) {
  if (stored->body.empty()) return;
  // A small body costs less to copy than to reference.
  if (stored->body.size() <= 2048) {
    body.add(stored->body);
    return;
  }
  auto* owner = new std::shared_ptr<const CachedResponse>(stored);
  body.addReference((*owner)->body.data(), (*owner)->body.size(),
                    [](const void*, size_t, void* arg) {
                      delete static_cast<std::shared_ptr<const CachedResponse>*>(arg);
                    },
                    owner);
}

// The request-target of a Location or Content-Location of the request's own origin: a path
// ("/items/2"), or an absolute URI whose authority is `host` (case-insensitive).
bool equalNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<std::string_view> sameOriginTarget(std::string_view uri, std::string_view host) {
  if (uri.starts_with("/") && !uri.starts_with("//")) return uri;
  // Schemes and hosts are case-insensitive (RFC 3986 sections 3.1 and 3.2.2).
  for (const std::string_view scheme : {"http://", "https://"}) {
    if (!equalNoCase(uri.substr(0, scheme.size()), scheme)) continue;
    const std::string_view rest = uri.substr(scheme.size());
    const size_t slash = rest.find('/');
    if (!equalNoCase(rest.substr(0, slash), host)) return std::nullopt;
    return slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  }
  return std::nullopt;
}

// The store, kept by the server's registry across reloads that keep its sizes.
struct StoreState final : upstream::RuntimeState {
  explicit StoreState(const MemoryStoreOptions& options)
      : store(std::make_shared<MemoryStore>(options)),
        reported_evictions(new std::atomic<uint64_t>[2] {}) {}
  std::shared_ptr<MemoryStore> store;
  // The store's evictions (capacity, variants) already added to the process's counters.
  std::shared_ptr<std::atomic<uint64_t>[]> reported_evictions;
};

// The requests in flight per key, kept across every reload.
struct CoalescerState final : upstream::RuntimeState {
  std::shared_ptr<Coalescer> coalescer = std::make_shared<Coalescer>();
};

}  // namespace

// --- the filter -------------------------------------------------------------------------------

std::string_view CacheWorkerState::name(Result result) {
  static constexpr std::string_view Names[ResultCount] = {"hit",         "miss",      "stale",
                                                          "revalidated", "coalesced", "bypass"};
  return Names[result];
}

// This process's name in the purge log: its own purges are not applied twice.
const std::string& processOrigin() {
  static const std::string origin = [] {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx",
                  static_cast<unsigned long long>(common::RealRandom().next()));
    return std::string(buf);
  }();
  return origin;
}

CacheWorkerState::~CacheWorkerState() {
  // A poll in flight must not call back into this object.
  poll_request_.cancel();
}

void CacheWorkerState::enableRedis(redis::Client& client, std::shared_ptr<MemoryStore> store,
                                   std::shared_ptr<CacheMetrics> metrics,
                                   std::shared_ptr<std::atomic<uint64_t>[]> reported_evictions) {
  store_ = std::move(store);
  metrics_ = std::move(metrics);
  reported_evictions_ = std::move(reported_evictions);
  if (tier_ != nullptr) return;
  tier_ = std::make_unique<RedisTier>(client, time_);
  if (worker_index_ != 0) return;
  poll_timer_ = dispatcher_.createTimer([this] {
    pollPurges();
    poll_timer_->enable(std::chrono::seconds(1));
  });
  poll_timer_->enable(std::chrono::milliseconds(1));
}

void CacheWorkerState::countRedis(const char* op, const char* result) {
  if (metrics_ != nullptr) countRedisOperation(*metrics_, op, result);
}

void CacheWorkerState::pollPurges() {
  if (poll_request_) return;  // the last read is still out
  auto done = [this](PurgeLogResult r) {
    poll_request_ = redis::Request();
    countRedis("purge_log", r.ok() ? "ok" : "error");
    if (!r.ok()) return;
    const bool first = last_purge_id_.empty();
    last_purge_id_ = r.last_id;
    if (first) return;  // history is not replayed
    for (const PurgeRecord& p : r.records) {
      if (p.origin == processOrigin()) continue;
      size_t n = 0;
      switch (p.kind) {
        case PurgeKind::Key:
          n = store_->purgeTarget(keyPath(p.value), p.value, p.mode);
          break;
        case PurgeKind::Prefix:
          n = store_->purgePrefix(p.value, p.mode);
          break;
        case PurgeKind::Tag:
          n = store_->purgeTag(p.value, p.mode);
          break;
      }
      metrics_->purges.Add({{"mode", std::string(purgeModeName(p.mode))}})
          .Increment(static_cast<double>(n));
      SY_LOG(Info, "cache: purge %s=%s (%s) from another replica: %zu entries",
             std::string(purgeKindName(p.kind)).c_str(), p.value.c_str(),
             std::string(purgeModeName(p.mode)).c_str(), n);
    }
    publishStoreStats(*store_, *metrics_, reported_evictions_.get());
  };
  poll_request_ = last_purge_id_.empty() ? tier_->latestPurgeId(std::move(done))
                                         : tier_->readPurges(last_purge_id_, std::move(done));
}

prometheus::Counter& CacheWorkerState::lookups(const std::string& route, Result result) {
  // Consecutive requests are mostly for one route: its counters without a hash.
  if (last_ != nullptr && route == last_route_) return *(*last_)[result];
  auto [it, added] = lookups_.try_emplace(route);
  if (added) {
    for (int r = 0; r < ResultCount; ++r) {
      it->second[r] =
          &family_.Add({{"route", route}, {"result", std::string(name(static_cast<Result>(r)))}});
    }
  }
  last_route_ = route;
  last_ = &it->second;  // map nodes do not move
  return *it->second[result];
}

CacheFilter::CacheFilter(const CacheFilterFactory& factory, const common::TimeSource& time,
                         CacheWorkerState* state)
    : factory_(factory), state_(state), time_(time) {}

void CacheFilter::count(CacheWorkerState::Result result) {
  if (coalesced_ && result == CacheWorkerState::Hit) result = CacheWorkerState::Coalesced;
  http::StreamInfo& info = callbacks_->streamInfo();
  info.filter_state.setConstant(ResultKey, ResultLogs[result]);
  if (state_ != nullptr) {
    state_->lookups(info.route_name, result).Increment();
  } else {
    factory_.metrics()
        .lookups
        .Add({{"route", info.route_name}, {"result", std::string(CacheWorkerState::name(result))}})
        .Increment();
  }
}

seconds CacheFilter::currentAge(const CachedResponse& entry) const {
  const auto resident = std::chrono::floor<seconds>(time_.monotonicNow() - entry.stored_at);
  return entry.initial_age + std::max(resident, seconds(0));
}

http::FilterHeadersStatus CacheFilter::decodeHeaders(http::RequestHeaders& request,
                                                     bool /*end_stream*/) {
  const auto* rc = static_cast<const CacheRouteFilterConfig*>(callbacks_->routeConfig());
  route_ = rc != nullptr ? &rc->config() : &factory_.defaultRoute();
  http::StreamInfo& info = callbacks_->streamInfo();
  if (!route_->enabled || info.route_name.empty()) {
    callbacks_->skipEncoding();
    return http::FilterHeadersStatus::Continue;
  }
  const std::string_view* host = request.headers.get("host");
  KeyInputs in;
  in.method = request.method;
  in.scheme = info.forwarded_proto.empty() ? std::string_view("http") : info.forwarded_proto;
  in.host = host != nullptr ? *host : std::string_view();
  in.route = info.route_name;
  in.version = info.version;
  in.cluster = info.cluster;
  in.target = request.path;
  path_ = keyPath(request.path);

  const bool get = request.method == "GET";
  const bool head = request.method == "HEAD";
  if (!get && !head) {
    if (unsafeMethod(request.method)) {
      mode_ = Mode::Invalidate;
      in.method = "GET";
      primaryKey(in, primary_);
      key_.keep(in);
    } else {
      callbacks_->skipEncoding();
    }
    return http::FilterHeadersStatus::Continue;
  }

  primaryKey(in, primary_);
  request_cc_ = parseRequestCacheControl(request.headers);
  request_has_authorization_ = request.headers.get("authorization") != nullptr;
  request_time_ = time_.systemNow();
  mode_ = Mode::Forwarded;
  if (lookup(request)) return http::FilterHeadersStatus::StopIteration;
  if (stale_ == nullptr && fetchFromRedis("")) {
    return http::FilterHeadersStatus::StopIteration;
  }
  if (coalesce(request)) return http::FilterHeadersStatus::StopIteration;
  return http::FilterHeadersStatus::Continue;
}

bool CacheFilter::fetchFromRedis(std::string secondary) {
  RedisTier* tier = state_ != nullptr ? state_->tier() : nullptr;
  // A request that asks for a newer response than is stored skips it: it goes upstream anyway.
  if (tier == nullptr || request_cc_.no_cache ||
      (request_cc_.max_age && *request_cc_.max_age <= seconds(0))) {
    return false;
  }
  mode_ = Mode::Fetching;
  fetch_secondary_ = std::move(secondary);
  fetch_ = tier->fetch(primary_, fetch_secondary_, [this](FetchResult r) {
    fetch_ = redis::Request();
    onFetched(std::move(r));
  });
  return true;
}

void CacheFilter::onFetched(FetchResult r) {
  mode_ = Mode::Forwarded;
  http::RequestHeaders& request = callbacks_->requestHeaders();
  switch (r.kind) {
    case FetchResult::Hit:
      if (r.entry && !r.entry->soft_purged) {
        state_->countRedis("fetch", "hit");
        // Into the memory tier, then served (or revalidated) from there as any stored response.
        std::shared_ptr<CachedResponse> entry = std::move(r.entry->entry);
        std::string cc;
        for (const auto& [name, value] : entry->headers) {
          if (name != "cache-control") continue;
          if (!cc.empty()) cc.append(", ");
          cc.append(value);
        }
        entry->cache_control = parseResponseCacheControl(cc);
        const std::string secondary = entry->secondary_key;
        factory_.store().insert(primary_, secondary, path_, std::move(entry));
        factory_.updateGauges();
        if (lookup(request)) return;
        break;
      }
      state_->countRedis("fetch", "miss");  // soft-purged there: not used
      break;
    case FetchResult::VaryMismatch:
      if (!fetched_again_) {
        VaryNames vary;
        vary.names = r.vary_names;
        std::string secondary = secondaryKey(vary, request.headers);
        if (secondary != fetch_secondary_) {
          fetched_again_ = true;
          fetchFromRedis(std::move(secondary));
          return;
        }
      }
      state_->countRedis("fetch", "miss");
      break;
    case FetchResult::Miss:
      state_->countRedis("fetch", "miss");
      break;
    case FetchResult::Error:
      // The tier is a cache: its failures cost a trip upstream, nothing more.
      state_->countRedis("fetch", "error");
      break;
  }
  if (stale_ == nullptr && coalesce(request)) return;
  callbacks_->continueDecoding();
}

void CacheFilter::storeInRedis(const CachedResponse& entry, const std::string& secondary) {
  RedisTier* tier = state_ != nullptr ? state_->tier() : nullptr;
  if (tier == nullptr || entry.body.size() > factory_.config().redis_max_object_bytes) return;
  // Kept there as long as it may serve: its freshness left and the longer stale window.
  const seconds usable = entry.freshness_lifetime - currentAge(entry) +
                         std::max(entry.stale_while_revalidate, entry.stale_if_error);
  if (usable <= seconds(0)) return;
  // The reply may come after this request and the worker's state are gone: only the
  // process-wide counters are held.
  std::shared_ptr<CacheMetrics> metrics = factory_.metrics_;
  tier->store(primary_, secondary, entry,
              std::chrono::duration_cast<std::chrono::milliseconds>(usable),
              [metrics](bool ok) { countRedisOperation(*metrics, "store", ok ? "ok" : "error"); });
}

bool CacheFilter::lookup(http::RequestHeaders& request) {
  const bool head = request.method == "HEAD";
  MemoryStore& store = factory_.store();
  // Most responses vary on nothing: that variant first, without listing the key's Vary names.
  CacheHit hit = store.lookup(primary_, "");
  bool vary_miss = false;
  for (std::vector<std::string>& names :
       hit.other_variants ? store.varyNames(primary_) : std::vector<std::vector<std::string>>()) {
    if (names.empty()) continue;  // looked up above
    VaryNames vary;
    vary.names = std::move(names);
    hit = store.lookup(primary_, secondaryKey(vary, request.headers));
    if (hit) break;
    vary_miss = true;
  }
  if (!hit) {
    if (request_cc_.only_if_cached) {
      count(CacheWorkerState::Miss);
      http::LocalReply reply;
      reply.status = 504;
      reply.detail = "The request asked for a stored response only, and none is stored.";
      mode_ = Mode::Off;
      callbacks_->sendLocalReply(std::move(reply));
      return true;
    }
    status_.fwd = vary_miss ? Forward::VaryMiss : Forward::UriMiss;
    // Counted when the response comes (a miss, or a bypass).
    deferred_miss_ = true;
    return false;
  }

  const CachedResponse& entry = *hit.response;
  const ResponseCacheControl& stored_cc = storedCacheControl(entry);
  const seconds age = currentAge(entry);
  // A soft-purged entry is stale whatever its lifetime: usable only as a fallback.
  const seconds lifetime = hit.soft_purged ? seconds(0) : entry.freshness_lifetime;
  StalePolicy policy;
  policy.stale_while_revalidate = entry.stale_while_revalidate;
  policy.stale_if_error = entry.stale_if_error;
  const ReuseDecision d = decideReuse(request_cc_, stored_cc, age, lifetime, policy);
  status_.ttl = d.ttl.count();
  // Stale within stale-while-revalidate: served when a background refresh can follow it (one per
  // key); otherwise the request revalidates, which a cache may always do.
  const bool usable = d.action == ReuseAction::ServeFresh ||
                      (d.action == ReuseAction::ServeStale &&
                       (d.stale_reason != StaleReason::StaleWhileRevalidate ||
                        refreshInBackground(request, hit.response)));
  if (usable) {
    status_.hit = true;
    count(d.action == ReuseAction::ServeFresh ? CacheWorkerState::Hit : CacheWorkerState::Stale);
    mode_ = Mode::Served;
    if (d.action == ReuseAction::ServeStale) status_.detail = staleReasonName(d.stale_reason);
    serve(hit.response, head, age, status_);
    return true;
  }
  if (d.action == ReuseAction::GatewayTimeout) {
    count(CacheWorkerState::Miss);
    http::LocalReply reply;
    reply.status = 504;
    reply.detail = "The request asked for a stored response only, and the stored one is stale.";
    mode_ = Mode::Off;
    callbacks_->sendLocalReply(std::move(reply));
    return true;
  }
  // Revalidate, conditionally when the entry has validators (RFC 9111 section 4.3.1); the stored
  // entry stays the fallback. (What goes to the client is the new response: the old entry's ttl
  // says nothing about it.)
  status_.ttl.reset();
  stale_ = hit.response;
  if (!revalidating_ && (!entry.etag.empty() || !entry.last_modified.empty())) {
    // The client's own conditionals are answered by the cache from the refreshed entry.
    revalidating_ = true;
    if (const std::string_view* v = request.headers.get("if-none-match")) {
      client_if_none_match_.emplace(*v);
    }
    if (const std::string_view* v = request.headers.get("if-modified-since")) {
      client_if_modified_since_.emplace(*v);
    }
    request.headers.remove("if-none-match");
    request.headers.remove("if-modified-since");
    if (!entry.etag.empty()) request.headers.add("if-none-match", entry.etag);
    if (!entry.last_modified.empty()) {
      request.headers.add("if-modified-since", entry.last_modified);
    }
  }
  status_.fwd = request_cc_.no_cache || (request_cc_.max_age && age >= *request_cc_.max_age)
                    ? Forward::Request
                    : Forward::Stale;
  // Counted when the response comes: a miss, or stale if the stored copy replaces an error.
  deferred_miss_ = true;
  return false;
}

bool CacheFilter::refreshInBackground(const http::RequestHeaders& request,
                                      const std::shared_ptr<const CachedResponse>& stale) {
  if (state_ == nullptr) return false;
  const http::StreamInfo& info = callbacks_->streamInfo();
  std::shared_ptr<upstream::ConnPool> pool = state_->pool(info.cluster);
  if (pool == nullptr) return false;
  // A refresh (or a request that missed) is already on its way for the key.
  if (!factory_.coalescer().tryLead(primary_, time_.monotonicNow())) return true;
  RefreshJob job;
  job.primary = primary_;
  job.path = path_;
  job.stale = stale;
  job.request = http::makeRequestHeaders();
  job.request->method = "GET";
  job.request->path = request.path;
  if (const std::string_view* host = request.headers.get("host")) {
    job.request->headers.add("host", *host);
  }
  // The fields that chose the variant, and the validators.
  for (const std::string& name : stale->vary_names) {
    for (const http::HeaderMap::Entry& e : request.headers.entries()) {
      if (e.name == name) job.request->headers.add(e.name, e.value);
    }
  }
  if (!stale->etag.empty()) job.request->headers.add("if-none-match", stale->etag);
  if (!stale->last_modified.empty()) {
    job.request->headers.add("if-modified-since", stale->last_modified);
  }
  job.store = factory_.store_;
  job.coalescer = factory_.coalescer_;
  job.reported_evictions = factory_.reported_evictions_;
  job.metrics = factory_.metrics_;
  const CacheConfig& config = factory_.config();
  job.max_object_bytes = config.max_object_bytes;
  job.tag_header = config.tag_header;
  job.stale_defaults = factory_.stalePolicy();
  job.heuristic = factory_.heuristicPolicy();
  job.route_ttl = route_->ttl;
  job.timeout = pool->config().response_timeout;
  job.tier = state_->tier();
  job.redis_max_object_bytes = config.redis_max_object_bytes;
  state_->refreshes().start(std::move(job), std::move(pool), time_);
  return true;
}

bool CacheFilter::coalesce(const http::RequestHeaders& request) {
  const CacheConfig& config = factory_.config();
  // Only plain GETs wait for another request's answer: one with its own conditionals or a range
  // gets an answer for itself alone, and one that asks for a newer response than is stored
  // (no-cache, max-age, min-fresh) may not take one that was already on its way.
  if (config.max_coalesced == 0 || request.method != "GET" || request_has_authorization_ ||
      request_cc_.no_cache || request_cc_.no_store || request_cc_.max_age ||
      request_cc_.min_fresh || request.headers.get("range") != nullptr) {
    return false;
  }
  if (!revalidating_ && (request.headers.get("if-none-match") != nullptr ||
                         request.headers.get("if-modified-since") != nullptr)) {
    return false;
  }
  switch (factory_.coalescer().join(primary_, callbacks_->dispatcher(), this, config.max_coalesced,
                                    time_.monotonicNow(), &ticket_)) {
    case Coalescer::Join::Leader:
      leading_ = true;
      return false;
    case Coalescer::Join::Full:
      return false;
    case Coalescer::Join::Pass:
      bypass_ = true;
      return false;
    case Coalescer::Join::Waiting:
      break;
  }
  mode_ = Mode::Waiting;
  wait_timer_ = callbacks_->dispatcher().createTimer([this] {
    // Waited long enough: ask the upstream itself.
    factory_.coalescer().leave(primary_, ticket_.get());
    ticket_->waiter = nullptr;
    ticket_.reset();
    mode_ = Mode::Forwarded;
    callbacks_->continueDecoding();
  });
  wait_timer_->enable(config.coalesce_timeout);
  return true;
}

void CacheFilter::onCoalesced(CoalesceOutcome outcome) {
  wait_timer_->disable();
  ticket_.reset();
  mode_ = Mode::Forwarded;
  if (outcome == CoalesceOutcome::Stored) {
    coalesced_ = true;
    deferred_miss_ = false;
    status_ = CacheStatus{};
    if (lookup(callbacks_->requestHeaders())) return;
    coalesced_ = false;
  }
  // Not shared: this request goes upstream itself (and is not queued again).
  callbacks_->continueDecoding();
}

void CacheFilter::finishLeading(CoalesceOutcome outcome) {
  if (!leading_) return;
  leading_ = false;
  factory_.coalescer().finish(primary_, outcome, time_.monotonicNow());
}

bool CacheFilter::notModified(const std::string_view* inm, const std::string_view* ims,
                              const CachedResponse& entry) {
  if (entry.status != 200) return false;
  if (inm != nullptr) return etagListMatches(*inm, entry.etag);
  if (ims == nullptr || entry.last_modified.empty()) return false;
  const std::optional<common::SystemTime> since = common::parseHttpDate(*ims);
  const std::optional<common::SystemTime> modified = common::parseHttpDate(entry.last_modified);
  return since && modified && *modified <= *since;
}

http::ResponseHeadersPtr CacheFilter::entryHeaders(
    const std::shared_ptr<const CachedResponse>& stored, bool not_modified, seconds age,
    const CacheStatus& status) const {
  const CachedResponse& entry = *stored;
  auto headers = http::makeResponseHeaders();
  headers->status = not_modified ? 304 : entry.status;
  http::HeaderMap& out = headers->headers;
  out.reserve(entry.headers.size() + 3);
  // The stored fields are not copied: the head holds the entry until it is sent.
  const std::shared_ptr<const void> owner = stored;
  std::string upstream_status;
  for (const auto& [name, value] : entry.headers) {
    if (name == "cache-status") {
      if (!upstream_status.empty()) upstream_status.append(", ");
      upstream_status.append(value);
      continue;
    }
    if (not_modified && !keptOn304(name)) continue;
    out.addShared(name, value, owner);
  }
  char digits[24];
  out.add("age",
          std::string_view(
              digits, std::to_chars(digits, digits + sizeof digits, age.count()).ptr - digits));
  putCacheStatus(out, upstream_status, status, false);
  if (!not_modified && entry.status != 204 && entry.status != 304) {
    // A HEAD answered from a stored GET keeps the GET's length.
    const size_t length = entry.body.size();
    out.add("content-length",
            std::string_view(digits,
                             std::to_chars(digits, digits + sizeof digits, length).ptr - digits));
    headers->content_length = static_cast<int64_t>(length);
  }
  return headers;
}

void CacheFilter::serve(const std::shared_ptr<const CachedResponse>& stored, bool head, seconds age,
                        const CacheStatus& status) {
  const CachedResponse& entry = *stored;
  const http::HeaderMap& request = callbacks_->requestHeaders().headers;
  std::optional<std::string_view> inm, ims;
  if (revalidating_) {
    // The request carries the cache's own validators: the client's are kept aside.
    if (client_if_none_match_) inm = *client_if_none_match_;
    if (client_if_modified_since_) ims = *client_if_modified_since_;
  } else {
    if (const std::string_view* v = request.get("if-none-match")) inm = *v;
    if (const std::string_view* v = request.get("if-modified-since")) ims = *v;
  }
  const bool not_modified = notModified(inm ? &*inm : nullptr, ims ? &*ims : nullptr, entry);
  http::ResponseHeadersPtr headers = entryHeaders(stored, not_modified, age, status);
  const bool send_body = !head && headers->content_length > 0;
  callbacks_->encodeHeaders(std::move(headers), !send_body);
  if (!send_body) return;
  // The body goes out through one buffer per worker: the connection takes its bytes, so it is
  // empty again when encodeData() returns (a nested serve() would use a buffer of its own).
  thread_local http::Buffer scratch;
  thread_local bool scratch_in_use = false;
  if (scratch_in_use) {
    http::Buffer body;
    addStoredBody(body, stored);
    callbacks_->encodeData(body, true);
    return;
  }
  scratch_in_use = true;
  addStoredBody(scratch, stored);
  callbacks_->encodeData(scratch, true);
  scratch.drain(scratch.length());
  scratch_in_use = false;
}

void CacheFilter::serveRevalidated(const http::ResponseHeaders& response) {
  const http::ResponseHeadersPtr merged =
      mergeNotModified(*stale_, response, factory_.config().tag_header);
  std::string secondary;
  std::shared_ptr<CachedResponse> refreshed = makeEntry(*merged, secondary);
  CacheStatus status;
  status.fwd = status_.fwd;
  status.fwd_status = 304;
  std::shared_ptr<const CachedResponse> serving = stale_;
  MemoryStore& store = factory_.store();
  if (refreshed != nullptr) {
    refreshed->body = stale_->body;
    const InsertStatus inserted = store.insert(primary_, secondary, path_, refreshed);
    status.stored = inserted == InsertStatus::Stored || inserted == InsertStatus::Replaced;
    if (status.stored) storeInRedis(*refreshed, secondary);
    finishLeading(status.stored ? CoalesceOutcome::Stored : CoalesceOutcome::Uncacheable);
    serving = std::move(refreshed);
  } else if (!request_cc_.no_store) {
    // Validated, but no longer storeable (e.g. the 304 says no-store): served this once.
    store.remove(primary_, stale_->secondary_key);
  }
  finishLeading(CoalesceOutcome::Uncacheable);  // (nothing when it finished above)
  factory_.updateGauges();
  const seconds age = currentAge(*serving);
  status.ttl = (serving->freshness_lifetime - age).count();
  deferred_miss_ = false;
  count(CacheWorkerState::Revalidated);

  std::optional<std::string_view> inm, ims;
  if (client_if_none_match_) inm = *client_if_none_match_;
  if (client_if_modified_since_) ims = *client_if_modified_since_;
  const bool not_modified = notModified(inm ? &*inm : nullptr, ims ? &*ims : nullptr, *serving);
  http::ResponseHeadersPtr headers = entryHeaders(serving, not_modified, age, status);
  const bool head = callbacks_->requestHeaders().method == "HEAD";
  http::Buffer body;
  if (!head && headers->content_length > 0) addStoredBody(body, serving);
  mode_ = Mode::Off;
  callbacks_->replaceResponse(std::move(headers), body);
}

http::FilterHeadersStatus CacheFilter::encodeHeaders(http::ResponseHeaders& response,
                                                     bool end_stream) {
  if (mode_ == Mode::Invalidate) {
    // A successful unsafe request changes its target (RFC 9111 section 4.4); the Location and
    // Content-Location of the same origin too, on the same route.
    if (response.status >= 200 && response.status < 400) {
      MemoryStore& store = factory_.store();
      store.purgeKey(primary_, PurgeMode::Hard);
      for (const std::string_view name : {"location", "content-location"}) {
        const std::string_view* value = response.headers.get(name);
        if (value == nullptr) continue;
        const std::optional<std::string_view> target = sameOriginTarget(*value, key_.host);
        if (!target) continue;
        KeyInputs in = key_.inputs();
        in.target = *target;
        store.purgeKey(primaryKey(in), PurgeMode::Hard);
      }
      factory_.updateGauges();
    }
    return http::FilterHeadersStatus::Continue;
  }
  if (mode_ != Mode::Forwarded) return http::FilterHeadersStatus::Continue;

  const http::StreamInfo& info = callbacks_->streamInfo();
  struct CountMiss {
    CacheFilter& f;
    ~CountMiss() {
      if (f.deferred_miss_) {
        f.deferred_miss_ = false;
        f.count(f.bypass_ ? CacheWorkerState::Bypass : CacheWorkerState::Miss);
      }
    }
  } count_miss{*this};
  if (revalidating_ && response.status == 304 && !info.local_reply && stale_ != nullptr) {
    serveRevalidated(response);
    return http::FilterHeadersStatus::Continue;
  }
  // The upstream failed (or could not be reached): a stale entry beats the error where the
  // response and the request allow it (stale-if-error, RFC 5861 section 4).
  if (response.status >= 500 && stale_ != nullptr) {
    const ResponseCacheControl& stored_cc = storedCacheControl(*stale_);
    const seconds age = currentAge(*stale_);
    StalePolicy policy = factory_.stalePolicy();
    if (stale_->stale_if_error > policy.stale_if_error) {
      policy.stale_if_error = stale_->stale_if_error;
    }
    const StaleReason why = canServeStale(request_cc_, stored_cc, age, stale_->freshness_lifetime,
                                          StaleContext::UpstreamError, policy);
    if (why != StaleReason::None) {
      CacheStatus status;
      status.fwd = Forward::Stale;
      status.fwd_status = response.status;
      status.ttl = (stale_->freshness_lifetime - age).count();
      status.detail = "stale-if-error";
      deferred_miss_ = false;
      count(CacheWorkerState::Stale);
      http::ResponseHeadersPtr headers = entryHeaders(stale_, false, age, status);
      http::Buffer body;
      if (callbacks_->requestHeaders().method != "HEAD") addStoredBody(body, stale_);
      mode_ = Mode::Off;
      finishLeading(CoalesceOutcome::Failed);
      callbacks_->replaceResponse(std::move(headers), body);
      return http::FilterHeadersStatus::Continue;
    }
    if (info.local_reply && response.status != 504) {
      // The upstream could not be reached and the stored response may not be used stale: a
      // disconnected cache answers 504 (RFC 9111 section 4.2.4).
      auto headers = http::makeResponseHeaders();
      headers->status = 504;
      http::Buffer body(http::problemJson(
          504, "",
          "The upstream could not be reached and the stored response may not be served "
          "stale.",
          info.correlation_id));
      headers->headers.add("content-type", "application/problem+json");
      headers->headers.add("content-length", std::to_string(body.length()));
      headers->content_length = static_cast<int64_t>(body.length());
      mode_ = Mode::Off;
      finishLeading(CoalesceOutcome::Failed);
      callbacks_->replaceResponse(std::move(headers), body);
      return http::FilterHeadersStatus::Continue;
    }
  }
  if (info.local_reply) {
    // The proxy's own errors carry no Cache-Status (RFC 9211 is about stored responses).
    mode_ = Mode::Off;
    finishLeading(CoalesceOutcome::Failed);
    return http::FilterHeadersStatus::Continue;
  }
  status_.fwd_status = response.status;
  startStoring(response);
  if (storing_ == nullptr) {
    // Nothing to share: the waiters go upstream (and, for an answer that may not be stored,
    // later requests for the key do not queue).
    finishLeading(response.status >= 500 ? CoalesceOutcome::Failed : CoalesceOutcome::Uncacheable);
  }
  std::string upstream_status;
  bool tagged = false;
  const std::string& tag_header = factory_.config().tag_header;
  for (const http::HeaderMap::Entry& e : response.headers.entries()) {
    tagged = tagged || (!tag_header.empty() && e.name == tag_header);
    if (e.name != "cache-status") continue;
    if (!upstream_status.empty()) upstream_status.append(", ");
    upstream_status.append(e.value);
  }
  // The tag header is for the cache, not for the client.
  if (tagged) response.headers.remove(tag_header);
  putCacheStatus(response.headers, upstream_status, status_, true);
  if (end_stream && storing_ != nullptr) finishStoring();
  return http::FilterHeadersStatus::Continue;
}

void CacheFilter::startStoring(http::ResponseHeaders& response) {
  // A stored HEAD would answer nothing.
  if (callbacks_->requestHeaders().method != "GET") return;
  // Most responses to a route without a ttl say nothing of freshness: nothing to parse then.
  const CacheConfig& config = factory_.config();
  if (!route_->ttl && config.heuristic_max <= std::chrono::milliseconds(0) &&
      config.stale_while_revalidate <= std::chrono::milliseconds(0) &&
      config.stale_if_error <= std::chrono::milliseconds(0)) {
    bool freshness_fields = false;
    for (const http::HeaderMap::Entry& e : response.headers.entries()) {
      if (e.name == "cache-control" || e.name == "expires") {
        freshness_fields = true;
        break;
      }
    }
    if (!freshness_fields) return;
  }
  storing_ = makeEntry(response, storing_secondary_);
  status_.stored = storing_ != nullptr;
  if (storing_ != nullptr) {
    // The response is read at the upstream's pace, not at this client's, until it is stored:
    // requests waiting for it do not wait for a slow client (at most max_object_bytes buffer).
    callbacks_->holdDownstreamBackpressure(true);
    holding_backpressure_ = true;
  }
}

void CacheFilter::releaseBackpressure() {
  if (!holding_backpressure_) return;
  holding_backpressure_ = false;
  callbacks_->holdDownstreamBackpressure(false);
}

std::shared_ptr<CachedResponse> CacheFilter::makeEntry(const http::ResponseHeaders& response,
                                                       std::string& secondary) const {
  const CacheConfig& config = factory_.config();
  EntryContext ctx{callbacks_->requestHeaders().headers, request_cc_};
  ctx.request_has_authorization = request_has_authorization_;
  ctx.request_time = request_time_;
  ctx.now = time_.systemNow();
  ctx.monotonic_now = time_.monotonicNow();
  ctx.max_object_bytes = config.max_object_bytes;
  ctx.tag_header = config.tag_header;
  ctx.stale_defaults = factory_.stalePolicy();
  ctx.heuristic = factory_.heuristicPolicy();
  ctx.route_ttl = route_->ttl;
  return cache::makeEntry(response, ctx, secondary);
}

http::FilterDataStatus CacheFilter::encodeData(http::Buffer& data, bool end_stream) {
  if (storing_ != nullptr) {
    if (storing_->body.size() + data.length() > factory_.config().max_object_bytes) {
      storing_.reset();  // too large after all: it streams through uncached
      releaseBackpressure();
      finishLeading(CoalesceOutcome::Uncacheable);
    } else {
      storing_->body.append(data.toString());
      if (end_stream) finishStoring();
    }
  }
  return http::FilterDataStatus::Continue;
}

void CacheFilter::onDestroy() {
  fetch_.cancel();
  if (ticket_ != nullptr) {
    factory_.coalescer().leave(primary_, ticket_.get());
    ticket_->waiter = nullptr;
    ticket_.reset();
  }
  if (wait_timer_ != nullptr) wait_timer_->disable();
  // A leader whose request ended before its response was stored: the waiters go upstream.
  finishLeading(CoalesceOutcome::Failed);
  // A stream that ended before its response still made its lookup.
  if (deferred_miss_) {
    deferred_miss_ = false;
    count(bypass_ ? CacheWorkerState::Bypass : CacheWorkerState::Miss);
  }
}

void CacheFilter::finishStoring() {
  std::shared_ptr<CachedResponse> entry = std::move(storing_);
  const std::shared_ptr<const CachedResponse> stored_entry = entry;
  releaseBackpressure();
  const InsertStatus inserted =
      factory_.store().insert(primary_, storing_secondary_, path_, std::move(entry));
  factory_.updateGauges();
  const bool stored = inserted == InsertStatus::Stored || inserted == InsertStatus::Replaced;
  // A request that passed a key marked uncacheable got a response that is: the mark goes.
  if (stored && bypass_) factory_.coalescer().clearMark(primary_);
  if (stored) storeInRedis(*stored_entry, storing_secondary_);
  finishLeading(stored ? CoalesceOutcome::Stored : CoalesceOutcome::Uncacheable);
}

// --- the factory ------------------------------------------------------------------------------

CacheFilterFactory::CacheFilterFactory(CacheConfig config, prometheus::Registry& metrics)
    : config_(std::move(config)), metrics_(std::make_shared<CacheMetrics>(metrics)) {}

http::StreamFilterPtr CacheFilterFactory::create(WorkerContext& ctx, WorkerLocal* local) const {
  return std::make_unique<CacheFilter>(*this, ctx.time, static_cast<CacheWorkerState*>(local));
}

WorkerLocalPtr CacheFilterFactory::workerLocal(WorkerContext& worker,
                                               WorkerLocalPtr previous) const {
  // The counters are the process's, and refreshes outlive configurations: a reload keeps it.
  std::shared_ptr<CacheWorkerState> state =
      previous != nullptr ? std::static_pointer_cast<CacheWorkerState>(previous)
                          : std::make_shared<CacheWorkerState>(metrics_->lookups, worker);
  if (config_.redis && worker.redis != nullptr) {
    state->enableRedis(*worker.redis, store_, metrics_, reported_evictions_);
  }
  return state;
}

RouteFilterConfigPtr CacheFilterFactory::parseRouteConfig(const YAML::Node& node,
                                                          const std::string& path,
                                                          const RouteFilterConfig* parent) const {
  const CacheRouteConfig& base = parent != nullptr
                                     ? static_cast<const CacheRouteFilterConfig*>(parent)->config()
                                     : default_route_;
  return std::make_shared<const CacheRouteFilterConfig>(parseCacheRouteConfig(node, path, base));
}

std::vector<config::ConfigError> CacheFilterFactory::validate(const config::Config& config) const {
  std::vector<config::ConfigError> errors;
  if (config_.redis && !config.redis) {
    const config::ConfigError& at = config_.redis_at;
    errors.emplace_back(at.path(), "the Redis tier needs a top-level redis: block", at.line(),
                        at.column());
  }
  return errors;
}

void CacheFilterFactory::activate(ActivationContext& ctx) const {
  MemoryStoreOptions options;
  options.max_bytes = config_.max_bytes;
  // The configured limit is on the body; the store counts headers and bookkeeping too.
  options.max_object_bytes =
      std::min<uint64_t>(config_.max_bytes, config_.max_object_bytes + StoreAllowanceBytes);
  options.max_variants = config_.max_variants;
  const std::string name = std::to_string(options.max_bytes) + "/" +
                           std::to_string(options.max_object_bytes) + "/" +
                           std::to_string(options.max_variants);
  const std::shared_ptr<StoreState> state = ctx.state.claim<StoreState>(
      "cache", name, [&] { return std::make_shared<StoreState>(options); });
  store_ = state->store;
  reported_evictions_ = state->reported_evictions;
  coalescer_ = ctx.state
                   .claim<CoalescerState>("cache-coalescer", "",
                                          [] { return std::make_shared<CoalescerState>(); })
                   ->coalescer;
}

StalePolicy CacheFilterFactory::stalePolicy() const {
  StalePolicy p;
  p.stale_while_revalidate = std::chrono::duration_cast<seconds>(config_.stale_while_revalidate);
  p.stale_if_error = std::chrono::duration_cast<seconds>(config_.stale_if_error);
  return p;
}

HeuristicPolicy CacheFilterFactory::heuristicPolicy() const {
  HeuristicPolicy p;
  p.max = std::chrono::duration_cast<seconds>(config_.heuristic_max);
  p.enabled = p.max > seconds(0);
  return p;
}

void CacheFilterFactory::updateGauges() const {
  publishStoreStats(*store_, *metrics_, reported_evictions_.get());
}

admin::AdminResponse CacheFilterFactory::handleAdmin(const AdminEndpoint& endpoint,
                                                     const admin::AdminRequest& request,
                                                     AdminContext& ctx) const {
  using nlohmann::json;
  if (endpoint.method == "GET") {
    const MemoryStoreSnapshot snap = store_->snapshot(10);
    const MemoryStoreStats st = store_->stats();
    json largest = json::array();
    for (const MemoryStoreSnapshot::Entry& e : snap.largest) {
      // The key's fields are separated by newlines: shown as a list.
      json key = json::array();
      std::string_view rest = e.primary;
      while (true) {
        const size_t nl = rest.find('\n');
        key.push_back(std::string(rest.substr(0, nl)));
        if (nl == std::string_view::npos) break;
        rest.remove_prefix(nl + 1);
      }
      largest.push_back({{"key", key},
                         {"path", e.path},
                         {"bytes", e.bytes},
                         {"status", e.status},
                         {"soft_purged", e.soft_purged}});
    }
    json shards = json::array();
    for (const MemoryStoreSnapshot::Shard& sh : snap.shards) {
      shards.push_back({{"keys", sh.keys},
                        {"entries", sh.entries},
                        {"bytes", sh.bytes},
                        {"max_bytes", sh.max_bytes}});
    }
    json out = {
        {"memory",
         {{"keys", snap.keys},
          {"entries", snap.entries},
          {"bytes", snap.bytes},
          {"max_bytes", snap.max_bytes},
          {"max_object_bytes", config_.max_object_bytes},
          {"soft_purged", snap.soft_purged},
          {"inserts", st.inserts},
          {"refused_too_large", st.refused_too_large},
          {"evictions", {{"capacity", st.evictions_capacity}, {"variants", st.evictions_variants}}},
          {"purged", {{"hard", st.purges_hard}, {"soft", st.purges_soft}}},
          {"shards", shards},
          {"largest", largest}}},
        {"coalescing",
         {{"in_flight", coalescer_->inFlight()},
          {"waiting", coalescer_->waiting()},
          {"marked_uncacheable", coalescer_->marked()}}},
        {"redis",
         {{"enabled", config_.redis}, {"max_object_bytes", config_.redis_max_object_bytes}}},
    };
    return admin::jsonResponse(200, out);
  }

  // POST /cache/purge {"key": "/a?b"} | {"prefix": "/a/"} | {"tag": "t"}, "mode": hard|soft
  const json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded()) return admin::problemResponse(400, "the body is not valid JSON");
  if (!body.is_object()) return admin::problemResponse(400, "expected a JSON object");
  std::string selector;
  for (const auto& [name, value] : body.items()) {
    if (name == "mode") continue;
    if (name != "key" && name != "prefix" && name != "tag") {
      return admin::problemResponse(
          400, "unknown key \"" + name + "\" (expected one of key, prefix, tag, and mode)");
    }
    if (!selector.empty()) {
      return admin::problemResponse(400, "give exactly one of key, prefix and tag");
    }
    selector = name;
  }
  if (selector.empty()) {
    return admin::problemResponse(400, "one of key, prefix and tag is required");
  }
  const json& value = body[selector];
  if (!value.is_string() || value.get<std::string>().empty()) {
    return admin::problemResponse(400, "\"" + selector + "\" must be a non-empty string");
  }
  const std::string text = value.get<std::string>();
  if (selector != "tag" && text.front() != '/') {
    return admin::problemResponse(
        400, "\"" + selector + "\" must be a path starting with \"/\" (\"" + text + "\")");
  }
  PurgeMode mode = PurgeMode::Hard;
  if (body.contains("mode")) {
    const json& m = body["mode"];
    if (m == "soft") {
      mode = PurgeMode::Soft;
    } else if (m != "hard") {
      return admin::problemResponse(400, "\"mode\" must be \"hard\" or \"soft\"");
    }
  }
  size_t purged = 0;
  if (selector == "key") {
    purged = store_->purgeTarget(keyPath(text), text, mode);
  } else if (selector == "prefix") {
    purged = store_->purgePrefix(text, mode);
  } else {
    purged = store_->purgeTag(text, mode);
  }
  const char* mode_name = mode == PurgeMode::Soft ? "soft" : "hard";
  metrics_->purges.Add({{"mode", mode_name}}).Increment(static_cast<double>(purged));
  updateGauges();
  SY_LOG(Info, "cache: purge %s=%s (%s): %zu entries", selector.c_str(), text.c_str(), mode_name,
         purged);
  json out = {{selector, text}, {"mode", mode_name}, {"purged", purged}, {"memory", purged}};
  if (!config_.redis) return admin::jsonResponse(200, out);

  // The Redis tier, from worker 0 (its client lives there), and the purge log that carries the
  // purge to the other replicas.
  const PurgeKind kind = selector == "key"      ? PurgeKind::Key
                         : selector == "prefix" ? PurgeKind::Prefix
                                                : PurgeKind::Tag;
  auto result = std::make_shared<std::promise<PurgeResult>>();
  std::future<PurgeResult> done = result->get_future();
  auto started = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<CacheMetrics> metrics = metrics_;
  ctx.runOnWorkers(
      [=](uint32_t worker, WorkerLocal* local) {
        auto* state = static_cast<CacheWorkerState*>(local);
        if (worker != 0 || state == nullptr || state->tier() == nullptr) return;
        started->store(true);
        // (A purge is cancelled with the tier, the purge log's reply is not: the callbacks
        // hold the process-wide counters, not the worker's state.)
        auto cb = [result, metrics](PurgeResult r) {
          countRedisOperation(*metrics, "purge", r.ok() ? "ok" : "error");
          result->set_value(std::move(r));
        };
        RedisTier& tier = *state->tier();
        switch (kind) {
          case PurgeKind::Key:
            tier.purgeTarget(text, mode, cb);
            break;
          case PurgeKind::Prefix:
            tier.purgePrefix(text, mode, cb);
            break;
          case PurgeKind::Tag:
            tier.purgeTag(text, mode, cb);
            break;
        }
        tier.publishPurge(kind, text, mode, processOrigin(), [metrics](PurgeLogResult r) {
          countRedisOperation(*metrics, "purge_log", r.ok() ? "ok" : "error");
        });
      },
      std::chrono::seconds(2));
  std::string error;
  if (!started->load()) {
    error = "worker 0 has no Redis tier";
  } else if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    error = "Redis did not finish the purge within 10s";
  } else {
    const PurgeResult r = done.get();
    out["redis"] = r.matched;
    out["purged"] = purged + r.matched;
    if (r.truncated) out["redis_truncated"] = true;
    if (!r.ok()) error = r.error;
  }
  if (error.empty()) return admin::jsonResponse(200, out);
  SY_LOG(Error, "cache: purge %s=%s in Redis failed: %s", selector.c_str(), text.c_str(),
         error.c_str());
  out["redis_error"] = error;
  // The memory tier was purged; the shared one may still hold the entries.
  return admin::jsonResponse(502, out);
}

namespace {

FilterFactoryPtr buildCacheFilter(const YAML::Node& node, BuildContext& ctx) {
  return std::make_shared<CacheFilterFactory>(parseCacheConfig(node, ctx.path), ctx.metrics);
}

}  // namespace

void registerCacheFilter(FilterRegistry& registry) {
  FilterRegistration r;
  r.build = buildCacheFilter;
  r.admin = {{"GET", "", false}, {"POST", "/purge", true}};
  registry.add("cache", std::move(r));
}

}  // namespace switchyard::filters::cache
