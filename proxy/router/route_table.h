#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "proxy/common/time.h"
#include "proxy/http/filter.h"
#include "proxy/http/headers.h"
#include "proxy/router/request_observer.h"
#include "proxy/router/sticky.h"
#include "proxy/router/upstream_policy.h"
#include "proxy/router/weights.h"

namespace switchyard::stats {
struct RouteStats;
}
namespace switchyard::upstream {
class ConnPool;
}

namespace switchyard::router {

// Where one route (or one version of a route) sends its requests.
struct Target {
  const config::TargetConfig* config;
  std::string version;                     // canonical ("v2"); empty for unversioned routes
  std::vector<upstream::ConnPool*> pools;  // in the split's order
  std::vector<const config::ClusterConfig*> clusters;  // same order: the pools' clusters
  std::vector<const UpstreamPolicy*> policies;         // same order; never null
  std::vector<uint32_t> bounds;  // sticky bucket ranges for the weights in effect
  std::string sticky_header;     // lower-case; empty: the client address
  std::string sticky_claim;      // a verified identity's claim; see config::TargetConfig
  // Test users forced to a cluster of the split (config::TargetConfig::force); null: none.
  const config::ForcedKeys* forced = nullptr;
  // The path rewrite of each cluster of the split, same order (the entry's own, else the
  // target's; null entries for none); empty when every one would be null.
  std::vector<const config::PathRewrite*> rewrites;
  // The fallback version's target and its settings; null without `fallback`.
  const Target* fallback = nullptr;
  const config::FallbackConfig* fallback_config = nullptr;
  // A rewrite or a fallback: the router looks at neither when false (one test per request).
  bool extras = false;
  const config::DeprecationPolicy* deprecation;  // the version's, else the route's; may be null
  stats::RouteStats* stats;
  RequestObserver* observer = nullptr;  // e.g. the rollback guard watching this version
  // Per cluster of the split, same order (e.g. a gated rollout comparing its two sides); empty
  // when nobody watches any of them.
  std::vector<RequestObserver*> cluster_observers;
  // The route's (or version's) blocks of the filters that run per request, in chain order;
  // null entries for filters without one; empty when none has one. See
  // FilterManager::setRouteConfigs().
  std::vector<const http::RouteFilterConfig*> filter_configs;
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
  const config::ClusterConfig* cluster = nullptr;  // the pool's cluster
  const UpstreamPolicy* policy = nullptr;
  size_t cluster_slot = 0;  // index of the cluster in the target's split
  int status = 0;
  std::string detail;
};

// One worker's routes for one configuration snapshot. First prefix match wins, in
// configuration order. Built and used on the worker's thread only.
class RouteTable {
 public:
  using PoolLookup = std::function<upstream::ConnPool*(const std::string& cluster)>;
  // The policies of (route, version, cluster); null means none (an empty policy is used).
  using PolicyLookup = std::function<const UpstreamPolicy*(
      const std::string& route, const std::string& version, const std::string& cluster)>;
  using StatsLookup =
      std::function<stats::RouteStats*(const std::string& route, const std::string& version)>;
  // Who watches a route's version, if anyone.
  using ObserverLookup =
      std::function<RequestObserver*(const std::string& route, const std::string& version)>;
  // Who watches one cluster of a route version's split, if anyone.
  using ClusterObserverLookup = std::function<RequestObserver*(
      const std::string& route, const std::string& version, const std::string& cluster)>;

  RouteTable(const config::Config& config, const PoolLookup& pools, const PolicyLookup& policies,
             const StatsLookup& stats, const ObserverLookup& observers = nullptr,
             const ClusterObserverLookup& cluster_observers = nullptr);
  // Targets point at each other (a version's fallback): moved, never copied.
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;
  RouteTable(RouteTable&&) = default;
  RouteTable& operator=(RouteTable&&) = default;

  // Recomputes every split's bucket ranges from the overrides (or the configuration where there
  // is none) and the pinned versions, and remembers the overrides' generation.
  void applyWeights(const WeightOverrides& overrides);
  uint64_t weightsGeneration() const { return weights_generation_; }

  // Matches the path, resolves the version (the pinned one; else X-API-Version, else a "/vN/"
  // path segment, else the route's default) and picks the cluster (sticky by the target's header,
  // else `client`; a split sticky by a claim uses `client` until reselected, see pickCluster()).
  void resolve(const http::RequestHeaders& request, std::string_view client,
               RouteDecision& out) const;

  // Picks the cluster of `target`'s split for the sticky `key` into `out` (cluster_slot, pool,
  // cluster, policy). resolve() does it with the target's key; the stream does it again for a
  // split sticky by a claim once a filter has verified the request's identity.
  // Inline: resolve() runs it for every request.
  // A key forced to a cluster (test users) goes there whatever the weights.
  static void pickCluster(const Target& target, std::string_view key, RouteDecision& out) {
    size_t slot = 0;
    if (target.pools.size() > 1) {
      slot = pickByBucket(target.bounds, stickyBucket(key));
      if (target.forced != nullptr) slot = forcedSlot(*target.forced, key, slot);
    }
    out.cluster_slot = slot;
    out.pool = target.pools[slot];
    out.cluster = target.clusters[slot];
    out.policy = target.policies[slot];
  }

  static size_t forcedSlot(const config::ForcedKeys& forced, std::string_view key, size_t slot) {
    const int found = forced.find(key);
    return found >= 0 ? static_cast<size_t>(found) : slot;
  }

  const RouteEntry* match(std::string_view path) const;
  size_t size() const { return routes_.size(); }
  const RouteEntry& route(size_t i) const { return routes_[i]; }

 private:
  std::vector<RouteEntry> routes_;
  uint64_t weights_generation_ = 0;
};

}  // namespace switchyard::router
