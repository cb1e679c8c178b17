#include "filters/retry/retry_filter.h"

#include "config/config.h"
#include "proxy/common/duration.h"

namespace switchyard::filters::retry {
namespace {

nlohmann::json configJson(const RetryConfig& config) {
  nlohmann::json out = {
      {"max_retries", config.max_retries},
      {"base_interval", common::formatDuration(config.base_interval)},
      {"max_interval", common::formatDuration(config.max_interval)},
      {"backoff_factor", config.backoff_factor},
      {"timeout", common::formatDuration(config.timeout)},
      {"retry_on", config.retryOnNames()},
      {"idempotency_headers", config.idempotency_headers},
      {"max_replay_body_bytes", config.max_replay_body_bytes},
      {"budget", {{"percent", config.budget.percent}, {"min_retries", config.budget.min_retries}}},
      {"honor_retry_after", config.honor_retry_after},
      {"max_retry_after", common::formatDuration(config.max_retry_after)},
  };
  if (config.per_try_timeout)
    out["per_try_timeout"] = common::formatDuration(*config.per_try_timeout);
  return out;
}

}  // namespace

nlohmann::json RetryRouteConfig::toJson() const { return configJson(config_); }

router::RetryStatePtr RetryPolicyImpl::newRetryState(const http::RequestHeaders& request,
                                                     common::MonotonicTime now,
                                                     common::Duration route_timeout,
                                                     router::RetryStateStorage& storage) const {
  return storage.emplace<RetryState>(config_, cluster_, request, bodyFitsReplay(request, config_),
                                     now, route_timeout);
}

RetryFilterFactory::RetryFilterFactory(RetryConfig config, prometheus::Registry* metrics)
    : config_(std::move(config)),
      metrics_(metrics != nullptr ? std::make_unique<RetryMetrics>(*metrics) : nullptr) {}

nlohmann::json RetryFilterFactory::toJson() const { return configJson(config_); }

RouteFilterConfigPtr RetryFilterFactory::parseRouteConfig(const YAML::Node& node,
                                                          const std::string& path,
                                                          const RouteFilterConfig* parent) const {
  const RetryConfig& base =
      parent != nullptr ? static_cast<const RetryRouteConfig*>(parent)->config() : config_;
  return std::make_shared<const RetryRouteConfig>(parseRetryConfig(node, path, base, true));
}

void RetryFilterFactory::activate(ActivationContext& ctx) const {
  for (const config::ClusterConfig& c : ctx.config.clusters) {
    auto cluster = ctx.state.claim<RetryCluster>("retry", c.name, [&] {
      return std::make_shared<RetryCluster>(c.name, config_.budget, metrics_.get());
    });
    cluster->budget.reconfigure(config_.budget);
    clusters_[c.name] = std::move(cluster);
  }
}

void RetryFilterFactory::contributePolicy(const PolicyTarget& target,
                                          router::UpstreamPolicy& policy) const {
  const RetryConfig& config =
      target.route_config != nullptr
          ? static_cast<const RetryRouteConfig*>(target.route_config)->config()
          : config_;
  // No retries: no policy, so the router does no retry bookkeeping at all.
  if (config.max_retries == 0) return;
  RetryCluster* cluster = clusterFor(std::string(target.cluster));
  for (const auto& p : policies_) {
    if (&p->config() == &config && p->cluster() == cluster) {
      policy.retry = p.get();
      return;
    }
  }
  policies_.push_back(std::make_unique<RetryPolicyImpl>(config, cluster));
  policy.retry = policies_.back().get();
}

RetryCluster* RetryFilterFactory::clusterFor(const std::string& cluster) const {
  auto it = clusters_.find(cluster);
  return it == clusters_.end() ? nullptr : it->second.get();
}

void RetryFilterFactory::describeCluster(const std::string& cluster, ClusterView& view) const {
  const RetryCluster* c = clusterFor(cluster);
  if (c == nullptr) return;
  view.out["retry_budget"] = {{"active_requests", c->budget.activeRequests()},
                              {"active_retries", c->budget.activeRetries()},
                              {"retry_limit", c->budget.limit()}};
}

FilterFactoryPtr buildRetryFilter(const YAML::Node& node, BuildContext& ctx) {
  return std::make_shared<const RetryFilterFactory>(parseRetryConfig(node, ctx.path), &ctx.metrics);
}

void registerRetryFilter(FilterRegistry& registry) {
  FilterRegistration r;
  r.build = buildRetryFilter;
  r.stream_filter = false;
  r.policies = {PolicyKind::Retry};
  registry.add("retry", std::move(r));
}

}  // namespace switchyard::filters::retry
