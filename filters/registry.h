#pragma once

// The filter API: what a filter gives the proxy, and what it gets from it. A filter is one folder
// under filters/ and one line in filters/builtin.cc that registers it by name; everything else it
// needs comes through the defaulted hooks below, never through an edit of the core.
//
// Life of a filter configuration:
//   1. Load (main thread; also `--validate` and every reload, which may still be refused): the
//      registration's build() parses the filter's YAML node into a FilterFactory;
//      parseRouteConfig() parses the filter's block under a route or version
//      (`routes[].filters: {retry: {...}}`); validate() checks the names the filter refers to
//      against the whole configuration. No side effect may happen here: a refused reload must
//      leave everything as it was.
//   2. Activation (once, when the server puts the configuration into effect): activate() claims
//      the filter's runtime state from the server's registry (state that survives reloads) and
//      applies the new settings to it; then contributePolicy() is asked for the upstream
//      policies of every (route, version, cluster).
//   3. On each worker: workerLocal() makes (or keeps from the previous configuration) the
//      filter's worker-local object, on the worker's thread, where the event loop can be used;
//      create() makes the per-request filter.
//   4. The admin listener: the endpoints a registration declares live under "/<filter name>";
//      the server answers them with the factory of the configuration in effect (handleAdmin()).
//
// Factories are immutable after load except for what activate() binds (once, before any worker
// sees the factory); they are shared by every worker, so what they hold must be thread-safe.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_error.h"
#include "proxy/admin/admin_types.h"
#include "proxy/common/random.h"
#include "proxy/common/time.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/filter.h"
#include "proxy/router/upstream_policy.h"
#include "proxy/upstream/runtime_state.h"

namespace prometheus {
class Registry;
}
namespace switchyard::config {
struct Config;
}
namespace switchyard::redis {
class Client;
}
namespace switchyard::upstream {
class ConnPool;
}

namespace switchyard::filters {

// What a filter may use on its worker. Lives as long as the worker.
struct WorkerContext {
  event::Dispatcher& dispatcher;
  common::Random& random;
  const common::TimeSource& time;
  uint32_t worker_index;
  // The worker's Redis client (proxy/redis/client.h, which says how to use it); null without a
  // `redis:` block. Lives as long as the worker's loop runs; at worker stop it answers what is
  // still pending with Disconnected and goes, after the filters' worker-local objects.
  redis::Client* redis = nullptr;
  // The worker's connection pool for a cluster of the configuration in effect on the worker (null
  // for a name it does not have), for a filter's own requests upstream (the cache's background
  // refresh). On the worker's thread; hold the pointer while a request is on the pool.
  std::function<std::shared_ptr<upstream::ConnPool>(std::string_view cluster)> upstream_pool;
};

// One worker's object for one filter of the chain: a cache shard, a connection, formatted
// headers. Made and destroyed on the worker's thread (see FilterFactory::workerLocal()); used
// only there.
class WorkerLocal {
 public:
  virtual ~WorkerLocal() = default;
};
using WorkerLocalPtr = std::shared_ptr<WorkerLocal>;

// A filter's configuration for one route or one version of a route (`routes[].filters.<name>`,
// `routes[].versions.<v>.filters.<name>`), parsed by the filter itself. A version's block applies
// over its route's, and a route's over the filter's own configuration.
using http::RouteFilterConfig;
using RouteFilterConfigPtr = std::shared_ptr<const RouteFilterConfig>;

// Where an upstream policy applies.
struct PolicyTarget {
  std::string_view route;
  std::string_view version;  // empty for an unversioned route
  std::string_view cluster;
  // This filter's configuration for the route or version (the version's if it has one), or null.
  const RouteFilterConfig* route_config = nullptr;
};

struct ActivationContext {
  const config::Config& config;
  upstream::RuntimeStateRegistry& state;
};

// What a cluster's entry on the admin /clusters and /health pages gets from a filter.
struct ClusterView {
  nlohmann::json& out;    // the cluster's JSON object: add fields named after the filter
  bool degraded = false;  // set when the filter sees the cluster as unhealthy (an open breaker)
};

// An admin endpoint of a filter, declared with its registration: `path` is below "/<name>" ("" is
// "/<name>" itself). A mutating endpoint needs the admin token (checked by the admin server).
struct AdminEndpoint {
  std::string method;
  std::string path;
  bool mutating = false;
};

// What an admin handler of a filter may reach besides the request.
class AdminContext {
 public:
  virtual ~AdminContext() = default;
  // Runs fn on each worker's thread with that worker's WorkerLocal of this filter (null if it has
  // none) and returns once every worker has run it, or false if some did not within `timeout`
  // (fn must then not touch anything of the caller's). For purges and per-worker figures.
  virtual bool runOnWorkers(const std::function<void(uint32_t worker, WorkerLocal* local)>& fn,
                            std::chrono::milliseconds timeout) = 0;
};

class FilterFactory {
 public:
  virtual ~FilterFactory() = default;

