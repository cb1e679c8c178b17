#pragma once

// For filter tests: a configuration with only clusters, and putting a factory into effect the
// way the server does (FilterFactory::activate() between the registry's begin and end).

#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "filters/registry.h"
#include "proxy/upstream/runtime_state.h"

namespace switchyard::test {

inline config::Config clustersConfig(std::vector<std::string> names) {
  config::Config out;
  for (std::string& name : names) {
    config::ClusterConfig c;
    c.name = std::move(name);
    out.clusters.push_back(std::move(c));
  }
  return out;
}

inline void activate(const filters::FilterFactory& factory, const config::Config& config,
                     upstream::RuntimeStateRegistry& state) {
  state.beginActivation();
  filters::ActivationContext ctx{config, state};
  factory.activate(ctx);
  state.endActivation();
}

}  // namespace switchyard::test
