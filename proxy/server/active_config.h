#pragma once

// A configuration put into effect: the configuration and what its filters bound when the server
// activated it (see filters/registry.h, "Activation"): the upstream policy of every (route,
// version, cluster). Shared read-only by the workers; a stream holds it (through its worker's
// snapshot) until it ends.

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "config/config.h"
#include "proxy/router/upstream_policy.h"
#include "proxy/upstream/cluster_manager.h"
#include "proxy/upstream/runtime_state.h"

namespace switchyard::server {

struct ActiveConfig {
  config::ConfigConstSharedPtr config;
  std::map<std::tuple<std::string, std::string, std::string>, router::UpstreamPolicy> policies;
  // Each cluster's endpoint list (DNS, health), in the order of config->clusters; empty without
  // a cluster manager (the pools then use the configured addresses).
  std::vector<std::shared_ptr<upstream::ClusterEndpoints>> endpoints;

  // The policy of (route, version, cluster); null where no filter contributed one.
  const router::UpstreamPolicy* policy(const std::string& route, const std::string& version,
                                       const std::string& cluster) const;
};
using ActiveConfigPtr = std::shared_ptr<const ActiveConfig>;

// Activates `config`: each filter factory claims its runtime state from `state` and applies its
// settings (FilterFactory::activate()), then contributes its upstream policies; state no filter
// claimed any more is retired. Call once per configuration, on one thread at a time, before any
// worker sees it; a configuration is never activated twice.
ActiveConfigPtr activateConfig(config::ConfigConstSharedPtr config,
                               upstream::RuntimeStateRegistry& state,
                               upstream::ClusterManager* clusters = nullptr);

}  // namespace switchyard::server
