#pragma once

// The admin pages that show and change the proxy's traffic state: /clusters, /health, /routes
// and POST /routes/weights. Each is a function of what it shows, so it is tested without a
// server; the server registers them (server.cc) and calls them on the admin thread.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/redis/stats.h"
#include "proxy/router/weights.h"
#include "proxy/server/endpoint_prober.h"
#include "proxy/stats/traffic_window.h"

namespace switchyard::stats {
struct ProxyStats;
}
namespace switchyard::tracing {
class BatchSpanExporter;
}

namespace switchyard::server {

// GET /clusters: {"clusters": [{name, endpoints, connections, and what each filter adds (its
// circuit breaker, its retry budget)}]}. `degraded` (optional) gets the clusters a filter sees
// as unhealthy.
// `endpoints` (optional) are the cluster manager's views of the clusters' current endpoints
// (upstream::ClusterManager::clusterViews()): shown as each cluster's "addresses" (with their
// health), "resolved" and "dns".
nlohmann::json clustersView(const config::Config& config, stats::ProxyStats& stats,
                            std::map<std::string, bool>* degraded = nullptr,
                            const std::map<std::string, nlohmann::json>* endpoints = nullptr);

struct HealthInputs {
  const config::Config& config;
  stats::ProxyStats& stats;
  std::map<std::string, std::vector<EndpointProber::Result>> endpoints;  // by cluster
  const tracing::BatchSpanExporter* exporter = nullptr;                  // null: tracing off
  // Each planned route's rollback state ("active", "rolled_back", ...); null: no plans.
  const std::map<std::string, std::string>* rollback = nullptr;
  bool ready = false;
  // Redis: its address and each worker's client; null without a `redis:` block.
  struct Redis {
    std::string address;
    std::vector<redis::ClientStatus::View> workers;
  };
  const Redis* redis = nullptr;
  // The cluster manager's views (see clustersView()); a cluster with health checks or endpoint
  // names is judged by them instead of the reachability probes.
  const std::map<std::string, nlohmann::json>* clusters = nullptr;
};
// GET /health: each cluster (its endpoints' health checks where it has them, else whether each was
// reachable at the last probe; breaker state), the trace
// exporter, the rollback state, Redis (each worker's connection: "ok" when all are connected,
// "down" when none is, else "degraded"), and an overall status: "ok"; "degraded" when an
// endpoint is unreachable, a filter sees a cluster as unhealthy, the exporter fails, a route is
// rolled back or a worker has no Redis connection (requests are still served without it);
// "down" (with `status` 503) when a cluster has no reachable endpoint.
nlohmann::json healthView(const HealthInputs& in, int& status);

// GET /routes: every route with its splits, the weights in effect and whether they are
// overridden, the pinned version, deprecation, and (versioned routes) the state of the route's
// gated rollout from `rollouts` (route -> state; null for a route without one, see GET /rollout).
// GET /traffic: the last minute per route version and per cluster (TrafficWindow's sources in
// that order): {"window_seconds", "routes": [{route, version, requests, requests_per_second,
// errors, error_ratio, p95_ms}], "clusters": [{cluster, ...}]}; ratios and p95 null without
// requests.
nlohmann::json trafficView(const stats::TrafficWindow::Result& result);

nlohmann::json routesView(const config::Config& config, const router::WeightOverrides& overrides,
                          const std::map<std::string, std::string>* rollouts = nullptr);

struct AdminResult {
  int status = 200;
  nlohmann::json body;  // {"error": ...} when status is not 200
};
// POST /routes/weights {"route": "api", "version": "v2", "weights": {"modern": 20, ...}} sets an
// override; "weights": null clears it. 400 for a malformed body or an override that does not fit
// the split, 404 for a route or version that does not exist.
AdminResult setWeightsRequest(const nlohmann::json& body, const config::Config& config,
                              router::WeightOverrides& overrides);

}  // namespace switchyard::server
