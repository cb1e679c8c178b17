#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "proxy/http/headers.h"
#include "proxy/router/weights.h"

namespace switchyard::stats {
struct RouteStats;
}
namespace switchyard::upstream {
class ConnPool;
}
namespace switchyard::filters::retry {
struct RetryConfig;
struct RetryCluster;
}  // namespace switchyard::filters::retry
namespace switchyard::filters::circuit_breaker {
struct ClusterCircuit;
}
namespace switchyard::rollback {
class Guard;
}

namespace switchyard::router {

// What the router applies to the attempts on one cluster, from the `retry` and
// `circuit_breaker` filters of the snapshot's chain (null when the chain has none). Owned by the
// filter factories, which the snapshot keeps alive.
struct ClusterPolicy {
  const filters::retry::RetryConfig* retry_config = nullptr;
  filters::retry::RetryCluster* retry = nullptr;
  filters::circuit_breaker::ClusterCircuit* circuit = nullptr;
};

// Where one route (or one version of a route) sends its requests.
struct Target {
  const config::TargetConfig* config;
  std::string version;                           // canonical ("v2"); empty for unversioned routes
  std::vector<upstream::ConnPool*> pools;        // in the split's order
  std::vector<const ClusterPolicy*> policies;    // same order
  std::vector<uint32_t> bounds;                  // sticky bucket ranges for the weights in effect
  std::string sticky_header;                     // lower-case; empty: the client address
  const config::DeprecationPolicy* deprecation;  // the version's, else the route's; may be null
  stats::RouteStats* stats;
  rollback::Guard* guard = nullptr;  // the rollback guard watching this route and version
};

struct RouteEntry {
  std::string name;
  std::string prefix;
  std::chrono::milliseconds timeout;  // 0: the chosen cluster's response_timeout
  std::string upstream_header;        // response header naming the cluster; empty: none
  bool versioned = false;
  std::vector<Target> targets;  // unversioned: one; versioned: one per version, in config order
  size_t default_target = 0;
  int pinned_target = -1;     // >= 0: every request takes this version (a rollback pinned it)
  std::string version_names;  // "v1, v2", for the 400 of an unknown version
  stats::RouteStats* unknown_stats;  // requests naming a version the route does not have
};

// The outcome of routing one request, made before the filter chain runs so that filters see
// the route, version and cluster. status != 0 means the request cannot be routed (404 no
// route, 400 unknown version): the router answers it after the filters have seen it.
struct RouteDecision {
  const RouteEntry* route = nullptr;
  const Target* target = nullptr;
  upstream::ConnPool* pool = nullptr;
  const ClusterPolicy* policy = nullptr;
  size_t cluster_slot = 0;  // index of the cluster in the target's split
  int status = 0;
  std::string detail;
};

// One worker's routes for one configuration snapshot. First prefix match wins, in
// configuration order. Built and used on the worker's thread only.
class RouteTable {
 public:
  using PoolLookup = std::function<std::pair<upstream::ConnPool*, const ClusterPolicy*>(
      const std::string& cluster)>;
  using StatsLookup =
      std::function<stats::RouteStats*(const std::string& route, const std::string& version)>;
  // The guard of a route's rollback plan, if any (it watches one version of the route).
  using GuardLookup = std::function<rollback::Guard*(const std::string& route)>;

  RouteTable(const config::Config& config, const PoolLookup& pools, const StatsLookup& stats,
             const GuardLookup& guards = nullptr);

  // Recomputes every split's bucket ranges from the overrides (or the configuration where there
  // is none) and the pinned versions, and remembers the overrides' generation.
  void applyWeights(const WeightOverrides& overrides);
  uint64_t weightsGeneration() const { return weights_generation_; }

  // Matches the path, resolves the version (the pinned one; else X-API-Version, else a "/vN/"
  // path segment, else the route's default) and picks the cluster (sticky by the target's header,
  // else `client`).
  void resolve(const http::RequestHeaders& request, std::string_view client,
               RouteDecision& out) const;

  const RouteEntry* match(std::string_view path) const;
  size_t size() const { return routes_.size(); }
  const RouteEntry& route(size_t i) const { return routes_[i]; }

 private:
  std::vector<RouteEntry> routes_;
  uint64_t weights_generation_ = 0;
};

}  // namespace switchyard::router
