#pragma once

// The cache filter: an RFC 9111 shared cache in front of the upstreams (filters/cache/*.h hold
// its parts). On the way in it looks the request up in the process-wide memory store and answers
// a usable entry itself (Age, Cache-Status; HEAD from a stored GET; 304 to a client's matching
// conditional request). On the way out it stores what a shared cache may, serves a stale entry
// instead of an upstream failure when stale-if-error allows it, and invalidates a URI after a
// successful unsafe request.
//
// A stale entry with validators is revalidated with a conditional request; a 304 refreshes its
// headers and freshness and the stored body answers the client.
//
// Concurrent misses for one key make one upstream request (filters/cache/coalescer.h).
//
// GET /cache and POST /cache/purge on the admin listener show and purge the store.
//
// A stale entry within stale-while-revalidate is served and refreshed in the background
// (filters/cache/refresh.h).
//
// With `redis: true`, a Redis tier (filters/cache/redis_tier.h) behind the memory tier: a memory
// miss asks it before going upstream, stored responses go to it too, and purges reach it and,
// through its purge log, the other replicas.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "filters/cache/cache_control.h"
#include "filters/cache/cache_status.h"
#include "filters/cache/coalescer.h"
#include "filters/cache/config.h"
#include "filters/cache/freshness.h"
#include "filters/cache/key.h"
#include "filters/cache/memory_store.h"
#include "filters/cache/metrics.h"
#include "filters/cache/redis_tier.h"
#include "filters/cache/refresh.h"
#include "filters/registry.h"

namespace switchyard::filters::cache {

class CacheRouteFilterConfig final : public RouteFilterConfig {
 public:
  explicit CacheRouteFilterConfig(CacheRouteConfig config) : config_(config) {}
  nlohmann::json toJson() const override { return cache::toJson(config_); }
  const CacheRouteConfig& config() const { return config_; }

 private:
  CacheRouteConfig config_;
};

class CacheFilterFactory;

// The filter's object on one worker: the lookup counters it has looked up, by route, so that a
// request does not build a label set.
class CacheWorkerState final : public WorkerLocal {
 public:
  // `lookups` is the registry's family, which outlives every configuration (this state is kept
  // across reloads).
  CacheWorkerState(prometheus::Family<prometheus::Counter>& lookups, WorkerContext& worker)
      : family_(lookups),
        dispatcher_(worker.dispatcher),
        time_(worker.time),
        worker_index_(worker.worker_index),
        refreshes_(worker.dispatcher),
        upstream_pool_(worker.upstream_pool) {}
  ~CacheWorkerState() override;
  enum Result : uint8_t { Hit, Miss, Stale, Revalidated, Coalesced, Bypass, ResultCount };
  static std::string_view name(Result result);
  prometheus::Counter& lookups(const std::string& route, Result result);
  // The worker's background refreshes, and its pool for a cluster (null when there is none).
  RefreshSet& refreshes() { return refreshes_; }
  std::shared_ptr<upstream::ConnPool> pool(std::string_view cluster) const {
    return upstream_pool_ ? upstream_pool_(cluster) : nullptr;
  }
  // The worker's Redis tier (null without `redis: true`). Worker 0 also reads the purge log
  // every second and applies the other replicas' purges to `store`.
  RedisTier* tier() { return tier_.get(); }
  void enableRedis(redis::Client& client, std::shared_ptr<MemoryStore> store,
                   std::shared_ptr<CacheMetrics> metrics,
                   std::shared_ptr<std::atomic<uint64_t>[]> reported_evictions);
  // Counts one operation of the Redis tier (on this worker's thread).
  void countRedis(const char* op, const char* result);

 private:
  void pollPurges();

