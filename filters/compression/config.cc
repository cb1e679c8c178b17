#include "filters/compression/config.h"

#include <algorithm>

#include "config/config_error.h"
#include "config/yaml_util.h"
#include "proxy/http/headers.h"

namespace switchyard::filters::compression {
using config::ConfigError;

CompressionConfig parseCompressionConfig(const YAML::Node& node, const std::string& path,
                                         const CompressionConfig& base) {
  CompressionConfig out = base;
  if (!node.IsDefined() || node.IsNull()) return out;
  config::expectMap(
      node, path,
      {"enabled", "algorithms", "min_bytes", "content_types", "gzip_level", "brotli_quality"});

  if (const YAML::Node n = node["enabled"])
    out.enabled = config::getBool(n, config::child(path, "enabled"));
  if (const YAML::Node n = node["algorithms"]) {
    const std::string p = config::child(path, "algorithms");
    config::expectSequence(n, p);
    if (n.size() == 0) {
      throw ConfigError(n, p,
                        "must name at least one algorithm (br, gzip); to turn compression "
                        "off, set enabled: false");
    }
    out.algorithms.clear();
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string ip = config::child(p, i);
      const std::string name = config::getString(n[i], ip);
      const std::optional<Coding> coding = codingFromName(name);
      if (!coding) throw ConfigError(n[i], ip, "unknown algorithm '" + name + "' (br, gzip)");
      if (std::find(out.algorithms.begin(), out.algorithms.end(), *coding) !=
          out.algorithms.end()) {
        throw ConfigError(n[i], ip, "'" + name + "' is listed twice");
      }
      out.algorithms.push_back(*coding);
    }
  }
  if (const YAML::Node n = node["min_bytes"]) {
    out.min_bytes = config::getBytes(n, config::child(path, "min_bytes"));
  }
  if (const YAML::Node n = node["content_types"]) {
    const std::string p = config::child(path, "content_types");
    config::expectSequence(n, p);
    if (n.size() == 0) {
      throw ConfigError(n, p,
                        "must list at least one media type; to turn compression off, set "
                        "enabled: false");
    }
    std::vector<std::string> patterns;
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string ip = config::child(p, i);
      std::string pattern = config::getString(n[i], ip);
      http::toLowerInPlace(pattern);
      if (!ContentTypes::isValidPattern(pattern)) {
        throw ConfigError(n[i], ip,
                          "'" + pattern +
                              "' is not a media type (type/subtype, type/* or */*, without "
                              "parameters)");
      }
      if (std::find(patterns.begin(), patterns.end(), pattern) == patterns.end()) {
        patterns.push_back(std::move(pattern));
      }
    }
    out.content_types = ContentTypes(std::move(patterns));
  }
  if (const YAML::Node n = node["gzip_level"]) {
    out.gzip_level = static_cast<int>(config::getInt(n, config::child(path, "gzip_level"), 1, 9));
  }
  if (const YAML::Node n = node["brotli_quality"]) {
    out.brotli_quality =
        static_cast<int>(config::getInt(n, config::child(path, "brotli_quality"), 0, 11));
  }
  return out;
}

}  // namespace switchyard::filters::compression
