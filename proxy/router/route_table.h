#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace switchyard::router {

struct RouteEntry {
  std::string name;
  std::string prefix;
  size_t cluster_index;
  std::chrono::milliseconds timeout;  // resolved: the route's, else the cluster's
};

// Immutable after construction; built from one configuration snapshot. First match wins, in
// configuration order.
class RouteTable {
 public:
  explicit RouteTable(const config::Config& config);
  // Returns the index of the matching route, or -1.
  int match(std::string_view path) const;
  const RouteEntry& route(size_t i) const { return routes_[i]; }
  size_t size() const { return routes_.size(); }

 private:
  std::vector<RouteEntry> routes_;
};

}  // namespace switchyard::router
