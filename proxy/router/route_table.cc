#include "proxy/router/route_table.h"

#include <algorithm>

#include "proxy/router/sticky.h"
#include "proxy/router/versioning.h"

namespace switchyard::router {

namespace {

const UpstreamPolicy NoPolicy{};

}  // namespace

RouteTable::RouteTable(const config::Config& config, const PoolLookup& pools,
                       const PolicyLookup& policies, const StatsLookup& stats,
                       const ObserverLookup& observers,
                       const ClusterObserverLookup& cluster_observers) {
  routes_.reserve(config.routes.size());
  for (const config::RouteConfig& r : config.routes) {
    RouteEntry& e = routes_.emplace_back();
    e.name = r.name;
    e.prefix = r.prefix;
    e.timeout = r.timeout;
    e.upstream_header = r.upstream_header;
    e.versioned = !r.versions.empty();
    auto addTarget = [&](const config::TargetConfig& t, const std::string& version,
                         const config::DeprecationPolicy* deprecation,
                         const config::RouteFilterConfigs& filter_configs) {
      Target& target = e.targets.emplace_back();
      target.config = &t;
      target.version = version;
      for (const auto& wc : t.split) {
        target.pools.push_back(pools(wc.cluster));
        target.clusters.push_back(config.findCluster(wc.cluster));
        const UpstreamPolicy* policy = policies ? policies(r.name, version, wc.cluster) : nullptr;
        target.policies.push_back(policy != nullptr ? policy : &NoPolicy);
      }
      target.bounds = bucketBounds(effectiveWeights(t, nullptr));
      bool has_rewrite = false;
      for (const auto& wc : t.split) {
        const config::PathRewrite* rewrite = wc.rewrite ? wc.rewrite.get() : t.rewrite.get();
        target.rewrites.push_back(rewrite);
        has_rewrite = has_rewrite || rewrite != nullptr;
      }
      if (!has_rewrite) target.rewrites.clear();
      target.fallback_config = t.fallback.get();
      target.extras = has_rewrite || t.fallback != nullptr;
      target.forced = t.forced.get();
      target.sticky_header = t.sticky_header;
      target.sticky_claim = t.sticky_claim;
      target.deprecation = deprecation;
      target.stats = stats(r.name, version);
      if (observers) target.observer = observers(r.name, version);
      if (cluster_observers) {
        bool any = false;
        for (const auto& wc : t.split) {
          target.cluster_observers.push_back(cluster_observers(r.name, version, wc.cluster));
          any = any || target.cluster_observers.back() != nullptr;
        }
        if (!any) target.cluster_observers.clear();
      }
      for (size_t i = 0; i < config.filters.size(); ++i) {
        if (!config.filters[i].stream_filter) continue;
        target.filter_configs.push_back(i < filter_configs.size() ? filter_configs[i].get()
                                                                  : nullptr);
      }
      // Without a block for any of them the stream is not told at all.
      if (std::all_of(target.filter_configs.begin(), target.filter_configs.end(),
                      [](const http::RouteFilterConfig* c) { return c == nullptr; })) {
        target.filter_configs.clear();
      }
    };
    if (!e.versioned) {
      addTarget(r.target, "", r.deprecated.get(), r.filters);
      e.unknown_stats = e.targets.front().stats;
      continue;
    }
    for (const config::VersionConfig& v : r.versions) {
      if (v.name == r.default_version) e.default_target = e.targets.size();
      addTarget(v.target, v.name, v.deprecated ? v.deprecated.get() : r.deprecated.get(),
                v.filters);
      e.version_names += (e.version_names.empty() ? "" : ", ") + v.name;
    }
    // Once every target is in place (the vector no longer moves).
    for (Target& t : e.targets) {
      if (t.fallback_config == nullptr) continue;
      for (const Target& other : e.targets) {
        if (other.version == t.fallback_config->version && &other != &t) t.fallback = &other;
      }
      if (t.fallback == nullptr) t.fallback_config = nullptr;
    }
    e.unknown_stats = stats(r.name, "unknown");
  }
}

void RouteTable::applyWeights(const WeightOverrides& overrides) {
  weights_generation_ = overrides.generation();
  for (RouteEntry& e : routes_) {
    e.pinned_target = -1;
    if (e.versioned) {
      if (auto pin = overrides.pinned(e.name)) {
        for (size_t i = 0; i < e.targets.size(); ++i) {
          if (e.targets[i].version == *pin) e.pinned_target = static_cast<int>(i);
        }
      }
    }
    for (Target& t : e.targets) {
      if (t.pools.size() < 2) continue;
      auto weights = overrides.get(e.name, t.version);
      t.bounds = bucketBounds(effectiveWeights(*t.config, weights ? &*weights : nullptr));
    }
  }
}

const RouteEntry* RouteTable::match(std::string_view path) const {
  for (const RouteEntry& e : routes_) {
    if (path.substr(0, e.prefix.size()) == e.prefix) return &e;
  }
  return nullptr;
}

void RouteTable::resolve(const http::RequestHeaders& request, std::string_view client,
                         RouteDecision& out) const {
  const std::string_view path = request.pathWithoutQuery();
  const RouteEntry* route = match(path);
  out.route = route;
  if (route == nullptr) {
    out.status = 404;
    out.detail = "no route matches the request path";
    return;
  }
  const Target* target = &route->targets[route->default_target];
  if (route->pinned_target >= 0) {
    target = &route->targets[static_cast<size_t>(route->pinned_target)];
  } else if (route->versioned) {
    std::string version;
    const std::string_view* header = request.headers.get("x-api-version");
    if (header != nullptr) {
      if (!normalizeVersion(*header, version)) {
        out.status = 400;
        out.detail = "X-API-Version \"" + std::string(header->substr(0, 32)) +
                     "\" is not a version; this route serves " + route->version_names;
        return;
      }
    } else {
      version = versionFromPath(path);
    }
    if (!version.empty()) {
      target = nullptr;
      for (const Target& t : route->targets) {
        if (t.version == version) target = &t;
      }
      if (target == nullptr) {
        out.status = 400;
        out.detail =
            "unknown API version \"" + version + "\"; this route serves " + route->version_names;
        return;
      }
    }
  }
  out.target = target;
  std::string_view key = client;
  if (target->pools.size() > 1 && !target->sticky_header.empty()) {
    const std::string_view* value = request.headers.get(target->sticky_header);
    if (value != nullptr && !value->empty()) key = *value;
  }
  pickCluster(*target, key, out);
}

}  // namespace switchyard::router
