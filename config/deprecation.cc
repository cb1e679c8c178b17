#include "config/deprecation.h"

#include "config/config_error.h"

namespace switchyard::config {

// Placeholder until the parser lands.
DeprecationPolicy parseDeprecationPolicy(const YAML::Node& node, const std::string& path) {
  throw ConfigError(node, path, "deprecation policies are not supported yet");
}

nlohmann::json deprecationPolicyToJson(const DeprecationPolicy&) {
  return nlohmann::json::object();
}

}  // namespace switchyard::config