  // The per-request filter, on a worker thread; `local` is this filter's WorkerLocal on that
  // worker (null when it has none). Called only for filters registered with stream_filter.
  virtual http::StreamFilterPtr create(WorkerContext& /*worker*/, WorkerLocal* /*local*/) const {
    return nullptr;
  }

  // The effective configuration, for the admin /config dump (secrets redacted).
  virtual nlohmann::json toJson() const = 0;

  // Parses this filter's block under a route (`parent` null) or a version (`parent`: the route's
  // block, if any) at `path`. Throws config::ConfigError. The default takes none.
  virtual RouteFilterConfigPtr parseRouteConfig(const YAML::Node& node, const std::string& path,
                                                const RouteFilterConfig* parent) const;

  // Checks what the filter's configuration refers to (clusters, routes, versions) against the
  // whole configuration, once it has loaded without errors. Errors carry the position of the
  // offending node, so the factory keeps the marks of the names it will check.
  virtual std::vector<config::ConfigError> validate(const config::Config& /*config*/) const {
    return {};
  }

  // See "Activation" above. Called once per factory, on the thread putting the configuration
  // into effect, before any worker uses the factory.
  virtual void activate(ActivationContext& /*ctx*/) const {}
  // Fills the parts of `policy` this filter provides for `target` (after activate()). What it
  // points to must live as long as the factory.
  virtual void contributePolicy(const PolicyTarget& /*target*/,
                                router::UpstreamPolicy& /*policy*/) const {}

  // This filter's object on one worker, made on the worker's thread when a configuration is
  // installed there (at worker start, and on each reload). `previous` is the object the
  // worker had for the same chain entry (same name and position among filters of that name)
  // under the previous configuration: return it to keep it (a cache shard keeps its entries),
  // or a new one. Released on the worker's thread once no configuration of the worker uses it
  // (at worker stop at the latest). Null: none.
  virtual WorkerLocalPtr workerLocal(WorkerContext& /*worker*/, WorkerLocalPtr /*previous*/) const {
    return nullptr;
  }

  // The cluster's entry on the admin /clusters and /health pages.
  virtual void describeCluster(const std::string& /*cluster*/, ClusterView& /*view*/) const {}

  // Answers one of the admin endpoints the registration declared (on the admin thread). The
  // default: 404.
  virtual admin::AdminResponse handleAdmin(const AdminEndpoint& endpoint,
                                           const admin::AdminRequest& request,
                                           AdminContext& ctx) const;
};
using FilterFactoryPtr = std::shared_ptr<const FilterFactory>;

// What a filter's build function gets besides its YAML node.
struct BuildContext {
  std::string path;  // YAML key path of the filter's node, for ConfigError, e.g.
                     // "filters[0].correlation_id"
  prometheus::Registry& metrics;
  const common::TimeSource& time;
};

// Parses the filter's own YAML node and returns its factory; throws config::ConfigError.
using FilterBuildFn = std::function<FilterFactoryPtr(const YAML::Node& node, BuildContext& ctx)>;

// Upstream policies a filter provides; a chain takes at most one filter of each kind.
enum class PolicyKind : uint8_t { None = 0, Retry = 1, Admission = 2 };

struct FilterRegistration {
  FilterBuildFn build;
  // Whether the filter runs per request (create()); false for one that only contributes upstream
  // policies (the router applies those per attempt), which then costs nothing per request.
  bool stream_filter = true;
  std::vector<PolicyKind> policies;
  std::vector<AdminEndpoint> admin;
};

// Filters known by name. Built in main (no global registry); each filter adds itself with one
// line in filters/builtin.cc.
class FilterRegistry {
 public:
  void add(std::string name, FilterRegistration registration) {
    entries_[std::move(name)] = std::move(registration);
  }
  // A filter that runs per request and provides nothing else.
  void add(std::string name, FilterBuildFn build) {
    FilterRegistration registration;
    registration.build = std::move(build);
    add(std::move(name), std::move(registration));
  }
  const FilterRegistration* find(const std::string& name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, entry] : entries_) out.push_back(name);
    return out;
  }
  const std::map<std::string, FilterRegistration>& entries() const { return entries_; }

 private:
  std::map<std::string, FilterRegistration> entries_;
};

// Registers every filter that ships with Switchyard.
void registerBuiltinFilters(FilterRegistry& registry);

}  // namespace switchyard::filters
