#include "config/config.h"

namespace switchyard::config {

const ClusterConfig* Config::findCluster(const std::string& name) const {
  for (const ClusterConfig& cluster : clusters) {
    if (cluster.name == name) return &cluster;
  }
  return nullptr;
}

}  // namespace switchyard::config
