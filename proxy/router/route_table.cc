#include "proxy/router/route_table.h"

namespace switchyard::router {

RouteTable::RouteTable(const config::Config& config) {
  for (const auto& r : config.routes) {
    size_t cluster = 0;
    for (size_t i = 0; i < config.clusters.size(); ++i) {
      if (config.clusters[i].name == r.cluster) cluster = i;
    }
    const auto timeout =
        r.timeout.count() > 0 ? r.timeout : config.clusters[cluster].response_timeout;
    routes_.push_back({r.name, r.prefix, cluster, timeout});
  }
}

int RouteTable::match(std::string_view path) const {
  for (size_t i = 0; i < routes_.size(); ++i) {
    if (path.substr(0, routes_[i].prefix.size()) == routes_[i].prefix) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace switchyard::router
