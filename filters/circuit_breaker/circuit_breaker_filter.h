#pragma once

// circuit_breaker: per-cluster circuit breakers and bulkheads (see circuit_breaker.h and
// bulkhead.h for the state machines).
//
// The filter makes nothing per request: the breaker judges upstream attempts, which only the
// router sees. It provides the router's AdmissionControl (router/upstream_policy.h) through the
// filter API's hooks:
//   - activate() claims each configured cluster's ClusterCircuit (breaker and bulkheads) from the
//     server's runtime state and applies the cluster's settings to it, so an open breaker stays
//     open across a reload and a bulkhead counts the requests of every configuration against one
//     limit; state of a cluster the configuration no longer has is retired with its metric series;
//   - contributePolicy() gives every (route, version, cluster) the cluster's AdmissionControl:
//     per request the router holds a request slot (a refusal is a 503), per retry a retry slot (a
//     refusal ends the retries), and per attempt it asks admit(): Rejected becomes a 503 with
//     Retry-After (or a stale cached response, from a filter that replaces it); an admitted
//     attempt is reported with onResult() or onCancelled();
//   - validate() rejects `clusters.<name>` entries naming a cluster the configuration lacks.
// A chain takes one circuit_breaker filter; its position in the chain has no effect.

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "filters/circuit_breaker/bulkhead.h"
#include "filters/circuit_breaker/circuit_breaker.h"
#include "filters/circuit_breaker/config.h"
#include "filters/registry.h"
#include "proxy/upstream/runtime_state.h"

namespace switchyard::filters::circuit_breaker {

// One cluster's breaker and bulkheads, shared by every worker. Runtime state: it outlives
// configuration reloads (see upstream::RuntimeStateRegistry).
struct ClusterCircuit final : public upstream::RuntimeState {
  // `metrics` may be null (count nothing).
  ClusterCircuit(const std::string& name, const BreakerSettings& settings,
                 std::shared_ptr<BreakerMetrics> metrics);
  // Removes the cluster's metric series: a retired cluster must not keep reporting a state.
  ~ClusterCircuit() override;
  // New settings from a reload; the breaker's state and the slots in use are kept.
  void reconfigure(const BreakerSettings& settings);

  // {breaker snapshot..., "concurrent_requests": {"active", "limit"},
  //  "concurrent_retries": {"active", "limit"}}
  nlohmann::json snapshot(common::MonotonicTime now) const;

  const std::string name;
  CircuitBreaker breaker;
  Bulkhead requests;  // max_concurrent_requests
  Bulkhead retries;   // max_concurrent_retries

 private:
  const std::shared_ptr<BreakerMetrics> metrics_;
};

// The router's AdmissionControl for one cluster under one configuration: that configuration's
// settings (which statuses are failures) over the cluster's shared state.
class ClusterAdmission final : public router::AdmissionControl {
 public:
  ClusterAdmission(const BreakerSettings& settings, std::shared_ptr<ClusterCircuit> circuit)
      : settings_(settings), circuit_(std::move(circuit)) {}

  bool tryStartRequest() override { return circuit_->requests.tryAcquire(); }
  void endRequest() override { circuit_->requests.release(); }
  bool tryStartRetry() override { return circuit_->retries.tryAcquire(); }
  void endRetry() override { circuit_->retries.release(); }
  uint32_t maxConcurrentRequests() const override { return circuit_->requests.limit(); }
  Admission admit(common::MonotonicTime now) override { return circuit_->breaker.admit(now); }
  void onResult(common::MonotonicTime now, bool success, bool was_probe) override {
    circuit_->breaker.onResult(now, success, was_probe);
  }
  void onCancelled(bool was_probe) override { circuit_->breaker.onCancelled(was_probe); }
  bool isFailureStatus(int status) const override { return settings_.isFailureStatus(status); }

  ClusterCircuit& circuit() { return *circuit_; }

 private:
  const BreakerSettings& settings_;
  const std::shared_ptr<ClusterCircuit> circuit_;
};

class CircuitBreakerFilterFactory final : public FilterFactory {
 public:
  // Registers the breaker metric families in `metrics` (null: count nothing, for tests). `time`
  // is read by the admin views (how long a breaker stays open) and must outlive the factory.
  CircuitBreakerFilterFactory(CircuitBreakerConfig config, prometheus::Registry* metrics,
                              const common::TimeSource& time);

  nlohmann::json toJson() const override;
  std::vector<config::ConfigError> validate(const config::Config& config) const override;
  void activate(ActivationContext& ctx) const override;
  void contributePolicy(const PolicyTarget& target, router::UpstreamPolicy& policy) const override;
  void describeCluster(const std::string& cluster, ClusterView& view) const override;

  const CircuitBreakerConfig& config() const { return config_; }
  // The admission control of `cluster` bound by activate(); null before, or for a cluster the
  // configuration does not have.
  ClusterAdmission* admissionFor(std::string_view cluster) const;

 private:
  const CircuitBreakerConfig config_;
  // Shared with the states it makes, which outlive the factory.
  const std::shared_ptr<BreakerMetrics> metrics_;
  const common::TimeSource& time_;
  // Bound by activate(), before any worker sees the factory; read-only afterwards.
  mutable std::map<std::string, std::unique_ptr<ClusterAdmission>, std::less<>> clusters_;
};

// The filter's FilterBuildFn: parses `node` (at ctx.path) and returns its factory.
FilterFactoryPtr buildCircuitBreakerFilter(const YAML::Node& node, BuildContext& ctx);

// Adds "circuit_breaker" to `registry`.
void registerCircuitBreakerFilter(FilterRegistry& registry);

}  // namespace switchyard::filters::circuit_breaker
