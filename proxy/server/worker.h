#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "filters/registry.h"
#include "proxy/common/random.h"
#include "proxy/event/connection.h"
#include "proxy/event/dispatcher.h"
#include "proxy/event/memory.h"
#include "proxy/redis/client.h"
#include "proxy/router/route_table.h"
#include "proxy/router/router.h"
#include "proxy/router/weights.h"
#include "proxy/server/active_config.h"
#include "proxy/server/idle_connections.h"
#include "proxy/stats/stats.h"
#include "proxy/upstream/conn_pool.h"

namespace switchyard::tracing {
class Sampler;
class BatchSpanExporter;
}  // namespace switchyard::tracing
namespace switchyard::accesslog {
class AccessLogWriter;
}

namespace switchyard::server {

class HttpConnectionManager;

// Where finished requests are reported besides metrics; shared by the workers, each part
// thread-safe. A null part is switched off.
struct Observability {
  const tracing::Sampler* sampler = nullptr;       // tracing on: make and propagate trace context
  tracing::BatchSpanExporter* exporter = nullptr;  // sampled spans go here
  accesslog::AccessLogWriter* access_log = nullptr;
  // Who watches a route's version (the rollback guards); null: nobody. Stable for the process.
  router::RouteTable::ObserverLookup observers;
  // Who watches one cluster of a route version's split (gated rollouts); null: nobody. Stable
  // for the process.
  router::RouteTable::ClusterObserverLookup cluster_observers;
};

// Shared by the workers: one per configured listener.
struct ListenerShared {
  size_t index;
  const config::ListenerConfig& config;
  prometheus::Gauge& active_connections;
  prometheus::Counter& accepted;
  prometheus::Counter& rejected_limit;
  // Requests with '_' in a header name, labelled with what the listener does with them.
  prometheus::Counter& underscore_headers;
  prometheus::Counter& evicted;  // waiting connections closed for a new one at a limit
  prometheus::Counter& shed;     // requests refused over the buffer-memory limit
  // Every listener's connections together, and its limit (config `overload:`).
  std::atomic<uint32_t>& all_connections;
  const config::OverloadConfig& overload;
  std::atomic<uint32_t> connections{0};
  // TLS listeners only: handshakes (by version and cipher suite, a series made at the first
  // handshake of each pair) and failures by reason (indexed by event::TlsFailure).
  prometheus::Family<prometheus::Counter>* tls_handshakes = nullptr;
  std::array<prometheus::Counter*, 7> tls_failures{};

  // A connection of this listener is gone (closed, after it was counted at accept).
  void connectionClosed() {
    active_connections.Decrement();
    connections.fetch_sub(1, std::memory_order_relaxed);
    all_connections.fetch_sub(1, std::memory_order_relaxed);
  }
};

// What a stream runs under: one configuration and this worker's routes, pools and filter objects
// for it. A stream holds its snapshot until it ends, so a reload changes nothing under a request
// in flight; a pool whose cluster did not change is shared with the next snapshot (its idle
// connections survive the reload), others close when the last stream using them ends.
struct WorkerSnapshot {
  ActiveConfigPtr active;
  config::ConfigConstSharedPtr config;                     // active->config
  std::vector<std::shared_ptr<upstream::ConnPool>> pools;  // same order as config->clusters
  // The chain's filters that run per request, in order, each with this worker's object for it.
  struct StreamFilter {
    const filters::FilterFactory* factory;
    filters::WorkerLocal* local;
  };
  std::vector<StreamFilter> stream_filters;
  // This worker's object of each filter of the chain (by position; null where none).
  std::vector<filters::WorkerLocalPtr> locals;
  std::unique_ptr<router::RouteTable> routes;
};
using WorkerSnapshotPtr = std::shared_ptr<WorkerSnapshot>;

// One thread, one event loop: accepts on its own SO_REUSEPORT sockets, owns its client
// connections, its upstream pools and its caches of metric pointers. Nothing on the request
// path is shared with other workers except metric families, the immutable configuration and
// the weight overrides' generation counter.
class Worker {
 public:
  Worker(uint32_t index, ActiveConfigPtr config, stats::ProxyStats& stats,
         std::vector<std::unique_ptr<ListenerShared>>& listeners, std::vector<int> listen_fds,
         const common::TimeSource& time, const router::WeightOverrides& overrides,
         const Observability& observability, redis::RedisStats* redis_stats = nullptr);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the thread, which makes its Redis client (with `redis:` and `redis_stats`) and
  // installs the first configuration (making the filters' worker-local objects on it) before it
  // serves anything.
  void start();
  // Stops accepting and lets connections finish their current request (thread-safe).
  void drain();
  // Releases the worker's configuration and filter objects, then its Redis client, on its
  // thread, ends the loop and joins the thread (thread-safe; call after drain() has had its
  // time).
  void stop();
  // New requests run under `config` from the next turn of the loop on (thread-safe). The
  // listeners and the worker count are not taken from it: those need a restart.
  void installConfig(ActiveConfigPtr config);
  // Runs fn(local) on the worker's thread with its object for the chain entry `key` (see
  // localKey(); null when it has none). Thread-safe; fn runs later, in order with other posts.
  void postToLocal(const std::string& key, std::function<void(filters::WorkerLocal*)> fn);
  // The key of the chain entry at `position` of `config`: its name and how many entries of the
  // same name come before it ("cache#0"). Worker-local objects are kept across reloads by key.
  static std::string localKey(const config::Config& config, size_t position);
  // Open client connections on this worker (thread-safe read).
  uint32_t activeConnections() const { return active_.load(std::memory_order_relaxed); }
  // Where this worker's Redis client is, for /health (thread-safe read; "stopped" without one).
  const redis::ClientStatus& redisStatus() const { return redis_status_; }

