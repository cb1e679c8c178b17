#pragma once

// The top-level `rollback:` block: where the rollback state lives, the Alertmanager receiver's
// limits, and one plan per route (the steps to run, which alerts trigger it, and the sidecar's
// own guard). Built once at load, read-only afterwards.
//
//   rollback:
//     state_file: /var/lib/switchyard/rollback.json
//     webhook: {max_body_bytes: 1MiB}
//     max_executions: 100
//     max_alert_keys: 1000
//     plans:
//       - route: api
//         alerts: {labels: {action: rollback}}
//         steps:
//           - set_weights: {version: v2, weights: {legacy: 100}}
//             timeout: 2s
//             retry: {attempts: 3, backoff: 500ms}
//           - pin_version: {version: v1}
//           - webhook: {url: http://127.0.0.1:8000/deploy/rollback, body: {service: orders}}
//           - notify: {url: http://127.0.0.1:8001/chat, message: "rolled back {route}: {reason}"}
//         guard: {version: v2, window: 30s, min_requests: 20, max_error_ratio: 0.05,
//                 max_latency: 1s}
//         trigger: {cluster_unhealthy: modern}
//
// parseRollbackConfig() checks the shape of the block on its own; validateRollbackConfig()
// checks the names it uses (routes, versions, clusters) against the routes of the
// configuration, so the loader can report every problem at its position.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/config_error.h"
#include "proxy/http/json_post.h"

namespace switchyard::rollback {

// Webhook and notify steps call out through the shared blocking client.
using http::httpPostJson;
using http::HttpPostResult;
using http::HttpUrl;
using http::parseHttpUrl;

using std::chrono::milliseconds;

// Where a value was written, so that errors found after parsing point at it.
struct Origin {
  std::string path;  // e.g. "rollback.plans[0].steps[1].set_weights.version"
  int line = 0;      // 1-based; 0 when unknown
  int column = 0;
};

enum class StepType { SetWeights, PinVersion, Webhook, Notify };
std::string_view stepTypeName(StepType type);

// Each step runs until it succeeds or has used `attempts` attempts (the first included), waiting
// `backoff` between two attempts.
struct RetryPolicy {
  uint32_t attempts = 1;
  milliseconds backoff{500};
};

struct StepConfig {
  StepType type = StepType::SetWeights;
  // set_weights and pin_version: the version of the route ("" for set_weights on a route
  // without versions).
  std::string version;
  std::map<std::string, uint32_t> weights;  // set_weights: cluster -> weight
  // webhook and notify: where the JSON is POSTed.
  HttpUrl url;
  std::vector<std::pair<std::string, std::string>> headers;  // extra request headers
  // webhook: the JSON body (strings get the placeholders substituted); null = the default body.
  nlohmann::json body;
  std::string message;  // notify: the text (placeholders substituted)
  // One attempt's limit: connect, send and the response head of a webhook or notify call. The
  // proxy-control steps act in memory and return at once.
  milliseconds timeout{5000};
  RetryPolicy retry;

  Origin origin;  // the step's entry in `steps`
  Origin version_origin;
  Origin weights_origin;
  std::map<std::string, Origin> weight_origins;  // cluster -> where its weight was written

  // set_weights and pin_version change where traffic goes; they are re-applied after a restart.
  bool changesTraffic() const {
    return type == StepType::SetWeights || type == StepType::PinVersion;
  }
};

struct GuardConfig {
  std::string version;  // the version of the route watched; "" for a route without versions
  milliseconds window{30000};
  uint64_t min_requests = 20;
  double max_error_ratio = 0.05;  // responses >= 500 over all responses
  milliseconds max_latency{0};    // p95 above this trips the guard; 0 = latency not watched
  Origin origin;
  Origin version_origin;
};

// `trigger: {cluster_unhealthy: modern}`: the plan also starts when every endpoint of that cluster
// has failed its active health checks (RollbackManager::onClusterHealth()).
struct ClusterHealthTrigger {
  std::string cluster;
  Origin origin;  // where the cluster's name was written
};

struct PlanConfig {
  std::string route;
  // Label matchers an alert must all satisfy besides naming the route (or one of its clusters).
  std::map<std::string, std::string> alert_labels = {{"action", "rollback"}};
  std::vector<StepConfig> steps;
  std::optional<GuardConfig> guard;
  std::optional<ClusterHealthTrigger> cluster_unhealthy;
  Origin origin;
  Origin route_origin;
};

struct RollbackConfig {
  // Where state, executions and seen alert keys persist; empty keeps them in memory only.
  std::string state_file;
  uint64_t webhook_max_body_bytes = 1024 * 1024;
  size_t max_executions = 100;   // executions kept (the oldest finished ones are dropped)
  size_t max_alert_keys = 1000;  // idempotency keys of alert notifications kept
  std::vector<PlanConfig> plans;

  const PlanConfig* findPlan(std::string_view route) const;
};

// Parses the value of the top-level `rollback:` key found at `path` (normally "rollback"). A
// null node gives an empty configuration. Throws config::ConfigError at the first problem,
// located at the offending node with its key path.
RollbackConfig parseRollbackConfig(const YAML::Node& node, const std::string& path);

// Checks every name the plans use against `config`: the route exists (and has a plan once);
// set_weights names a version the route has (none for a route without versions) and only
// clusters of that version's split, not all at weight 0; pin_version names a version of a
// versioned route; the guard watches an existing version; a cluster_unhealthy trigger names a
// cluster of the configuration that one of the route's targets sends traffic to (a plan can only
// move traffic away from a cluster the route uses). Returns every problem, each at the position
// of the value at fault.
std::vector<config::ConfigError> validateRollbackConfig(const RollbackConfig& rollback,
                                                        const config::Config& config);

// The clusters whose health drives a plan (`trigger: {cluster_unhealthy: ...}`), sorted, each
// once: the ones the active health checks must report to RollbackManager::onClusterHealth(), and
// so the ones that need a `health_check:` block. For an error at the position of a name, the
// plans' `cluster_unhealthy->origin` says where it was written.
std::vector<std::string> clustersWatchedForHealth(const RollbackConfig& rollback);

}  // namespace switchyard::rollback
