#include "filters/circuit_breaker/circuit_breaker_filter.h"

#include "config/config.h"
#include "proxy/common/duration.h"
#include "proxy/common/strings.h"

namespace switchyard::filters::circuit_breaker {
namespace {

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
                               std::shared_ptr<BreakerMetrics> metrics)
    : name(name),
      breaker(name, settings, metrics != nullptr ? BreakerStats(*metrics, name) : BreakerStats()),
      requests(settings.max_concurrent_requests,
               overflowCounter(metrics.get(), name, settings.max_concurrent_requests,
                               "max_concurrent_requests")),
      retries(settings.max_concurrent_retries,
              overflowCounter(metrics.get(), name, settings.max_concurrent_retries,
                              "max_concurrent_retries")),
      metrics_(std::move(metrics)) {}

ClusterCircuit::~ClusterCircuit() {
  if (metrics_ == nullptr) return;
  // Nothing else holds this state any more (see RuntimeStateRegistry::collect()), so nothing
  // counts into these series while they go.
  auto remove = [](auto& family, const prometheus::Labels& labels) {
    if (family.Has(labels)) family.Remove(&family.Add(labels));
  };
  remove(metrics_->state, {{"cluster", name}});
  remove(metrics_->rejected, {{"cluster", name}});
  for (const char* from : {"closed", "open", "half_open"}) {
    for (const char* to : {"closed", "open", "half_open"}) {
      remove(metrics_->transitions, {{"cluster", name}, {"from", from}, {"to", to}});
    }
  }
  for (const char* limit : {"max_concurrent_requests", "max_concurrent_retries"}) {
    remove(metrics_->bulkhead_overflow, {{"cluster", name}, {"limit", limit}});
  }
}

void ClusterCircuit::reconfigure(const BreakerSettings& settings) {
  breaker.reconfigure(settings);
  requests.reconfigure(settings.max_concurrent_requests,
                       overflowCounter(metrics_.get(), name, settings.max_concurrent_requests,
                                       "max_concurrent_requests"));
  retries.reconfigure(settings.max_concurrent_retries,
                      overflowCounter(metrics_.get(), name, settings.max_concurrent_retries,
                                      "max_concurrent_retries"));
}

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
      metrics_(metrics != nullptr ? std::make_shared<BreakerMetrics>(*metrics) : nullptr),
      time_(time) {}

std::vector<config::ConfigError> CircuitBreakerFilterFactory::validate(
    const config::Config& config) const {
  std::vector<config::ConfigError> errors;
  for (const auto& ref : config_.cluster_refs) {
    if (config.findCluster(ref.name) != nullptr) continue;
    std::vector<std::string> names;
    for (const auto& c : config.clusters) names.push_back(c.name);
    errors.emplace_back(ref.where.path(),
                        "unknown cluster " + common::quote(ref.name) +
                            " (defined clusters: " + common::joined(names) + ")",
                        ref.where.line(), ref.where.column());
  }
  return errors;
}

void CircuitBreakerFilterFactory::activate(ActivationContext& ctx) const {
  for (const config::ClusterConfig& c : ctx.config.clusters) {
    const BreakerSettings& settings = config_.forCluster(c.name);
    auto circuit = ctx.state.claim<ClusterCircuit>("circuit_breaker", c.name, [&] {
      return std::make_shared<ClusterCircuit>(c.name, settings, metrics_);
    });
    circuit->reconfigure(settings);
    clusters_[c.name] = std::make_unique<ClusterAdmission>(settings, std::move(circuit));
  }
}

void CircuitBreakerFilterFactory::contributePolicy(const PolicyTarget& target,
                                                   router::UpstreamPolicy& policy) const {
  policy.admission = admissionFor(target.cluster);
}

ClusterAdmission* CircuitBreakerFilterFactory::admissionFor(std::string_view cluster) const {
  auto it = clusters_.find(cluster);
  return it == clusters_.end() ? nullptr : it->second.get();
}

void CircuitBreakerFilterFactory::describeCluster(const std::string& cluster,
                                                  ClusterView& view) const {
  ClusterAdmission* admission = admissionFor(cluster);
  if (admission == nullptr) return;
  view.out["circuit_breaker"] = admission->circuit().snapshot(time_.monotonicNow());
  // An open breaker: the cluster works for nobody until it lets probes through.
  if (admission->circuit().breaker.state() == BreakerState::Open) view.degraded = true;
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
  FilterRegistration r;
  r.build = buildCircuitBreakerFilter;
  r.stream_filter = false;
  r.policies = {PolicyKind::Admission};
  registry.add("circuit_breaker", std::move(r));
}

}  // namespace switchyard::filters::circuit_breaker
