#include "config/config.h"

namespace switchyard::config {

const ClusterConfig* Config::findCluster(const std::string& name) const {
  for (const ClusterConfig& cluster : clusters) {
    if (cluster.name == name) return &cluster;
  }
  return nullptr;
}

const RouteConfig* Config::findRoute(const std::string& name) const {
  for (const RouteConfig& route : routes) {
    if (route.name == name) return &route;
  }
  return nullptr;
}

const VersionConfig* RouteConfig::findVersion(std::string_view version) const {
  for (const VersionConfig& v : versions) {
    if (v.name == version) return &v;
  }
  return nullptr;
}

bool PathRewrite::apply(std::string_view target, std::string& out) const {
  const size_t q = target.find('?');
  const std::string_view path = q == std::string_view::npos ? target : target.substr(0, q);
  const std::string_view query =
      q == std::string_view::npos ? std::string_view() : target.substr(q);
  if (regex == nullptr) {
    if (path.substr(0, prefix.size()) != prefix) return false;
    out.assign(to).append(path.substr(prefix.size())).append(query);
    return true;
  }
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_match(path.begin(), path.end(), m, *regex)) return false;
  out.clear();
  for (size_t i = 0; i < to.size(); ++i) {
    if (to[i] != '\\' || i + 1 == to.size()) {
      out.push_back(to[i]);
      continue;
    }
    const char next = to[++i];
    if (next >= '0' && next <= '9') {
      const size_t group = static_cast<size_t>(next - '0');
      if (group < m.size() && m[group].matched) out.append(m[group].first, m[group].second);
    } else {
      out.push_back(next);
    }
  }
  out.append(query);
  return true;
}

}  // namespace switchyard::config
