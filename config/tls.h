#pragma once

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <string>

#include "config/config.h"

namespace switchyard::config {

// `listeners[].tls` and `clusters[].tls`: the settings, then every file they name read and checked
// (readable, PEM, a key that belongs to its certificate), then the context built from them.
// Throws ConfigError at the key whose value is wrong. A relative file name is taken from
// `base_dir` (the configuration file's directory; empty: the working directory).
ListenerTlsConfig parseListenerTlsConfig(const YAML::Node& node, const std::string& path,
                                         const std::string& base_dir);
ClusterTlsConfig parseClusterTlsConfig(const YAML::Node& node, const std::string& path,
                                       const std::string& base_dir);

// For the configuration dump: the settings, the file names (not their contents).
nlohmann::json listenerTlsToJson(const ListenerTlsConfig& tls);
nlohmann::json clusterTlsToJson(const ClusterTlsConfig& tls);

}  // namespace switchyard::config
