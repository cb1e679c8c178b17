#include "filters/circuit_breaker/circuit_breaker_filter.h"

#include <mutex>

#include "proxy/common/duration.h"

namespace switchyard::filters::circuit_breaker {
namespace {

// Every hook is the default pass-through; see the contract in circuit_breaker_filter.h.
class CircuitBreakerFilter final : public http::StreamFilter {};

nlohmann::json settingsJson(const BreakerSettings& s) {
  nlohmann::json out = {{"consecutive_failures", s.consecutive_failures},
                        {"interval", common::formatDuration(s.interval)},
                        {"min_requests", s.min_requests},
                        {"cooldown", common::formatDuration(s.cooldown)},
                        {"half_open_max_requests", s.half_open_max_requests},
                        {"success_threshold", s.success_threshold},
                        {"failure_status", s.failureStatusNames()},
                        {"max_concurrent_requests", s.max_concurrent_requests},
                        {"max_concurrent_retries", s.max_concurrent_retries}};
  if (s.failure_ratio) out["failure_ratio"] = *s.failure_ratio;
  return out;
}

// An unlimited bulkhead never overflows: it gets no (always zero) series.
prometheus::Counter* overflowCounter(BreakerMetrics* metrics, const std::string& cluster,
                                     uint32_t limit, const char* name) {
  if (metrics == nullptr || limit == 0) return nullptr;
  return &metrics->bulkhead_overflow.Add({{"cluster", cluster}, {"limit", name}});
}

nlohmann::json bulkheadJson(const Bulkhead& b) {
  return {{"active", b.active()}, {"limit", b.limit()}};
}

}  // namespace

ClusterCircuit::ClusterCircuit(const std::string& name, const BreakerSettings& settings,
                               BreakerMetrics* metrics)
    : name(name),
      breaker(name, settings, metrics != nullptr ? BreakerStats(*metrics, name) : BreakerStats()),
      requests(settings.max_concurrent_requests,
               overflowCounter(metrics, name, settings.max_concurrent_requests,
                               "max_concurrent_requests")),
      retries(settings.max_concurrent_retries,
              overflowCounter(metrics, name, settings.max_concurrent_retries,
                              "max_concurrent_retries")) {}

nlohmann::json ClusterCircuit::snapshot(common::MonotonicTime now) const {
  nlohmann::json out = breaker.snapshot(now);
  out["concurrent_requests"] = bulkheadJson(requests);
  out["concurrent_retries"] = bulkheadJson(retries);
  return out;
}

CircuitBreakerFilterFactory::CircuitBreakerFilterFactory(CircuitBreakerConfig config,
                                                         prometheus::Registry* metrics,
                                                         const common::TimeSource& time)
    : config_(std::move(config)),
      metrics_(metrics != nullptr ? std::make_unique<BreakerMetrics>(*metrics) : nullptr),
      time_(time) {
  for (const auto& [name, settings] : config_.clusters) clusterFor(name);
}

http::StreamFilterPtr CircuitBreakerFilterFactory::create(WorkerContext& /*ctx*/) const {
  return std::make_unique<CircuitBreakerFilter>();
}

ClusterCircuit& CircuitBreakerFilterFactory::clusterFor(const std::string& cluster) const {
  {
    std::shared_lock lock(mutex_);
    if (auto it = clusters_.find(cluster); it != clusters_.end()) return *it->second;
  }
  std::unique_lock lock(mutex_);
  auto [it, inserted] = clusters_.try_emplace(cluster);
  if (inserted) {
    it->second =
        std::make_unique<ClusterCircuit>(cluster, config_.forCluster(cluster), metrics_.get());
  }
  return *it->second;
}

void CircuitBreakerFilterFactory::prepareClusters(const std::vector<std::string>& clusters) const {
  for (const std::string& name : clusters) clusterFor(name);
}

nlohmann::json CircuitBreakerFilterFactory::clustersJson(common::MonotonicTime now) const {
  nlohmann::json out = nlohmann::json::object();
  std::shared_lock lock(mutex_);
  for (const auto& [name, cluster] : clusters_) out[name] = cluster->snapshot(now);
  return out;
}

nlohmann::json CircuitBreakerFilterFactory::toJson() const {
  nlohmann::json out = settingsJson(config_.defaults);
  if (!config_.clusters.empty()) {
    nlohmann::json clusters = nlohmann::json::object();
    for (const auto& [name, settings] : config_.clusters) clusters[name] = settingsJson(settings);
    out["clusters"] = std::move(clusters);
  }
  return out;
}

FilterFactoryPtr buildCircuitBreakerFilter(const YAML::Node& node, BuildContext& ctx) {
  return std::make_shared<const CircuitBreakerFilterFactory>(
      parseCircuitBreakerConfig(node, ctx.path), &ctx.metrics, ctx.time);
}

void registerCircuitBreakerFilter(FilterRegistry& registry) {
  registry.add("circuit_breaker", buildCircuitBreakerFilter);
}

}  // namespace switchyard::filters::circuit_breaker
