#include "config/config.h"

namespace switchyard::config {

const ClusterConfig* Config::findCluster(const std::string& name) const {
  for (const ClusterConfig& cluster : clusters) {
    if (cluster.name == name) return &cluster;
  }
  return nullptr;
}

const RouteConfig* Config::findRoute(const std::string& name) const {
  for (const RouteConfig& route : routes) {
    if (route.name == name) return &route;
  }
  return nullptr;
}

const VersionConfig* RouteConfig::findVersion(std::string_view version) const {
  for (const VersionConfig& v : versions) {
    if (v.name == version) return &v;
  }
  return nullptr;
}

}  // namespace switchyard::config
