#pragma once

// Keeps every cluster's endpoint list (upstream/cluster_endpoints.h) up to date, off the data
// path, on one dispatcher (the main thread's loop): it looks the endpoints' names up (DNS, with
// c-ares), probes the endpoints (health_check), ejects the ones that keep failing requests
// (outlier_detection), and publishes each new list and health to the workers' pools.
//
// Threads: apply(), clusterViews() and the metrics' families are for any thread; everything else
// runs on the dispatcher's thread. The manager must be destroyed on that thread (or after its
// loop has stopped), after the workers are gone.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/common/random.h"
#include "proxy/event/connection.h"
#include "proxy/event/dispatcher.h"
#include "proxy/upstream/cluster_endpoints.h"

namespace switchyard::upstream {

class DnsResolver;
class HttpProber;

class ClusterManager {
 public:
  // Whether every endpoint of a cluster with health checks has failed them (the rollback
  // trigger), called on the dispatcher's thread when that changes.
  using HealthListener = std::function<void(
      const std::string& cluster, bool every_endpoint_unhealthy, const std::string& detail)>;

  ClusterManager(event::LibeventDispatcher& dispatcher, std::optional<DnsConfig> dns,
                 prometheus::Registry& registry);
  ~ClusterManager();
  ClusterManager(const ClusterManager&) = delete;
  ClusterManager& operator=(const ClusterManager&) = delete;

  // Any thread, before the dispatcher runs or while it does: the endpoints of `config`'s
  // clusters, in its order. A cluster whose endpoints, health_check and outlier_detection did
  // not change keeps its object (its DNS answers and health verdicts with it); the others get
  // new ones, whose lookups and probes start on the dispatcher.
  std::vector<std::shared_ptr<ClusterEndpoints>> apply(const config::Config& config);

  // Set before the dispatcher runs.
  void setHealthListener(HealthListener listener) { listener_ = std::move(listener); }

  // Any thread: each cluster's endpoints as of the last change, for GET /clusters and /health:
  // {"endpoints": [{"address", "healthy", "active_health", "ejected", "consecutive_failures"}],
  //  "dns": [...], "resolved", "health_check": bool}.
  std::map<std::string, nlohmann::json> clusterViews() const;

 private:
  struct Cluster;

  void start(const std::shared_ptr<Cluster>& cluster);
  void stop(Cluster& cluster);
  // The cluster's addresses changed (a DNS answer): a new list, health carried over.
  void rebuild(Cluster& cluster);
  // Publishes the cluster's current list to the workers (same addresses, or new ones).
  void publish(Cluster& cluster);
  void onHealthChanged(Cluster& cluster);
  // Gauges and the admin view of one cluster, on the dispatcher's thread.
  void refreshView(Cluster& cluster);
  void collect();
  DnsResolver& resolver();

  event::LibeventDispatcher& dispatcher_;
  const std::optional<DnsConfig> dns_config_;
  HealthListener listener_;
  common::RealRandom random_;
  // Made on the dispatcher's thread when first needed.
  std::unique_ptr<DnsResolver> resolver_;
  std::unique_ptr<event::LibeventConnector> connector_;
  std::unique_ptr<HttpProber> prober_;
  event::TimerPtr collect_timer_;

  prometheus::Family<prometheus::Gauge>& endpoint_healthy_;
  prometheus::Family<prometheus::Gauge>& check_failures_;
  prometheus::Family<prometheus::Gauge>& endpoints_;
  prometheus::Family<prometheus::Counter>& health_checks_;
  prometheus::Family<prometheus::Counter>& ejections_;
  prometheus::Family<prometheus::Counter>& dns_resolutions_;

  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Cluster>> clusters_;  // by name; under mutex_
  std::map<std::string, nlohmann::json> views_;               // under mutex_
};

}  // namespace switchyard::upstream