  prometheus::Family<prometheus::Counter>& family_;
  event::Dispatcher& dispatcher_;
  const common::TimeSource& time_;
  const uint32_t worker_index_;
  // Before the refreshes, which use it: destroyed after them.
  std::unique_ptr<RedisTier> tier_;
  std::shared_ptr<MemoryStore> store_;
  std::shared_ptr<CacheMetrics> metrics_;
  std::shared_ptr<std::atomic<uint64_t>[]> reported_evictions_;
  event::TimerPtr poll_timer_;
  redis::Request poll_request_;
  std::string last_purge_id_;  // "" until the log's newest ID is known
  RefreshSet refreshes_;
  std::function<std::shared_ptr<upstream::ConnPool>(std::string_view)> upstream_pool_;
  std::unordered_map<std::string, std::array<prometheus::Counter*, ResultCount>> lookups_;
  std::string last_route_;
  std::array<prometheus::Counter*, ResultCount>* last_ = nullptr;
};

class CacheFilter final : public http::StreamFilter, public CoalesceWaiter {
 public:
  // `state` is the worker's (null in tests without one: counters are then looked up each time).
  CacheFilter(const CacheFilterFactory& factory, const common::TimeSource& time,
              CacheWorkerState* state);

  http::FilterHeadersStatus decodeHeaders(http::RequestHeaders& request, bool end_stream) override;
  http::FilterHeadersStatus encodeHeaders(http::ResponseHeaders& response,
                                          bool end_stream) override;
  http::FilterDataStatus encodeData(http::Buffer& data, bool end_stream) override;
  void onDestroy() override;
  void onCoalesced(CoalesceOutcome outcome) override;

 private:
  enum class Mode : uint8_t {
    Off,         // nothing to do with this request
    Served,      // answered from the store
    Fetching,    // looking the key up in the Redis tier
    Waiting,     // queued behind another request for the same key (filters/cache/coalescer.h)
    Forwarded,   // a cacheable request that went upstream: maybe store its response
    Invalidate,  // an unsafe method: invalidate its target after a success
  };

  // Looks the request up and answers it when the store can (true); false to forward it.
  bool lookup(http::RequestHeaders& request);
  // Queues a request to forward behind the one in flight for its key (true), or makes it the
  // leader, or leaves it alone (false).
  bool coalesce(const http::RequestHeaders& request);
  // After a memory miss: asks the Redis tier for `secondary` of the key (true: the answer comes
  // to onFetched()).
  bool fetchFromRedis(std::string secondary);
  void onFetched(FetchResult result);
  // Sends a stored response to the Redis tier as well, when there is one and it is small enough.
  void storeInRedis(const CachedResponse& entry, const std::string& secondary);
  // The leader's outcome for its waiters (once; nothing for a request that does not lead).
  void finishLeading(CoalesceOutcome outcome);
  void serve(const std::shared_ptr<const CachedResponse>& stored, bool head,
             std::chrono::seconds age, const CacheStatus& status);
  // The head of `entry` as the cache sends it: the stored fields (only those a 304 carries when
  // `not_modified`), Age, Cache-Status after any upstream cache's, and the length.
  http::ResponseHeadersPtr entryHeaders(const std::shared_ptr<const CachedResponse>& entry,
                                        bool not_modified, std::chrono::seconds age,
                                        const CacheStatus& status) const;
  // Starts a background refresh of `stale` (one per key); false when none can run here.
  bool refreshInBackground(const http::RequestHeaders& request,
                           const std::shared_ptr<const CachedResponse>& stale);
  // Whether a conditional request (its If-None-Match, else If-Modified-Since) matches `entry`.
  static bool notModified(const std::string_view* if_none_match,
                          const std::string_view* if_modified_since, const CachedResponse& entry);
  // Replaces an upstream 304 (to the cache's conditional request) with the refreshed entry.
  void serveRevalidated(const http::ResponseHeaders& not_modified);
  // A new entry (without its body) for `response` to the request, or null when a shared cache
  // may not store it or it would serve nothing.
  std::shared_ptr<CachedResponse> makeEntry(const http::ResponseHeaders& response,
                                            std::string& secondary) const;
  void startStoring(http::ResponseHeaders& response);
  void releaseBackpressure();
  void finishStoring();
  void count(CacheWorkerState::Result result);
  std::chrono::seconds currentAge(const CachedResponse& entry) const;

