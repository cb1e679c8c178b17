#pragma once

// A background refresh (stale-while-revalidate, RFC 5861 section 3): the cache has answered a
// request with a stale entry and asks the upstream again on its own, so that the next request
// finds a fresh one. The refresh is a GET of the entry's URL on the worker's pool for the entry's
// cluster, with the request fields the entry varies on and the entry's validators; a 304 renews
// the entry (filters/cache/entry.h), a storeable response replaces it, anything else leaves it as
// it is. One refresh per key at a time, process-wide: it leads the key in the Coalescer, so
// requests that miss meanwhile wait for it like for any leader.
//
// It goes to the pool directly, past the filter chain: no retry and no circuit breaker apply
// (at most one request per key while the entry is within its stale-while-revalidate window).
//
// Lifetime: owned by a RefreshSet (the cache's object on one worker), on that worker's thread; it
// outlives the configuration that started it (it copies what it needs) and is destroyed with the
// set at worker stop, cancelling what is pending.

#include <chrono>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include "filters/cache/coalescer.h"
#include "filters/cache/entry.h"
#include "filters/cache/memory_store.h"
#include "filters/cache/metrics.h"
#include "filters/cache/redis_tier.h"
#include "proxy/common/time.h"
#include "proxy/event/dispatcher.h"
#include "proxy/upstream/conn_pool.h"

namespace switchyard::filters::cache {

// What a refresh needs, all of it owned or process-wide (the configuration may go meanwhile).
struct RefreshJob {
  std::string primary;  // the key, led in the coalescer by the caller (tryLead)
  std::string path;     // its path, for the store's index
  std::shared_ptr<const CachedResponse> stale;
  http::RequestHeadersPtr request;  // the GET to send
  std::shared_ptr<MemoryStore> store;
  std::shared_ptr<Coalescer> coalescer;
  std::shared_ptr<std::atomic<uint64_t>[]> reported_evictions;  // kept with the store
  std::shared_ptr<CacheMetrics> metrics;
  // The filter's settings for the response.
  uint64_t max_object_bytes = 0;
  std::string tag_header;
  StalePolicy stale_defaults;
  HeuristicPolicy heuristic;
  std::optional<std::chrono::milliseconds> route_ttl;
  std::chrono::milliseconds timeout{15000};
  // The worker's Redis tier (null: none), which the refreshed entry goes to as well, when its body
  // is at most redis_max_object_bytes. It outlives the refresh (both are the worker's).
  RedisTier* tier = nullptr;
  uint64_t redis_max_object_bytes = 0;
};

class RefreshSet;

class Refresh final : public upstream::PoolCallbacks,
                      public upstream::UpstreamStreamCallbacks,
                      public event::DeferredDeletable {
 public:
  enum class Result : uint8_t { Stored, Uncacheable, Failed };

  Refresh(RefreshSet& owner, RefreshJob job, std::shared_ptr<upstream::ConnPool> pool,
          event::Dispatcher& dispatcher, const common::TimeSource& time);
  ~Refresh() override;
  Refresh(const Refresh&) = delete;
  Refresh& operator=(const Refresh&) = delete;

  void start();

  // upstream::PoolCallbacks
  void onPoolReady(upstream::UpstreamConnection& conn) override;
  void onPoolFailure(upstream::PoolFailure reason, const std::string& detail,
                     size_t endpoint) override;
  // upstream::UpstreamStreamCallbacks
  void onResponseHeaders(http::ResponseHeadersPtr headers, bool end_stream) override;
  void onBody(http::Buffer& data, bool end_stream) override;
  void onCodecError(const http::CodecError& error) override;
  void onUpstreamReset(event::CloseReason reason) override;
  void onUpstreamAboveWriteBufferHighWatermark() override {}
  void onUpstreamBelowWriteBufferLowWatermark() override {}

 private:
  std::shared_ptr<CachedResponse> entryFor(const http::ResponseHeaders& response,
                                           std::string& secondary) const;
  bool insert(std::shared_ptr<CachedResponse> entry, const std::string& secondary);
  // Ends the refresh: the coalescer hears the outcome, the connection goes back (kept when
  // `reusable`), and the owner drops this object after the current callback.
  void finish(Result result, bool reusable);

  RefreshSet& owner_;
  RefreshJob job_;
  std::shared_ptr<upstream::ConnPool> pool_;
  event::Dispatcher& dispatcher_;
  const common::TimeSource& time_;
  upstream::PoolHandle* pending_ = nullptr;
  upstream::UpstreamConnection* conn_ = nullptr;
  event::TimerPtr timer_;
  common::SystemTime sent_at_{};
  bool keep_alive_ = false;
  bool finished_ = false;
  // The response being stored (null when it is not) and its secondary key.
  std::shared_ptr<CachedResponse> storing_;
  std::string storing_secondary_;
  Result result_ = Result::Failed;
};

// The refreshes of one worker.
class RefreshSet {
 public:
  explicit RefreshSet(event::Dispatcher& dispatcher) : dispatcher_(dispatcher) {}
  ~RefreshSet();
  // Starts `job` on `pool`; the caller has led job.primary in job.coalescer.
  void start(RefreshJob job, std::shared_ptr<upstream::ConnPool> pool,
             const common::TimeSource& time);
  size_t active() const { return refreshes_.size(); }

 private:
  friend class Refresh;
  void done(Refresh* refresh);

  event::Dispatcher& dispatcher_;
  std::list<std::unique_ptr<Refresh>> refreshes_;
};

const char* refreshResultName(Refresh::Result result);

}  // namespace switchyard::filters::cache
