#include "filters/retry/retry_filter.h"

#include <mutex>

#include "proxy/common/duration.h"

namespace switchyard::filters::retry {
namespace {

// Every hook is the default pass-through; see the contract in retry_filter.h.
class RetryFilter final : public http::StreamFilter {};

}  // namespace

RetryFilterFactory::RetryFilterFactory(RetryConfig config, prometheus::Registry* metrics)
    : config_(std::move(config)),
      metrics_(metrics != nullptr ? std::make_unique<RetryMetrics>(*metrics) : nullptr) {}

http::StreamFilterPtr RetryFilterFactory::create(WorkerContext& /*ctx*/) const {
  return std::make_unique<RetryFilter>();
}

RetryCluster& RetryFilterFactory::clusterFor(const std::string& cluster) const {
  {
    std::shared_lock lock(mutex_);
    if (auto it = clusters_.find(cluster); it != clusters_.end()) return *it->second;
  }
  std::unique_lock lock(mutex_);
  auto [it, inserted] = clusters_.try_emplace(cluster);
  if (inserted) {
    it->second = std::make_unique<RetryCluster>(cluster, config_.budget, metrics_.get());
  }
  return *it->second;
}

nlohmann::json RetryFilterFactory::clustersJson() const {
  nlohmann::json out = nlohmann::json::object();
  std::shared_lock lock(mutex_);
  for (const auto& [name, cluster] : clusters_) {
    out[name] = {{"active_requests", cluster->budget.activeRequests()},
                 {"active_retries", cluster->budget.activeRetries()},
                 {"retry_limit", cluster->budget.limit()}};
  }
  return out;
}

nlohmann::json RetryFilterFactory::toJson() const {
  nlohmann::json out = {
      {"max_retries", config_.max_retries},
      {"base_interval", common::formatDuration(config_.base_interval)},
      {"max_interval", common::formatDuration(config_.max_interval)},
      {"backoff_factor", config_.backoff_factor},
      {"timeout", common::formatDuration(config_.timeout)},
      {"retry_on", config_.retryOnNames()},
      {"idempotency_headers", config_.idempotency_headers},
      {"max_replay_body_bytes", config_.max_replay_body_bytes},
      {"budget",
       {{"percent", config_.budget.percent}, {"min_retries", config_.budget.min_retries}}},
      {"honor_retry_after", config_.honor_retry_after},
      {"max_retry_after", common::formatDuration(config_.max_retry_after)},
  };
  if (config_.per_try_timeout)
    out["per_try_timeout"] = common::formatDuration(*config_.per_try_timeout);
  return out;
}

FilterFactoryPtr buildRetryFilter(const YAML::Node& node, BuildContext& ctx) {
  return std::make_shared<const RetryFilterFactory>(parseRetryConfig(node, ctx.path), &ctx.metrics);
}

void registerRetryFilter(FilterRegistry& registry) { registry.add("retry", buildRetryFilter); }

}  // namespace switchyard::filters::retry
