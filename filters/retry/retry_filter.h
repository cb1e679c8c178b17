#pragma once

// retry: the retry policy of upstream attempts (see retry_policy.h for the decisions).
//
// The filter makes nothing per request: retries happen per upstream attempt, which only the
// router sees. It provides the router's RetryPolicy (router/upstream_policy.h) through the filter
// API's hooks, as Envoy's router applies its route's retry policy:
//   - activate() claims each cluster's RetryCluster (its retry budget and counters) from the
//     server's runtime state, so budgets survive a reload, and applies the budget settings;
//   - contributePolicy() gives each (route, version, cluster) a RetryPolicy built from the
//     filter's configuration with the route's and version's blocks applied over it
//     (`routes[].filters: {retry: {...}}`); a policy with max_retries 0 is no policy at all;
//   - per request the router asks the policy for a RetryState (this file's RouterRetryState over
//     retry::RetryState), times each attempt with it, and after a failed attempt asks it whether
//     to retry and after how long.
// A chain takes one retry filter; its position in the chain has no effect.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "filters/registry.h"
#include "filters/retry/config.h"
#include "filters/retry/retry_policy.h"

namespace switchyard::filters::retry {

// The filter's block under a route or version: a whole RetryConfig, refined from the block it is
// written over.
class RetryRouteConfig final : public RouteFilterConfig {
 public:
  explicit RetryRouteConfig(RetryConfig config) : config_(std::move(config)) {}
  const RetryConfig& config() const { return config_; }
  nlohmann::json toJson() const override;

 private:
  const RetryConfig config_;
};

// The router's RetryPolicy for one (effective configuration, cluster).
class RetryPolicyImpl final : public router::RetryPolicy {
 public:
  RetryPolicyImpl(const RetryConfig& config, RetryCluster* cluster)
      : config_(config), cluster_(cluster) {}
  router::RetryStatePtr newRetryState(const http::RequestHeaders& request,
                                      common::MonotonicTime now, common::Duration route_timeout,
                                      router::RetryStateStorage& storage) const override;
  const RetryConfig& config() const { return config_; }
  RetryCluster* cluster() const { return cluster_; }

 private:
  const RetryConfig& config_;
  RetryCluster* const cluster_;
};

class RetryFilterFactory final : public FilterFactory {
 public:
  // Registers the retry metric families in `metrics` (null: count nothing, for tests).
  RetryFilterFactory(RetryConfig config, prometheus::Registry* metrics);

  nlohmann::json toJson() const override;
  RouteFilterConfigPtr parseRouteConfig(const YAML::Node& node, const std::string& path,
                                        const RouteFilterConfig* parent) const override;
  void activate(ActivationContext& ctx) const override;
  void contributePolicy(const PolicyTarget& target, router::UpstreamPolicy& policy) const override;
  void describeCluster(const std::string& cluster, ClusterView& view) const override;

  const RetryConfig& config() const { return config_; }
  // The budget and counters of `cluster` this factory claimed at activation; null before, or for
  // a cluster the configuration does not have.
  RetryCluster* clusterFor(const std::string& cluster) const;

 private:
  const RetryConfig config_;
  const std::unique_ptr<RetryMetrics> metrics_;
  // Bound by activate() and contributePolicy(), before any worker sees the factory; read-only
  // afterwards.
  mutable std::map<std::string, std::shared_ptr<RetryCluster>, std::less<>> clusters_;
  mutable std::vector<std::unique_ptr<RetryPolicyImpl>> policies_;
};

// The filter's FilterBuildFn: parses `node` (at ctx.path) and returns its factory.
FilterFactoryPtr buildRetryFilter(const YAML::Node& node, BuildContext& ctx);

// Adds "retry" to `registry`.
void registerRetryFilter(FilterRegistry& registry);

}  // namespace switchyard::filters::retry
