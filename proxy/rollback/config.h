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
//     environment: production        # ${context.environment} in the steps
//     plans:
//       - route: api
//         alerts: {labels: {action: rollback}}
//         depends_on: [auth]           # runs after the plan of route auth has rolled it back
//         estimated_duration: 2m       # the recovery time the execution is measured against
//         steps:
//           - set_weights: {version: v2, weights: {legacy: 100}}
//             timeout: 2s
//             retry: {attempts: 3, backoff: 500ms, backoff_multiplier: 2, max_backoff: 5s}
//           - pin_version: {version: v1}
//           - verify: {max_error_ratio: 0.01, for: 30s, timeout: 5m}
//           - webhook: {url: http://127.0.0.1:8000/deploy/rollback,
//                       body: {service: orders, env: "${context.environment}"}}
//           - notify: {url: http://127.0.0.1:8001/chat,
//                      message: "rolled back ${context.route}: ${context.reason}"}
//         guard: {version: v2, window: 30s, min_requests: 20, max_error_ratio: 0.05,
//                 max_latency: 1s}
//         trigger: {cluster_unhealthy: modern}
//
// Placeholders in a webhook's url, headers and body and a notify's url, headers and message are
// filled in when the step runs: ${context.route}, ${context.version}, ${context.reason},
// ${context.trigger}, ${context.triggered_by}, ${context.environment}, ${context.execution_id}
// and ${context.labels.NAME} (a label of the alert that triggered it; empty otherwise). The older
// {route}-style names (without "context.") still work.
//
// parseRollbackConfig() checks the shape of the block on its own; validateRollbackConfig()
// checks the names it uses (routes, versions, clusters) against the routes of the
// configuration, so the loader can report every problem at its position.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <functional>
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

enum class StepType { SetWeights, PinVersion, Webhook, Notify, Verify };
std::string_view stepTypeName(StepType type);

// Each step runs until it succeeds or has used `attempts` attempts (the first included), waiting
// `backoff` after the first failed attempt, then `backoff_multiplier` times longer after each
// further one, at most `max_backoff`.
struct RetryPolicy {
  uint32_t attempts = 1;
  milliseconds backoff{500};
  double backoff_multiplier = 1;
  milliseconds max_backoff{600000};

  // The wait after the `attempt`-th failed attempt (1-based).
  milliseconds backoffAfter(uint32_t attempt) const;
};

// `verify: {...}`: waits until the route's error ratio (responses >= 500 and requests without a
// response, over every version of the route) has stayed at or below `max_error_ratio` for
// `for_`, with at least `min_requests` requests in that time; fails once `timeout` has passed
// since the step started without that happening.
struct VerifyConfig {
  double max_error_ratio = 0.01;
  milliseconds for_{30000};
  milliseconds timeout{300000};
  uint64_t min_requests = 0;
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
  // webhook and notify: the url as written when it holds placeholders (parsed again once they
  // are filled in); empty otherwise.
  std::string url_template;
  VerifyConfig verify;  // verify only
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
  // Routes whose plans must have rolled them back before this plan's steps run: when this plan
  // starts, each of them that is still active is rolled back first (and this one fails if one
  // of those fails).
  std::vector<std::string> depends_on;
  std::vector<Origin> depends_on_origins;
  // What the plan is expected to take; each execution's duration is recorded against it. 0 when
  // not given.
  milliseconds estimated_duration{0};
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
  std::string environment;       // ${context.environment}
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
// move traffic away from a cluster the route uses); depends_on names routes with plans, without
// a cycle. Returns every problem, each at the position of the value at fault.
std::vector<config::ConfigError> validateRollbackConfig(const RollbackConfig& rollback,
                                                        const config::Config& config);

// `text` with each ${context.NAME} replaced by value(NAME) (NAME as written after "context.");
// everything else as it is, an unterminated "${context." included.
std::string fillPlaceholders(std::string_view text,
                             const std::function<std::string(std::string_view)>& value);

// The clusters whose health drives a plan (`trigger: {cluster_unhealthy: ...}`), sorted, each
// once: the ones the active health checks must report to RollbackManager::onClusterHealth(), and
// so the ones that need a `health_check:` block. For an error at the position of a name, the
// plans' `cluster_unhealthy->origin` says where it was written.
std::vector<std::string> clustersWatchedForHealth(const RollbackConfig& rollback);

}  // namespace switchyard::rollback
