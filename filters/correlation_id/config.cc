#include "filters/correlation_id/config.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "config/config_error.h"
#include "config/yaml_util.h"
#include "proxy/http/headers.h"

namespace switchyard::filters::correlation_id {
namespace {

using config::ConfigError;

// Headers the proxy manages itself (framing, hop-by-hop, routing): writing an id into one of them
// would corrupt the message.
constexpr std::array<std::string_view, 9> ReservedHeaders = {
    "connection", "content-length", "host",    "keep-alive",       "proxy-connection",
    "te",         "trailer",        "upgrade", "transfer-encoding"};

}  // namespace

CorrelationIdConfig parseCorrelationIdConfig(const YAML::Node& node, const std::string& path) {
  CorrelationIdConfig out;
  if (!node.IsDefined() || node.IsNull()) return out;
  config::expectMap(node, path, {"header", "accept", "generate", "echo", "max_length"});

  if (const YAML::Node n = node["header"]) {
    const std::string p = config::child(path, "header");
    out.header = config::getHeaderName(n, p);
    if (std::find(ReservedHeaders.begin(), ReservedHeaders.end(), out.header) !=
        ReservedHeaders.end()) {
      throw ConfigError(n, p,
                        "'" + out.header + "' is managed by the proxy and cannot carry the id");
    }
  }
  if (const YAML::Node n = node["accept"]) {
    const std::string p = config::child(path, "accept");
    config::expectSequence(n, p);
    out.accept.clear();
    for (size_t i = 0; i < n.size(); ++i) {
      std::string name = config::getHeaderName(n[i], config::child(p, i));
      // Looking a name up twice would never find anything new.
      if (std::find(out.accept.begin(), out.accept.end(), name) == out.accept.end()) {
        out.accept.push_back(std::move(name));
      }
    }
  }
  // `header` is always looked at first (also when it names a default accept header).
  std::erase(out.accept, out.header);
  if (const YAML::Node n = node["generate"]) {
    out.generate = config::getBool(n, config::child(path, "generate"));
  }
  if (const YAML::Node n = node["echo"]) {
    out.echo = config::getBool(n, config::child(path, "echo"));
  }
  if (const YAML::Node n = node["max_length"]) {
    out.max_length =
        static_cast<size_t>(config::getInt(n, config::child(path, "max_length"), 1, 1024));
  }
  return out;
}

}  // namespace switchyard::filters::correlation_id
