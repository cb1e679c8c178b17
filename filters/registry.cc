#include "filters/registry.h"

namespace switchyard::filters {

RouteFilterConfigPtr FilterFactory::parseRouteConfig(const YAML::Node& node,
                                                     const std::string& path,
                                                     const RouteFilterConfig* /*parent*/) const {
  throw config::ConfigError(node, path, "this filter takes no per-route configuration");
}

admin::AdminResponse FilterFactory::handleAdmin(const AdminEndpoint& /*endpoint*/,
                                                const admin::AdminRequest& /*request*/,
                                                AdminContext& /*ctx*/) const {
  return admin::problemResponse(404, "this filter has no such admin endpoint");
}

}  // namespace switchyard::filters
