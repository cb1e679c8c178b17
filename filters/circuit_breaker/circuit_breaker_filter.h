#pragma once

// circuit_breaker: per-cluster circuit breakers and bulkheads (see circuit_breaker.h and
// bulkhead.h for the state machines).
//
// The filter in the chain does nothing to a request: the breaker judges upstream attempts, which
// only the router sees. The router finds this filter's factory in the configuration snapshot and
// applies it on every attempt:
//   - once per cluster and worker it caches `ClusterCircuit& c = factory.clusterFor(name)`;
//   - per request it holds a BulkheadGuard(c.requests) (a refusal is a 503), and per retry a
//     BulkheadGuard(c.retries) (a refusal ends the retries);
//   - per attempt it asks c.breaker.admit(now): Rejected becomes a 503 with Retry-After (or a
//     stale cached response); an admitted attempt is reported with onResult(now, success,
//     admission.probe()), or onCancelled() when it ends without a verdict.
// create() therefore returns a pass-through filter, so the filter's position in the chain has no
// effect.

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "filters/circuit_breaker/bulkhead.h"
#include "filters/circuit_breaker/circuit_breaker.h"
#include "filters/circuit_breaker/config.h"
#include "filters/registry.h"

namespace switchyard::filters::circuit_breaker {

// One cluster's breaker and bulkheads, shared by every worker. Owned by the filter factory;
// lives as long as the configuration.
struct ClusterCircuit {
  // `metrics` may be null (count nothing).
  ClusterCircuit(const std::string& name, const BreakerSettings& settings, BreakerMetrics* metrics);

  // {breaker snapshot..., "concurrent_requests": {"active", "limit"},
  //  "concurrent_retries": {"active", "limit"}}
  nlohmann::json snapshot(common::MonotonicTime now) const;

  const std::string name;
  CircuitBreaker breaker;
  Bulkhead requests;  // max_concurrent_requests
  Bulkhead retries;   // max_concurrent_retries
};

class CircuitBreakerFilterFactory final : public FilterFactory {
 public:
  // Registers the breaker metric families in `metrics` (null: count nothing, for tests), and
  // makes the state of every cluster the configuration names. `time` is read only by the
  // argument-less clustersJson(), and must outlive the factory.
  CircuitBreakerFilterFactory(CircuitBreakerConfig config, prometheus::Registry* metrics,
                              const common::TimeSource& time);

  http::StreamFilterPtr create(WorkerContext& ctx) const override;
  nlohmann::json toJson() const override;
  // The router applies this policy; no per-request filter is needed.
  bool createsStreamFilters() const override { return false; }

  const CircuitBreakerConfig& config() const { return config_; }
  // The breaker and bulkheads of `cluster` (with the cluster's own settings, if the
  // configuration has some), made on first use and kept as long as the factory. Thread-safe,
  // but it takes a lock: callers keep the reference rather than look it up per request.
  ClusterCircuit& clusterFor(const std::string& cluster) const;
  CircuitBreaker& breakerFor(const std::string& cluster) const {
    return clusterFor(cluster).breaker;
  }
  // Makes the state of these clusters now, so their metrics and admin entries exist before any
  // traffic (the router passes every configured cluster).
  void prepareClusters(const std::vector<std::string>& clusters) const;
  // {"<cluster>": ClusterCircuit::snapshot()} for the admin /clusters page.
  nlohmann::json clustersJson(common::MonotonicTime now) const;
  nlohmann::json clustersJson() const { return clustersJson(time_.monotonicNow()); }

 private:
  const CircuitBreakerConfig config_;
  const std::unique_ptr<BreakerMetrics> metrics_;
  const common::TimeSource& time_;
  mutable std::shared_mutex mutex_;
  mutable std::map<std::string, std::unique_ptr<ClusterCircuit>, std::less<>> clusters_;
};

// The filter's FilterBuildFn: parses `node` (at ctx.path) and returns its factory.
FilterFactoryPtr buildCircuitBreakerFilter(const YAML::Node& node, BuildContext& ctx);

// Adds "circuit_breaker" to `registry`.
void registerCircuitBreakerFilter(FilterRegistry& registry);

}  // namespace switchyard::filters::circuit_breaker