  // The parts of an unsafe request's key, for invalidating its Location / Content-Location.
  struct KeptKey {
    std::string scheme, host, route, version, cluster;
    void keep(const KeyInputs& in) {
      scheme = in.scheme;
      host = in.host;
      route = in.route;
      version = in.version;
      cluster = in.cluster;
    }
    KeyInputs inputs() const {
      KeyInputs in;
      in.method = "GET";
      in.scheme = scheme;
      in.host = host;
      in.route = route;
      in.version = version;
      in.cluster = cluster;
      return in;
    }
  };

  const CacheFilterFactory& factory_;
  CacheWorkerState* const state_;
  KeptKey key_;
  const common::TimeSource& time_;
  Mode mode_ = Mode::Off;
  const CacheRouteConfig* route_ = nullptr;
  KeyBuffer primary_;
  std::string_view path_;  // in the request's target
  RequestCacheControl request_cc_;
  bool request_has_authorization_ = false;
  common::SystemTime request_time_{};
  CacheStatus status_;
  // An entry the request could not use fresh, kept as the stale-if-error fallback.
  std::shared_ptr<const CachedResponse> stale_;
  // The response being stored (null when it is not).
  std::shared_ptr<CachedResponse> storing_;
  std::string storing_secondary_;
  bool deferred_miss_ = false;  // a revalidation's lookup, counted when its response comes
  // The request carries the stored validators (stale_'s) instead of the client's conditionals,
  // which are kept here to be answered from the refreshed entry.
  bool revalidating_ = false;
  std::optional<std::string> client_if_none_match_;
  std::optional<std::string> client_if_modified_since_;
  // Coalescing: this request leads its key's queue, or waits in it (ticket_, wait_timer_).
  bool leading_ = false;
  bool coalesced_ = false;             // answered from the store after waiting
  bool bypass_ = false;                // forwarded without queueing: the key is marked uncacheable
  bool holding_backpressure_ = false;  // while storing (holdDownstreamBackpressure)
  CoalesceTicketPtr ticket_;
  event::TimerPtr wait_timer_;
  // The Redis tier's lookup in flight (Mode::Fetching), and the secondary key it asked for.
  redis::Request fetch_;
  std::string fetch_secondary_;
  bool fetched_again_ = false;  // a second fetch, with the secondary key of the stored Vary
};

class CacheFilterFactory final : public FilterFactory {
 public:
  CacheFilterFactory(CacheConfig config, prometheus::Registry& metrics);

  http::StreamFilterPtr create(WorkerContext& ctx, WorkerLocal* local) const override;
  nlohmann::json toJson() const override { return cache::toJson(config_); }
  RouteFilterConfigPtr parseRouteConfig(const YAML::Node& node, const std::string& path,
                                        const RouteFilterConfig* parent) const override;
  std::vector<config::ConfigError> validate(const config::Config& config) const override;
  void activate(ActivationContext& ctx) const override;
  WorkerLocalPtr workerLocal(WorkerContext& worker, WorkerLocalPtr previous) const override;

  const CacheConfig& config() const { return config_; }
  MemoryStore& store() const { return *store_; }
  Coalescer& coalescer() const { return *coalescer_; }
  CacheMetrics& metrics() const { return *metrics_; }
  const CacheRouteConfig& defaultRoute() const { return default_route_; }
  StalePolicy stalePolicy() const;
  HeuristicPolicy heuristicPolicy() const;
  // Publishes the store's size to the gauges and its new evictions to the counters (after an
  // insert or a removal).
  void updateGauges() const;
  // GET /cache and POST /cache/purge.
  admin::AdminResponse handleAdmin(const AdminEndpoint& endpoint,
                                   const admin::AdminRequest& request,
                                   AdminContext& ctx) const override;

 private:
  const CacheConfig config_;
  const CacheRouteConfig default_route_;
  std::shared_ptr<CacheMetrics> metrics_;
  // Claimed from the server's registry by activate(), so that a reload with the same sizes
  // keeps the entries.
  mutable std::shared_ptr<MemoryStore> store_;
  mutable std::shared_ptr<Coalescer> coalescer_;
  // The store's eviction counts already added to the counters (kept with the store).
  mutable std::shared_ptr<std::atomic<uint64_t>[]> reported_evictions_;
  friend class CacheFilter;
};

void registerCacheFilter(FilterRegistry& registry);

}  // namespace switchyard::filters::cache
