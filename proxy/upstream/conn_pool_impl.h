#pragma once

#include <cstddef>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/event/connector.h"
#include "proxy/event/dispatcher.h"
#include "proxy/stats/stats.h"
#include "proxy/upstream/cluster_endpoints.h"
#include "proxy/upstream/conn_pool.h"
#include "proxy/upstream/endpoint_health.h"

namespace switchyard::upstream {

// Connections to one cluster from one worker (the bulkhead): at most max_connections open, at
// most max_pending_requests waiting for one, round-robin over the endpoints for new
// connections and for picking an idle one. A connection that does not connect within
// connect_timeout fails one waiting request; an idle one is closed after idle_timeout, or when
// its server sends anything; one is closed after max_requests_per_connection requests.
//
// Opens connections through `connector` and arms timers on `dispatcher`, both of which must
// outlive the pool; a connection the pool closes is deleted deferred, through the dispatcher.
// Destroying the pool closes every connection without a callback and drops pending requests
// silently: by then no request may be using it.
class ConnPoolImpl final : public ConnPool {
 public:
  // `endpoints` is the cluster's current endpoint list (DNS, health); null: the configured
  // addresses, all usable.
  ConnPoolImpl(event::Dispatcher& dispatcher, event::Connector& connector,
               const config::ClusterConfig& config, stats::ClusterStats& stats,
               std::shared_ptr<ClusterEndpoints> endpoints = nullptr);
  ~ConnPoolImpl() override;
  ConnPoolImpl(const ConnPoolImpl&) = delete;
  ConnPoolImpl& operator=(const ConnPoolImpl&) = delete;

  PoolHandle* newStream(PoolCallbacks& cb, size_t avoid) override;
  void release(UpstreamConnection& conn, bool reusable) override;
  void closeIdle() override;
  void reportOutcome(size_t endpoint, UpstreamOutcome outcome) override;
  const std::shared_ptr<ClusterEndpoints>& endpoints() const override { return endpoints_; }

  const config::ClusterConfig& config() const override { return config_; }
  stats::ClusterStats& stats() override { return stats_; }
  event::Dispatcher& dispatcher() override { return dispatcher_; }
  size_t openConnections() const override { return conns_.size(); }
  size_t pendingRequests() const override { return pending_.size(); }

 private:
  class ActiveConnection;
  class Pending;

  bool createConnection(size_t endpoint, std::string& error);
  void onConnectionReady(ActiveConnection& conn);
  void onConnectionClosed(ActiveConnection& conn, event::CloseReason reason, bool was_connecting,
                          bool connect_timeout);
  void makeIdle(ActiveConnection& conn);
  void removeIdle(ActiveConnection& conn);
  void destroyConnection(ActiveConnection& conn);
  void failOnePending(PoolFailure reason, const std::string& detail, size_t endpoint);
  void openForWaiting();
  // Takes the cluster's new endpoint list: connections follow their address, or are retired.
  void adoptEndpoints();
  // Round robin: the next endpoint if it has never been marked (inline, no clock), else a full
  // turn over those health allows.
  size_t nextEndpoint() {
    const size_t first = rr_;
    rr_ = first + 1 == endpoint_count_ ? 0 : first + 1;
    return health_->clear(first) ? first : nextUsableEndpoint(first);
  }
  size_t nextUsableEndpoint(size_t first);
  // The outcome of a response on `endpoint`, when passive ejection watches the cluster.
  void recordResponse(size_t endpoint, int status) {
    if (reports_outcomes_) {
      ClusterEndpoints::report(
          *list_, endpoint,
          status >= 500 ? UpstreamOutcome::ServerError : UpstreamOutcome::Success);
    }
  }

  event::Dispatcher& dispatcher_;
  event::Connector& connector_;
  const config::ClusterConfig config_;
  stats::ClusterStats& stats_;
  const std::shared_ptr<ClusterEndpoints> endpoints_;
  uint64_t version_;      // of endpoints_ when list_ was taken
  EndpointListPtr list_;  // what endpoint indices refer to
  // list_'s health and size, read by every request.
  const EndpointHealth* health_;
  size_t endpoint_count_;
  bool reports_outcomes_;  // list_ has an outlier monitor to report to
  std::list<std::unique_ptr<ActiveConnection>> conns_;
  std::vector<std::vector<ActiveConnection*>> idle_;  // per endpoint, most recent last
  std::deque<std::unique_ptr<Pending>> pending_;
  size_t connecting_ = 0;
  size_t rr_ = 0;
  // TLS clusters: the last session of each endpoint, resumed by its next connection.
  event::TlsSessionCache sessions_;
};

}  // namespace switchyard::upstream
