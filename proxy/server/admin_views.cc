#include "proxy/server/admin_views.h"

#include <prometheus/gauge.h>

#include "filters/registry.h"
#include "proxy/common/logging.h"
#include "proxy/stats/stats.h"
#include "proxy/tracing/exporter.h"

namespace switchyard::server {

using nlohmann::json;

json clustersView(const config::Config& config, stats::ProxyStats& stats,
                  std::map<std::string, bool>* degraded,
                  const std::map<std::string, json>* endpoint_views) {
  json clusters = json::array();
  for (const auto& c : config.clusters) {
    json endpoints = json::array();
    for (const auto& e : c.endpoints) endpoints.push_back(e.text);
    for (const auto& e : c.named_endpoints) endpoints.push_back(e.text);
    const prometheus::Labels labels{{"cluster", c.name}};
    json out = {
        {"name", c.name},
        {"endpoints", std::move(endpoints)},
        {"connections",
         {{"open", stats.upstream_connections.Add(labels).Value()},
          {"max_per_worker", c.max_connections},
          {"max_pending_per_worker", c.max_pending_requests}}},
        {"circuit_breaker", nullptr},
        {"retry_budget", nullptr},
    };
    if (endpoint_views != nullptr) {
      auto it = endpoint_views->find(c.name);
      if (it != endpoint_views->end()) {
        const json& v = it->second;
        out["addresses"] = v.value("endpoints", json::array());
        out["resolved"] = v.value("resolved", true);
        out["health_check"] = c.health_check ? c.health_check->toJson() : json(nullptr);
        out["outlier_detection"] =
            c.outlier_detection ? c.outlier_detection->toJson() : json(nullptr);
        if (v.contains("dns")) out["dns"] = v["dns"];
      }
    }
    filters::ClusterView view{out};
    for (const config::FilterEntry& f : config.filters) f.factory->describeCluster(c.name, view);
    if (degraded != nullptr) (*degraded)[c.name] = view.degraded;
    clusters.push_back(std::move(out));
  }
  return {{"clusters", std::move(clusters)}};
}

json healthView(const HealthInputs& in, int& status) {
  enum Level { Ok = 0, Degraded = 1, Down = 2 };
  Level overall = Ok;
  auto name = [](Level l) { return l == Ok ? "ok" : l == Degraded ? "degraded" : "down"; };
  std::map<std::string, bool> unhealthy;
  const json view = clustersView(in.config, in.stats, &unhealthy)["clusters"];
  json clusters = json::object();
  for (const auto& c : view) {
    const std::string cluster = c["name"];
    json endpoints = json::array();
    size_t reachable = 0;
    size_t unknown = 0;
    const config::ClusterConfig* cc = nullptr;
    for (const auto& x : in.config.clusters) {
      if (x.name == cluster) cc = &x;
    }
    const json* managed = nullptr;
    if (in.clusters != nullptr && cc != nullptr &&
        (cc->health_check || !cc->named_endpoints.empty())) {
      auto it = in.clusters->find(cluster);
      if (it != in.clusters->end()) managed = &it->second;
    }
    auto probed = in.endpoints.find(cluster);
    if (managed != nullptr) {
      // Health checks (and DNS) say what the workers balance over.
      for (const json& e : managed->value("endpoints", json::array())) {
        const bool healthy = e.value("healthy", false);
        json ep = {{"address", e.value("address", "")},
                   {"healthy", healthy},
                   {"active_health", e.value("active_health", "unknown")},
                   {"ejected", e.value("ejected", false)}};
        reachable += healthy;
        endpoints.push_back(std::move(ep));
      }
      if (!managed->value("resolved", true)) unknown = 0;
    } else if (probed != in.endpoints.end()) {
      for (const EndpointProber::Result& r : probed->second) {
        json ep = {{"address", r.address}};
        ep["reachable"] = r.reachable ? json(*r.reachable) : json(nullptr);
        if (!r.error.empty()) ep["error"] = r.error;
        reachable += r.reachable.value_or(false);
        unknown += !r.reachable.has_value();
        endpoints.push_back(std::move(ep));
      }
    }
    const size_t total = endpoints.size();
    Level level = Ok;
    if ((total > 0 && reachable == 0 && unknown == 0) ||
        (managed != nullptr && !managed->value("resolved", true))) {
      // Nothing to send requests to: every endpoint fails, or the names never resolved.
      level = Down;
    } else if (reachable + unknown < total || unhealthy[cluster]) {
      level = Degraded;
    }
    overall = std::max(overall, level);
    const json& breaker = c["circuit_breaker"];
    clusters[cluster] = {
        {"status", name(level)},
        {"endpoints", std::move(endpoints)},
        {"circuit_breaker", breaker.is_object() ? breaker["state"] : json(nullptr)}};
  }
  json components = {{"clusters", std::move(clusters)}};
  if (in.exporter != nullptr) {
    const auto s = in.exporter->status();
    json t = s.toJson();
    t["status"] = s.healthy ? "ok" : "degraded";
    if (!s.healthy) overall = std::max(overall, Degraded);
    components["trace_exporter"] = std::move(t);
  } else {
    components["trace_exporter"] = {{"status", "disabled"}};
  }
  if (in.rollback != nullptr) {
    json routes = json::object();
    bool rolled_back = false;
    for (const auto& [route, state] : *in.rollback) {
      routes[route] = state;
      rolled_back = rolled_back || state != "active";
    }
    // A rolled-back route works (on its old version), but someone should look at it.
    if (rolled_back) overall = std::max(overall, Degraded);
    components["rollback"] = {{"status", rolled_back ? "degraded" : "ok"}, {"routes", routes}};
  } else {
    components["rollback"] = {{"status", "disabled"}};
  }
  if (in.redis != nullptr) {
    json workers = json::array();
    size_t connected = 0;
    for (const redis::ClientStatus::View& w : in.redis->workers) {
      connected += w.state == redis::ClientState::Connected;
      workers.push_back(w.toJson());
    }
    const size_t total = in.redis->workers.size();
    const Level level = total > 0 && connected == total ? Ok : connected == 0 ? Down : Degraded;
    // Without Redis the data path still serves (what needs it fails open or closed by its own
    // policy): at most degraded overall.
    if (level != Ok) overall = std::max(overall, Degraded);
    components["redis"] = {
        {"status", name(level)}, {"address", in.redis->address}, {"workers", std::move(workers)}};
  } else {
    components["redis"] = {{"status", "not_configured"}};
  }
  status = overall == Down ? 503 : 200;
  return {{"status", name(overall)}, {"ready", in.ready}, {"components", std::move(components)}};
}

json routesView(const config::Config& config, const router::WeightOverrides& overrides,
                const std::map<std::string, std::string>* rollouts) {
  auto targetJson = [&](const std::string& route, const std::string& version,
                        const config::TargetConfig& target) {
    auto override_weights = overrides.get(route, version);
    const auto weights =
        router::effectiveWeights(target, override_weights ? &*override_weights : nullptr);
    json split = json::array();
    for (size_t i = 0; i < target.split.size(); ++i) {
      split.push_back({{"cluster", target.split[i].cluster},
                       {"configured_weight", target.split[i].weight},
                       {"weight", weights[i]}});
    }
    json out = {{"split", std::move(split)}, {"overridden", override_weights.has_value()}};
    out["sticky"] = !target.sticky_claim.empty()   ? "claim " + target.sticky_claim
                    : target.sticky_header.empty() ? std::string("client address")
                                                   : target.sticky_header;
    return out;
  };
  json routes = json::array();
  for (const auto& r : config.routes) {
    json route = {{"name", r.name}, {"prefix", r.prefix}};
    if (r.versions.empty()) {
      route.update(targetJson(r.name, "", r.target));
    } else {
      route["default_version"] = r.default_version;
      auto pin = overrides.pinned(r.name);
      route["pinned_version"] = pin ? json(*pin) : json(nullptr);
      json versions = json::object();
      for (const auto& v : r.versions) {
        json version = targetJson(r.name, v.name, v.target);
        version["deprecated"] = v.deprecated != nullptr || r.deprecated != nullptr;
        versions[v.name] = std::move(version);
      }
      route["versions"] = std::move(versions);
      route["rollout"] = nullptr;
      if (rollouts != nullptr) {
        if (auto it = rollouts->find(r.name); it != rollouts->end()) route["rollout"] = it->second;
      }
    }
    route["deprecated"] = r.deprecated != nullptr;
    routes.push_back(std::move(route));
  }
  return {{"routes", std::move(routes)}};
}

AdminResult setWeightsRequest(const json& body, const config::Config& config,
                              router::WeightOverrides& overrides) {
  auto error = [](int status, std::string message) {
    return AdminResult{status, {{"error", std::move(message)}}};
  };
  if (!body.is_object()) return error(400, "expected a JSON object");
  for (const auto& [key, value] : body.items()) {
    if (key != "route" && key != "version" && key != "weights") {
      return error(400, "unknown key \"" + key + "\" (expected route, version, weights)");
    }
  }
  if (!body.contains("route") || !body["route"].is_string()) {
    return error(400, "\"route\" (a string) is required");
  }
  const std::string route = body["route"];
  std::string version;
  if (body.contains("version")) {
    if (!body["version"].is_string()) return error(400, "\"version\" must be a string");
    version = body["version"];
  }
  if (!body.contains("weights")) {
    return error(400, "\"weights\" is required: an object of cluster: weight, or null");
  }
  const json& weights = body["weights"];
  if (weights.is_null()) {
    const router::OverrideCheck check = router::checkOverride(config, route, version, {});
    // An empty override "adds up to 0", which is fine for clearing; anything else names a route
    // or version that is not there.
    if (!check.ok() && check.problem != router::OverrideProblem::ZeroTotal) {
      return error(404, check.message);
    }
    const bool cleared = overrides.clear(route, version);
    SY_LOG(Info, "admin: weights of route %s%s%s reset to the configuration", route.c_str(),
           version.empty() ? "" : " version ", version.c_str());
    return {200, {{"route", route}, {"version", version}, {"cleared", cleared}}};
  }
  if (!weights.is_object() || weights.empty()) {
    return error(400, "\"weights\" must be an object of cluster: weight, or null");
  }
  router::WeightOverrides::Weights parsed;
  for (const auto& [cluster, w] : weights.items()) {
    if (!w.is_number_unsigned() || w.get<uint64_t>() > 1'000'000) {
      return error(400, "weight of \"" + cluster + "\" must be an integer from 0 to 1000000");
    }
    parsed[cluster] = w.get<uint32_t>();
  }
  const router::OverrideCheck check = router::checkOverride(config, route, version, parsed);
  if (!check.ok()) {
    return error(check.problem == router::OverrideProblem::UnknownRoute ? 404 : 400, check.message);
  }
  overrides.set(route, version, parsed);
  std::string text;
  for (const auto& [cluster, w] : parsed) {
    text += (text.empty() ? "" : ", ") + cluster + "=" + std::to_string(w);
  }
  SY_LOG(Info, "admin: weights of route %s%s%s set to %s", route.c_str(),
         version.empty() ? "" : " version ", version.c_str(), text.c_str());
  return {200, {{"route", route}, {"version", version}, {"weights", weights}}};
}

json trafficView(const stats::TrafficWindow::Result& result) {
  const auto figures = [](const stats::TrafficWindow::Series& s, json out) {
    out["requests"] = s.requests;
    out["requests_per_second"] = s.requests_per_second;
    out["errors"] = s.errors;
    out["error_ratio"] = s.error_ratio ? json(*s.error_ratio) : json(nullptr);
    out["p95_ms"] = s.p95_seconds ? json(*s.p95_seconds * 1000.0) : json(nullptr);
    return out;
  };
  json routes = json::array();
  json clusters = json::array();
  if (!result.sources.empty()) {
    for (const auto& s : result.sources[0]) {
      if (s.key.size() == 2)
        routes.push_back(figures(s, {{"route", s.key[0]}, {"version", s.key[1]}}));
    }
  }
  if (result.sources.size() > 1) {
    for (const auto& s : result.sources[1]) {
      if (s.key.size() == 1) clusters.push_back(figures(s, {{"cluster", s.key[0]}}));
    }
  }
  return {{"window_seconds", result.window_seconds},
          {"routes", std::move(routes)},
          {"clusters", std::move(clusters)}};
}

}  // namespace switchyard::server
