#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "config/config.h"
#include "config/config_error.h"
#include "filters/registry.h"

namespace prometheus {
class Registry;
}

namespace switchyard::config {

struct LoadContext {
  const filters::FilterRegistry& filters;
  prometheus::Registry& metrics;
  const common::TimeSource& time;
};

// Reads, expands, validates and builds a configuration. Checks everything before giving up and
// throws ConfigErrors listing every problem ("file:line:col: key.path: message"). A file that
// cannot be read or parsed as YAML is one error at the position yaml-cpp reports.
ConfigConstSharedPtr loadConfigFile(const std::string& path, const LoadContext& ctx);
// Same, from text; `name` stands in for the file name in errors.
ConfigConstSharedPtr loadConfigString(const std::string& yaml, const std::string& name,
                                      const LoadContext& ctx);

// The effective configuration as JSON for the admin /config endpoint; secrets (the admin token,
// anything a filter marks secret) are replaced by "<redacted>".
nlohmann::json configToJson(const Config& config);

}  // namespace switchyard::config
