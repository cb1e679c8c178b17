#include "proxy/accesslog/config.h"

#include "config/config_error.h"
#include "config/yaml_util.h"

namespace switchyard::accesslog {

nlohmann::json AccessLogConfig::toJson() const {
  return {{"enabled", enabled}, {"path", path}, {"max_queue_lines", max_queue_lines}};
}

AccessLogConfig parseAccessLogConfig(const YAML::Node& node, const std::string& path) {
  AccessLogConfig out;
  if (!node.IsDefined()) return out;
  config::expectMap(node, path, {"path", "max_queue_lines"});
  const YAML::Node file = node["path"];
  if (!file) {
    throw config::ConfigError(node, config::child(path, "path"),
                              "required: a file to append to, or \"-\" for standard output");
  }
  const std::string file_path = config::child(path, "path");
  out.path = config::getString(file, file_path);
  if (out.path.empty()) {
    throw config::ConfigError(file, file_path,
                              "must not be empty (a file name, or \"-\" for standard output)");
  }
  if (out.path.find('\0') != std::string::npos) {
    throw config::ConfigError(file, file_path, "must not contain a NUL byte");
  }
  if (const YAML::Node n = node["max_queue_lines"]) {
    out.max_queue_lines = static_cast<uint32_t>(
        config::getInt(n, config::child(path, "max_queue_lines"), 1, 10000000));
  }
  out.enabled = true;
  return out;
}

}  // namespace switchyard::accesslog