  // For the connections of this worker, on its thread.
  event::LibeventDispatcher& dispatcher() { return dispatcher_; }
  common::Random& random() { return random_; }
  // The snapshot new streams run under, with the split weights brought up to date.
  const WorkerSnapshotPtr& snapshot() {
    if (overrides_.generation() != snapshot_->routes->weightsGeneration()) {
      snapshot_->routes->applyWeights(overrides_);
    }
    return snapshot_;
  }
  router::RouterContext& routerContext() { return router_ctx_; }
  filters::WorkerContext& filterContext() { return filter_ctx_; }
  const Observability& observability() const { return observability_; }
  // For requests that never matched a route.
  stats::RouteStats& unmatchedStats() { return *unmatched_stats_; }
  prometheus::Counter& rejectedStats(size_t listener, int status) {
    return rejected_[listener]->get(status);
  }
  bool draining() const { return draining_; }
  void removeConnection(HttpConnectionManager& conn);
  // `conn` gave its socket up while idle: IdleConnections holds it (still open) and `conn` goes.
  void parkConnection(HttpConnectionManager& conn, ListenerShared& listener, int fd,
                      std::string peer, uint32_t requests, std::chrono::milliseconds idle_for);
  // Memory held in this worker's buffers and events (thread-safe; see event::eventBytes()).
  int64_t bufferBytes() const { return event::eventBytes(memory_counter_.load()); }
  // Parked keep-alive connections (on the worker's thread).
  size_t parkedConnections() const { return idle_.size(); }

 private:
  struct Listener;
  static void onAccept(int fd, short what, void* arg) noexcept;
  void acceptOn(Listener& l);
  // At a connection limit: closes the oldest connection of this worker that waits for a request
  // (of `listener`, or of any listener when null) so a new one can take its place. False when
  // there is none.
  bool evictWaiting(const ListenerShared* listener);
  // A parked connection's client sent again (or closed): a new manager takes the socket.
  void wakeConnection(ListenerShared& listener, int fd, std::string peer, uint32_t requests);
  void doDrain();
  WorkerSnapshotPtr buildSnapshot(ActiveConfigPtr config);
  stats::RouteStats* routeStats(const std::string& route, const std::string& version);

  const uint32_t index_;
  stats::ProxyStats& stats_;
  const router::WeightOverrides& overrides_;
  const Observability& observability_;
  event::LibeventDispatcher dispatcher_;
  event::LibeventConnector connector_{dispatcher_.base()};  // the pools' upstream connections
  common::RealRandom random_;
  redis::RedisStats* const redis_stats_;
  redis::ClientStatus redis_status_;
  std::unique_ptr<redis::Client> redis_;  // made and destroyed on the worker's thread
  // Metric pointers by cluster / "route\nversion", kept across reloads.
  std::map<std::string, std::unique_ptr<stats::ClusterStats>> cluster_stats_;
  std::map<std::string, std::unique_ptr<stats::RouteStats>> route_stats_;
  stats::RouteStats* unmatched_stats_;
  ActiveConfigPtr initial_;  // installed by the thread at start()
  WorkerSnapshotPtr snapshot_;
  // The filters' worker-local objects by localKey(), kept from one configuration to the next.
  std::map<std::string, filters::WorkerLocalPtr> locals_;
  router::RouterContext router_ctx_;
  filters::WorkerContext filter_ctx_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::unique_ptr<stats::CodeCounters>> rejected_;  // per listener
  std::list<std::unique_ptr<HttpConnectionManager>> connections_;
  std::atomic<uint32_t> active_{0};
  std::atomic<uint32_t> memory_counter_{0};  // event::threadEventCounter() of the thread
  IdleConnections idle_;                     // after dispatcher_: its events go first
  bool draining_ = false;
  std::thread thread_;
};

// Opens a listening socket with SO_REUSEPORT (one per worker per listener); throws
// std::runtime_error naming the address on failure.
int openListenSocket(const config::SocketAddress& address);

}  // namespace switchyard::server
