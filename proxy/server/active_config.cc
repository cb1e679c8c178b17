#include "proxy/server/active_config.h"

#include "filters/registry.h"

namespace switchyard::server {

const router::UpstreamPolicy* ActiveConfig::policy(const std::string& route,
                                                   const std::string& version,
                                                   const std::string& cluster) const {
  auto it = policies.find({route, version, cluster});
  return it == policies.end() ? nullptr : &it->second;
}

ActiveConfigPtr activateConfig(config::ConfigConstSharedPtr config,
                               upstream::RuntimeStateRegistry& state,
                               upstream::ClusterManager* clusters) {
  auto active = std::make_shared<ActiveConfig>();
  active->config = std::move(config);
  const config::Config& cfg = *active->config;
  if (clusters != nullptr) active->endpoints = clusters->apply(cfg);

  state.beginActivation();
  filters::ActivationContext ctx{cfg, state};
  for (const config::FilterEntry& f : cfg.filters) f.factory->activate(ctx);
  state.endActivation();

  auto contribute = [&](const std::string& route, const std::string& version,
                        const config::TargetConfig& target,
                        const config::RouteFilterConfigs& route_configs) {
    for (const config::WeightedCluster& wc : target.split) {
      router::UpstreamPolicy policy;
      for (size_t i = 0; i < cfg.filters.size(); ++i) {
        filters::PolicyTarget where{route, version, wc.cluster,
                                    i < route_configs.size() ? route_configs[i].get() : nullptr};
        cfg.filters[i].factory->contributePolicy(where, policy);
      }
      if (policy.retry != nullptr || policy.admission != nullptr) {
        active->policies[{route, version, wc.cluster}] = policy;
      }
    }
  };
  for (const config::RouteConfig& r : cfg.routes) {
    if (r.versions.empty()) contribute(r.name, "", r.target, r.filters);
    for (const config::VersionConfig& v : r.versions)
      contribute(r.name, v.name, v.target, v.filters);
  }
  return active;
}

}  // namespace switchyard::server
