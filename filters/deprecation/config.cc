#include "filters/deprecation/config.h"

#include <algorithm>
#include <string_view>

#include "config/config_error.h"
#include "config/yaml_util.h"
#include "filters/deprecation/client_labels.h"
#include "proxy/http/headers.h"

namespace switchyard::filters::deprecation {
namespace {

using config::ConfigError;

// RFC 9110 token characters.
}  // namespace

DeprecationFilterConfig parseDeprecationFilterConfig(const YAML::Node& node,
                                                     const std::string& path) {
  DeprecationFilterConfig out;
  if (!node.IsDefined() || node.IsNull()) return out;
  config::expectMap(node, path,
                    {"client_header", "clients", "max_clients", "legacy_headers", "enforce"});

  if (const YAML::Node n = node["client_header"]) {
    const std::string p = config::child(path, "client_header");
    out.client_header = config::getHeaderName(n, p);
  }
  if (const YAML::Node n = node["clients"]) {
    const std::string p = config::child(path, "clients");
    config::expectSequence(n, p);
    if (n.size() == 0) {
      throw ConfigError(n, p,
                        "an empty allow-list would count every client as \"other\" (to do that, "
                        "set max_clients: 0 instead)");
    }
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string ip = config::child(p, i);
      std::string id = config::getString(n[i], ip);
      if (!ClientLabels::isValidClientId(id)) {
        throw ConfigError(n[i], ip,
                          "'" + id + "' is not a valid client id (1 to " +
                              std::to_string(ClientLabels::MaxLength) +
                              " characters of A-Z a-z 0-9 . _ : -)");
      }
      if (id == "other" || id == "unknown") {
        throw ConfigError(n[i], ip,
                          "'" + id +
                              "' is reserved: it labels clients outside the list (other) "
                              "or without the header (unknown)");
      }
      if (std::find(out.clients.begin(), out.clients.end(), id) == out.clients.end()) {
        out.clients.push_back(std::move(id));
      }
    }
  }
  if (const YAML::Node n = node["max_clients"]) {
    const std::string p = config::child(path, "max_clients");
    if (node["clients"]) {
      throw ConfigError(n, p, "max_clients cannot be used with clients (the allow-list decides)");
    }
    out.max_clients = static_cast<uint32_t>(config::getInt(n, p, 0, 10'000));
  }
  if (const YAML::Node n = node["legacy_headers"]) {
    out.legacy_headers = config::getBool(n, config::child(path, "legacy_headers"));
  }
  if (const YAML::Node n = node["enforce"]) {
    out.enforce = config::getBool(n, config::child(path, "enforce"));
  }
  return out;
}

}  // namespace switchyard::filters::deprecation
