#pragma once

// retry: the retry policy of upstream attempts (see retry_policy.h for the decisions).
//
// The filter in the chain does nothing to a request: retries happen per upstream attempt, which
// only the router sees. The router finds this filter's factory in the configuration snapshot and
// applies it, as Envoy's router applies its route's retry policy:
//   - once per cluster and worker it caches `RetryCluster& c = factory.clusterFor(name)`;
//   - per request it builds a RetryState(factory.config(), &c, request, bodyFitsReplay(...),
//     now, route timeout) and times each attempt with attemptTimeout() / the decision's
//     attempt_timeout;
//   - after a failed attempt (connect failure, reset, per-try timeout, or a response whose status
//     config().retriableStatus() names, held back from the client) it calls onAttemptFailed()
//     and retries after `delay`, or passes the failure on.
// create() therefore returns a pass-through filter, so the filter's position in the chain has no
// effect.

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>

#include "filters/registry.h"
#include "filters/retry/config.h"
#include "filters/retry/retry_policy.h"

namespace switchyard::filters::retry {

class RetryFilterFactory final : public FilterFactory {
 public:
  // Registers the retry metric families in `metrics` (null: count nothing, for tests).
  RetryFilterFactory(RetryConfig config, prometheus::Registry* metrics);

  http::StreamFilterPtr create(WorkerContext& ctx) const override;
  nlohmann::json toJson() const override;
  // The router applies this policy; no per-request filter is needed.
  bool createsStreamFilters() const override { return false; }

  const RetryConfig& config() const { return config_; }
  // The budget and counters of `cluster`, made on first use and kept as long as the factory.
  // Thread-safe, but it takes a lock: callers keep the reference rather than look it up per
  // request.
  RetryCluster& clusterFor(const std::string& cluster) const;
  RetryBudget& budgetFor(const std::string& cluster) const { return clusterFor(cluster).budget; }
  // {"<cluster>": {"active_requests", "active_retries", "retry_limit"}} for the admin API.
  nlohmann::json clustersJson() const;

 private:
  const RetryConfig config_;
  const std::unique_ptr<RetryMetrics> metrics_;
  mutable std::shared_mutex mutex_;
  mutable std::map<std::string, std::unique_ptr<RetryCluster>, std::less<>> clusters_;
};

// The filter's FilterBuildFn: parses `node` (at ctx.path) and returns its factory.
FilterFactoryPtr buildRetryFilter(const YAML::Node& node, BuildContext& ctx);

// Adds "retry" to `registry`.
void registerRetryFilter(FilterRegistry& registry);

}  // namespace switchyard::filters::retry
