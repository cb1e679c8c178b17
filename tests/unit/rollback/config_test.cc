#include "proxy/rollback/config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace switchyard::rollback {
namespace {

using config::ConfigError;

// api: versioned (v1 -> legacy, v2 -> modern 90 / legacy 10); simple: one cluster. The clusters
// are those two and reports, which no route uses.
config::Config routes() {
  config::Config c;
  for (const char* name : {"legacy", "modern", "reports"}) {
    config::ClusterConfig cluster;
    cluster.name = name;
    c.clusters.push_back(cluster);
  }
  config::RouteConfig api;
  api.name = "api";
  config::VersionConfig v1;
  v1.name = "v1";
  v1.target.split = {{"legacy", 1}};
  config::VersionConfig v2;
  v2.name = "v2";
  v2.target.split = {{"modern", 90}, {"legacy", 10}};
  api.versions = {v1, v2};
  api.default_version = "v2";
  config::RouteConfig simple;
  simple.name = "simple";
  simple.cluster = "modern";
  simple.target.split = {{"modern", 1}};
  c.routes = {api, simple};
  return c;
}

RollbackConfig parse(const std::string& yaml) {
  return parseRollbackConfig(YAML::Load(yaml)["rollback"], "rollback");
}

std::string formatted(const ConfigError& e) {
  return std::to_string(e.line()) + ":" + std::to_string(e.column()) + ": " + e.path() + ": " +
         e.what();
}

// "line:col: path: message" of the error parsing `yaml` throws.
std::string parseError(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const ConfigError& e) {
    return formatted(e);
  }
  return "no error";
}

std::vector<std::string> validationErrors(const std::string& yaml) {
  std::vector<std::string> out;
  for (const ConfigError& e : validateRollbackConfig(parse(yaml), routes())) {
    out.push_back(formatted(e));
  }
  return out;
}

TEST(RollbackConfigTest, ParsesTheFullExample) {
  RollbackConfig c = parse(R"(
rollback:
  state_file: /var/lib/switchyard/rollback.json
  webhook: {max_body_bytes: 2MiB}
  max_executions: 50
  max_alert_keys: 500
  plans:
    - route: api
      alerts: {labels: {action: rollback, severity: critical}}
      steps:
        - set_weights: {version: v2, weights: {legacy: 100, modern: 0}}
          timeout: 2s
          retry: {attempts: 3, backoff: 500ms}
        - pin_version: {version: v1}
        - webhook:
            url: http://127.0.0.1:8000/deploy/rollback
            body: {service: orders, replicas: 2, dry_run: false, tag: "2", note: "{reason}"}
            headers: {Authorization: Bearer abc}
        - notify: {url: "http://localhost:8001/chat", message: "rolled back {route}: {reason}"}
      guard:
        version: v2
        window: 30s
        min_requests: 20
        max_error_ratio: 0.05
        max_latency: 1s
)");
  EXPECT_EQ(c.state_file, "/var/lib/switchyard/rollback.json");
  EXPECT_EQ(c.webhook_max_body_bytes, 2u << 20);
  EXPECT_EQ(c.max_executions, 50u);
  EXPECT_EQ(c.max_alert_keys, 500u);
  ASSERT_EQ(c.plans.size(), 1u);
  const PlanConfig& plan = c.plans[0];
  EXPECT_EQ(plan.route, "api");
  EXPECT_EQ(plan.route_origin.line, 8);
  EXPECT_EQ(plan.alert_labels,
            (std::map<std::string, std::string>{{"action", "rollback"}, {"severity", "critical"}}));
  ASSERT_EQ(plan.steps.size(), 4u);
  EXPECT_EQ(plan.steps[0].type, StepType::SetWeights);
  EXPECT_EQ(plan.steps[0].version, "v2");
  EXPECT_EQ(plan.steps[0].weights,
            (std::map<std::string, uint32_t>{{"legacy", 100}, {"modern", 0}}));
  EXPECT_EQ(plan.steps[0].timeout, std::chrono::seconds(2));
  EXPECT_EQ(plan.steps[0].retry.attempts, 3u);
  EXPECT_EQ(plan.steps[0].retry.backoff, std::chrono::milliseconds(500));
  EXPECT_TRUE(plan.steps[0].changesTraffic());
  EXPECT_EQ(plan.steps[1].type, StepType::PinVersion);
  EXPECT_EQ(plan.steps[1].version, "v1");
  EXPECT_EQ(plan.steps[1].retry.attempts, 1u);
  EXPECT_EQ(plan.steps[2].type, StepType::Webhook);
  EXPECT_FALSE(plan.steps[2].changesTraffic());
  EXPECT_EQ(plan.steps[2].url.host, "127.0.0.1");
  EXPECT_EQ(plan.steps[2].url.port, 8000);
  EXPECT_EQ(plan.steps[2].url.path, "/deploy/rollback");
  EXPECT_EQ(plan.steps[2].body, (nlohmann::json{{"service", "orders"},
                                                {"replicas", 2},
                                                {"dry_run", false},
                                                {"tag", "2"},
                                                {"note", "{reason}"}}));
  ASSERT_EQ(plan.steps[2].headers.size(), 1u);
  EXPECT_EQ(plan.steps[2].headers[0].second, "Bearer abc");
  EXPECT_EQ(plan.steps[3].type, StepType::Notify);
  EXPECT_EQ(plan.steps[3].url.host, "127.0.0.1");
  EXPECT_EQ(plan.steps[3].message, "rolled back {route}: {reason}");
  ASSERT_TRUE(plan.guard.has_value());
  EXPECT_EQ(plan.guard->version, "v2");
  EXPECT_EQ(plan.guard->window, std::chrono::seconds(30));
  EXPECT_EQ(plan.guard->min_requests, 20u);
  EXPECT_DOUBLE_EQ(plan.guard->max_error_ratio, 0.05);
  EXPECT_EQ(plan.guard->max_latency, std::chrono::seconds(1));
  EXPECT_EQ(c.findPlan("api"), &c.plans[0]);
  EXPECT_EQ(c.findPlan("other"), nullptr);
  EXPECT_TRUE(validateRollbackConfig(c, routes()).empty());
}

TEST(RollbackConfigTest, DefaultsAndEmptyBlock) {
  RollbackConfig empty = parse("rollback:\n");
  EXPECT_TRUE(empty.plans.empty());
  EXPECT_EQ(empty.state_file, "");
  EXPECT_EQ(empty.webhook_max_body_bytes, 1u << 20);
  RollbackConfig c = parse(
      "rollback:\n"
      "  plans:\n"
      "    - route: simple\n"
      "      steps: [{set_weights: {weights: {modern: 1}}}]\n"
      "      guard: {}\n");
  EXPECT_EQ(c.plans[0].alert_labels, (std::map<std::string, std::string>{{"action", "rollback"}}));
  EXPECT_EQ(c.plans[0].steps[0].version, "");
  EXPECT_EQ(c.plans[0].steps[0].timeout, std::chrono::seconds(5));
  EXPECT_EQ(c.plans[0].guard->window, std::chrono::seconds(30));
  EXPECT_EQ(c.plans[0].guard->max_latency, std::chrono::milliseconds(0));
  EXPECT_TRUE(validateRollbackConfig(c, routes()).empty());
  // An explicit empty label map matches on the route alone.
  RollbackConfig any = parse(
      "rollback:\n"
      "  plans: [{route: simple, alerts: {labels: {}}, steps: [{pin_version: {version: v1}}]}]\n");
  EXPECT_TRUE(any.plans[0].alert_labels.empty());
}

TEST(RollbackConfigTest, ShapeErrorsCarryPositionAndPath) {
  const std::string head = "rollback:\n  plans:\n    - route: api\n      steps:\n";
  EXPECT_EQ(parseError("rollback: [1]\n"), "1:11: rollback: expected a map");
  EXPECT_EQ(parseError("rollback:\n  plan: []\n"),
            "2:3: rollback.plan: unknown key \"plan\" (expected one of: state_file, webhook, "
            "max_executions, max_alert_keys, environment, plans)");
  EXPECT_EQ(parseError("rollback:\n  state_file: ''\n"),
            "2:15: rollback.state_file: must not be empty");
  EXPECT_EQ(parseError("rollback:\n  webhook: {max_body_bytes: 10}\n"),
            "2:29: rollback.webhook.max_body_bytes: must be between 1KiB and 64MiB");
  EXPECT_EQ(parseError("rollback:\n  plans:\n    - steps: [{pin_version: {version: v1}}]\n"),
            "3:7: rollback.plans[0]: \"route\" is required");
  EXPECT_EQ(parseError("rollback:\n  plans:\n    - route: api\n"),
            "3:7: rollback.plans[0]: \"steps\" is required");
  EXPECT_EQ(parseError("rollback:\n  plans:\n    - route: api\n      steps: []\n"),
            "4:14: rollback.plans[0].steps: a plan needs at least one step");
  EXPECT_EQ(parseError(head + "        - {timeout: 1s}\n"),
            "5:11: rollback.plans[0].steps[0]: a step is exactly one of set_weights, "
            "pin_version, webhook, notify, verify");
  EXPECT_EQ(parseError(head + "        - {pin_version: {version: v1}, notify: {url: "
                              "'http://127.0.0.1:1/', message: x}}\n"),
            "5:11: rollback.plans[0].steps[0]: a step is exactly one of set_weights, "
            "pin_version, webhook, notify, verify");
  EXPECT_EQ(parseError(head + "        - {pin_version: {}}\n"),
            "5:25: rollback.plans[0].steps[0].pin_version: \"version\" is required");
  EXPECT_EQ(parseError(head + "        - {set_weights: {version: v2}}\n"),
            "5:25: rollback.plans[0].steps[0].set_weights: \"weights\" is required");
  EXPECT_EQ(parseError(head + "        - {set_weights: {version: v2, weights: {}}}\n"),
            "5:48: rollback.plans[0].steps[0].set_weights.weights: name at least one cluster "
            "and its weight");
  EXPECT_EQ(parseError(head + "        - {set_weights: {version: v2, weights: {legacy: -1}}}\n"),
            "5:57: rollback.plans[0].steps[0].set_weights.weights.legacy: expected an integer "
            "between 0 and 1000000, got \"-1\"");
  EXPECT_EQ(parseError(head + "        - {pin_version: {version: v1}, timeout: 0ms}\n"),
            "5:49: rollback.plans[0].steps[0].timeout: must be between 1ms and 5m");
  EXPECT_EQ(parseError(head + "        - {pin_version: {version: v1}, retry: {attempts: 0}}\n"),
            "5:58: rollback.plans[0].steps[0].retry.attempts: expected an integer between 1 and "
            "20, got \"0\"");
  EXPECT_EQ(parseError(head + "        - {pin_version: {version: v1}, retry: {backoff: 5}}\n"),
            "5:57: rollback.plans[0].steps[0].retry.backoff: expected a duration such as "
            "\"250ms\", \"30s\", \"1m\" or \"1m30s\", got \"5\"");
  EXPECT_EQ(parseError(head + "        - {webhook: {url: 'https://10.0.0.1/x'}}\n"),
            "5:27: rollback.plans[0].steps[0].webhook.url: expected an http:// URL (plain HTTP "
            "to a numeric address or localhost), got \"https://10.0.0.1/x\"");
  EXPECT_EQ(parseError(head + "        - {webhook: {url: 'http://deploy.internal/x'}}\n"),
            "5:27: rollback.plans[0].steps[0].webhook.url: the URL's host must be a numeric "
            "IPv4 address, a bracketed IPv6 address or localhost, with an optional port from 1 "
            "to 65535: \"http://deploy.internal/x\"");
  EXPECT_EQ(parseError(head + "        - {webhook: {url: 'http://127.0.0.1:1/', body: [1]}}\n"),
            "5:56: rollback.plans[0].steps[0].webhook.body: expected a map (the JSON object "
            "sent)");
  EXPECT_EQ(parseError(head + "        - {webhook: {url: 'http://127.0.0.1:1/', headers: "
                              "{Content-Type: text/plain}}}\n"),
            "5:60: rollback.plans[0].steps[0].webhook.headers.Content-Type: \"Content-Type\" is "
            "set by the sidecar");
  EXPECT_EQ(parseError(head + "        - {notify: {url: 'http://127.0.0.1:1/'}}\n"),
            "5:20: rollback.plans[0].steps[0].notify: \"message\" is required");
  EXPECT_EQ(parseError(head + "        - {notify: {url: 'http://127.0.0.1:1/', message: x, "
                              "body: {}}}\n"),
            "5:61: rollback.plans[0].steps[0].notify.body: unknown key \"body\" (expected one "
            "of: url, message, headers)");
  EXPECT_EQ(parseError("rollback:\n  plans:\n    - route: api\n      alerts: {labels: "
                       "{'bad-name': x}}\n      steps: [{pin_version: {version: v1}}]\n"),
            "4:25: rollback.plans[0].alerts.labels.bad-name: \"bad-name\" is not a label name "
            "([a-zA-Z_][a-zA-Z0-9_]*)");
  EXPECT_EQ(parseError(head +
                       "        - {set_weights: {version: v2, weights: {legacy: 1, legacy: 2}}}\n"),
            "5:60: rollback.plans[0].steps[0].set_weights.weights.legacy: duplicate key "
            "\"legacy\"");
  const std::string step = "      steps: [{pin_version: {version: v1}}]\n";
  EXPECT_EQ(parseError("rollback:\n  plans:\n    - route: api\n" + step +
                       "      guard: {window: 1500ms}\n"),
            "5:23: rollback.plans[0].guard.window: must be a whole number of seconds (the guard "
            "counts per second)");
  EXPECT_EQ(parseError("rollback:\n  plans:\n    - route: api\n" + step +
                       "      guard: {max_error_ratio: 1.5}\n"),
            "5:32: rollback.plans[0].guard.max_error_ratio: expected a number between 0 and 1, "
            "got \"1.5\"");
  EXPECT_EQ(
      parseError("rollback:\n  plans:\n    - route: api\n" + step + "    - route: api\n" + step),
      "5:14: rollback.plans[1].route: route \"api\" already has a plan (line 3)");
}

TEST(RollbackConfigTest, ValidationPlacesEachErrorAtItsValue) {
  EXPECT_EQ(
      validationErrors("rollback:\n  plans:\n    - route: nope\n"
                       "      steps: [{pin_version: {version: v1}}]\n"),
      std::vector<std::string>{"3:14: rollback.plans[0].route: route \"nope\" does not exist"});
  EXPECT_EQ(
      validationErrors("rollback:\n"
                       "  plans:\n"
                       "    - route: api\n"
                       "      steps:\n"
                       "        - set_weights: {version: v3, weights: {legacy: 1}}\n"
                       "        - set_weights: {version: v2, weights: {legacy: 1, elsewhere: 1}}\n"
                       "        - set_weights: {weights: {legacy: 1}}\n"
                       "        - set_weights: {version: v1, weights: {legacy: 0}}\n"
                       "        - pin_version: {version: v9}\n"
                       "      guard: {version: v7}\n"
                       "    - route: simple\n"
                       "      steps:\n"
                       "        - set_weights: {version: v1, weights: {modern: 1}}\n"
                       "        - pin_version: {version: v1}\n"
                       "      guard: {}\n"),
      (std::vector<std::string>{
          "5:34: rollback.plans[0].steps[0].set_weights.version: route \"api\" has no version "
          "\"v3\" (v1, v2)",
          "6:59: rollback.plans[0].steps[1].set_weights.weights.elsewhere: cluster "
          "\"elsewhere\" is not part of the split of \"api\" v2 (modern, legacy)",
          "7:24: rollback.plans[0].steps[2].set_weights: route \"api\" is versioned: name one "
          "of its versions (v1, v2)",
          "8:47: rollback.plans[0].steps[3].set_weights.weights: the weights add up to 0; at "
          "least one must be positive",
          "9:34: rollback.plans[0].steps[4].pin_version.version: route \"api\" has no version "
          "\"v9\" (v1, v2)",
          "10:24: rollback.plans[0].guard.version: route \"api\" has no version \"v7\" (v1, v2)",
          "13:34: rollback.plans[1].steps[0].set_weights.version: route \"simple\" has no "
          "versions; leave \"version\" out",
          "14:34: rollback.plans[1].steps[1].pin_version.version: pin_version needs a "
          "versioned route; \"simple\" has no versions",
      }));
  // A versioned route's guard must name the version it watches.
  EXPECT_EQ(validationErrors("rollback:\n  plans:\n    - route: api\n"
                             "      steps: [{pin_version: {version: v1}}]\n      guard: {}\n"),
            std::vector<std::string>{"5:14: rollback.plans[0].guard: route \"api\" is versioned: "
                                     "name one of its versions (v1, v2)"});
}

TEST(RollbackConfigTest, ParsesAClusterUnhealthyTrigger) {
  RollbackConfig c = parse(
      "rollback:\n"
      "  plans:\n"
      "    - route: api\n"
      "      steps: [{set_weights: {version: v2, weights: {legacy: 100}}}]\n"
      "      trigger: {cluster_unhealthy: modern}\n"
      "    - route: simple\n"
      "      steps: [{set_weights: {weights: {modern: 1}}}]\n"
      "      trigger:\n"
      "        cluster_unhealthy: modern\n");
  ASSERT_EQ(c.plans.size(), 2u);
  ASSERT_TRUE(c.plans[0].cluster_unhealthy.has_value());
  EXPECT_EQ(c.plans[0].cluster_unhealthy->cluster, "modern");
  EXPECT_EQ(c.plans[0].cluster_unhealthy->origin.path,
            "rollback.plans[0].trigger.cluster_unhealthy");
  EXPECT_EQ(c.plans[0].cluster_unhealthy->origin.line, 5);
  EXPECT_EQ(c.plans[0].cluster_unhealthy->origin.column, 36);
  EXPECT_EQ(c.plans[1].cluster_unhealthy->origin.line, 9);
  EXPECT_EQ(c.plans[1].cluster_unhealthy->origin.column, 28);
  EXPECT_TRUE(validateRollbackConfig(c, routes()).empty());
  // Each watched cluster once, for the health checks to report on.
  EXPECT_EQ(clustersWatchedForHealth(c), std::vector<std::string>{"modern"});

  RollbackConfig without = parse(
      "rollback:\n  plans: [{route: simple, steps: [{set_weights: {weights: {modern: 1}}}]}]\n");
  EXPECT_FALSE(without.plans[0].cluster_unhealthy.has_value());
  EXPECT_TRUE(clustersWatchedForHealth(without).empty());
  EXPECT_TRUE(clustersWatchedForHealth(parse("rollback:\n")).empty());
}

TEST(RollbackConfigTest, ClusterUnhealthyTriggerShapeErrors) {
  const std::string head =
      "rollback:\n  plans:\n    - route: api\n      steps: [{pin_version: {version: v1}}]\n";
  EXPECT_EQ(parseError(head + "      trigger: {cluster_down: modern}\n"),
            "5:17: rollback.plans[0].trigger.cluster_down: unknown key \"cluster_down\" "
            "(expected one of: cluster_unhealthy)");
  EXPECT_EQ(parseError(head + "      trigger: {}\n"),
            "5:16: rollback.plans[0].trigger: \"cluster_unhealthy\" is required");
  EXPECT_EQ(parseError(head + "      trigger:\n"),
            "6:1: rollback.plans[0].trigger: expected a map");
  EXPECT_EQ(parseError(head + "      trigger: modern\n"),
            "5:16: rollback.plans[0].trigger: expected a map");
  EXPECT_EQ(parseError(head + "      trigger: {cluster_unhealthy: ''}\n"),
            "5:36: rollback.plans[0].trigger.cluster_unhealthy: must not be empty");
  EXPECT_EQ(parseError(head + "      trigger: {cluster_unhealthy: }\n"),
            "5:36: rollback.plans[0].trigger.cluster_unhealthy: expected a string");
  EXPECT_EQ(parseError(head + "      trigger: {cluster_unhealthy: [modern]}\n"),
            "5:36: rollback.plans[0].trigger.cluster_unhealthy: expected a string");
  EXPECT_EQ(parseError(head + "      trigger: {cluster_unhealthy: {name: modern}}\n"),
            "5:36: rollback.plans[0].trigger.cluster_unhealthy: expected a string");
}

TEST(RollbackConfigTest, ClusterUnhealthyNamesAClusterOfTheRoute) {
  const std::string api =
      "rollback:\n  plans:\n    - route: api\n      steps: [{pin_version: {version: v1}}]\n";
  EXPECT_EQ(validationErrors(api + "      trigger: {cluster_unhealthy: nowhere}\n"),
            std::vector<std::string>{"5:36: rollback.plans[0].trigger.cluster_unhealthy: unknown "
                                     "cluster \"nowhere\" (defined clusters: legacy, modern, "
                                     "reports)"});
  EXPECT_EQ(validationErrors(api + "      trigger: {cluster_unhealthy: reports}\n"),
            std::vector<std::string>{"5:36: rollback.plans[0].trigger.cluster_unhealthy: cluster "
                                     "\"reports\" is not a target of route \"api\" (legacy, "
                                     "modern)"});
  // Any version's target counts: legacy serves v1 and a tenth of v2.
  EXPECT_TRUE(validationErrors(api + "      trigger: {cluster_unhealthy: legacy}\n").empty());
  EXPECT_EQ(validationErrors("rollback:\n  plans:\n    - route: simple\n"
                             "      steps: [{set_weights: {weights: {modern: 1}}}]\n"
                             "      trigger: {cluster_unhealthy: legacy}\n"),
            std::vector<std::string>{"5:36: rollback.plans[0].trigger.cluster_unhealthy: cluster "
                                     "\"legacy\" is not a target of route \"simple\" "
                                     "(modern)"});
  // A plan for a route that does not exist reports only that.
  EXPECT_EQ(validationErrors("rollback:\n  plans:\n    - route: nope\n"
                             "      steps: [{pin_version: {version: v1}}]\n"
                             "      trigger: {cluster_unhealthy: nowhere}\n"),
            std::vector<std::string>{"3:14: rollback.plans[0].route: route \"nope\" does not "
                                     "exist"});
}

TEST(RollbackConfigTest, HttpUrls) {
  HttpUrl url;
  std::string error;
  ASSERT_TRUE(parseHttpUrl("http://[::1]:9000/x?y=1", url, error)) << error;
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, 9000);
  EXPECT_EQ(url.path, "/x?y=1");
  ASSERT_TRUE(parseHttpUrl("HTTP://localhost", url, error)) << error;
  EXPECT_EQ(url.host, "127.0.0.1");
  EXPECT_EQ(url.port, 80);
  EXPECT_EQ(url.path, "/");
  ASSERT_TRUE(parseHttpUrl("http://10.1.2.3?a=b", url, error));
  EXPECT_EQ(url.path, "/?a=b");
  for (const char* bad :
       {"", "http://", "ftp://127.0.0.1/", "http://user:pw@127.0.0.1/", "http://127.0.0.1:0/",
        "http://127.0.0.1:70000/", "http://::1/", "http://127.0.0.1/a#frag", "http://127.0.0.1/a b",
        "http://example.com/"}) {
    EXPECT_FALSE(parseHttpUrl(bad, url, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

}  // namespace
TEST(RollbackConfigTest, ParsesTheCompletePlanKeys) {
  RollbackConfig c = parse(
      "rollback:\n"
      "  environment: staging\n"
      "  plans:\n"
      "    - route: simple\n"
      "      steps: [{set_weights: {weights: {modern: 1}}}]\n"
      "    - route: api\n"
      "      depends_on: [simple]\n"
      "      estimated_duration: 90s\n"
      "      steps:\n"
      "        - webhook:\n"
      "            url: 'http://127.0.0.1:1/deploy/${context.route}?by=${context.triggered_by}'\n"
      "            headers: {X-Env: '${context.environment}'}\n"
      "            body: {sev: '${context.labels.severity}', list: ['${context.trigger}']}\n"
      "          retry: {attempts: 4, backoff: 100ms, backoff_multiplier: 2, max_backoff: 300ms}\n"
      "        - verify: {max_error_ratio: 0.02, for: 10s, min_requests: 5}\n"
      "        - notify: {url: 'http://127.0.0.1:1/', message: '${context.reason}'}\n");
  EXPECT_EQ(c.environment, "staging");
  const PlanConfig& api = c.plans[1];
  EXPECT_EQ(api.depends_on, std::vector<std::string>{"simple"});
  EXPECT_EQ(api.estimated_duration, std::chrono::seconds(90));
  const StepConfig& call = api.steps[0];
  EXPECT_EQ(call.url_template,
            "http://127.0.0.1:1/deploy/${context.route}?by=${context.triggered_by}");
  EXPECT_EQ(call.retry.backoffAfter(1), std::chrono::milliseconds(100));
  EXPECT_EQ(call.retry.backoffAfter(2), std::chrono::milliseconds(200));
  EXPECT_EQ(call.retry.backoffAfter(3), std::chrono::milliseconds(300));  // capped
  EXPECT_EQ(api.steps[1].type, StepType::Verify);
  EXPECT_EQ(api.steps[1].verify.max_error_ratio, 0.02);
  EXPECT_EQ(api.steps[1].verify.for_, std::chrono::seconds(10));
  EXPECT_EQ(api.steps[1].verify.timeout, std::chrono::seconds(300));  // the default
  EXPECT_EQ(api.steps[1].verify.min_requests, 5u);
  EXPECT_TRUE(validateRollbackConfig(c, routes()).empty());
  // Without max_backoff the multiplier grows the wait up to the 10 minute bound of backoff.
  RetryPolicy unbounded;
  unbounded.backoff = std::chrono::milliseconds(1000);
  unbounded.backoff_multiplier = 10;
  EXPECT_EQ(unbounded.backoffAfter(3), std::chrono::milliseconds(100000));
  EXPECT_EQ(unbounded.backoffAfter(20), std::chrono::milliseconds(600000));
  // A long `for` gets a timeout of twice as long by default.
  EXPECT_EQ(parse("rollback:\n  plans:\n    - route: api\n      steps: [{verify: "
                  "{max_error_ratio: 0.1, for: 10m}}]\n")
                .plans[0]
                .steps[0]
                .verify.timeout,
            std::chrono::minutes(20));
}

TEST(RollbackConfigTest, CompletePlanKeysRefuseBadValues) {
  const std::string head = "rollback:\n  plans:\n    - route: api\n      steps:\n";
  EXPECT_EQ(parseError(head + "        - {verify: {for: 10s}}\n"),
            "5:20: rollback.plans[0].steps[0].verify: \"max_error_ratio\" is required");
  EXPECT_EQ(parseError(head + "        - {verify: {max_error_ratio: 2}}\n"),
            "5:38: rollback.plans[0].steps[0].verify.max_error_ratio: expected a number between "
            "0 and 1, got \"2\"");
  EXPECT_EQ(
      parseError(head + "        - {verify: {max_error_ratio: 0.1, for: 1m, timeout: 30s}}\n"),
      "5:61: rollback.plans[0].steps[0].verify.timeout: is shorter than \"for\" (60000ms): "
      "the step could never pass");
  EXPECT_EQ(parseError(head + "        - {verify: {max_error_ratio: 0.1}, retry: {attempts: 2}}\n"),
            "5:51: rollback.plans[0].steps[0].retry: a verify step takes no \"retry\" "
            "(verify.timeout bounds the wait)");
  EXPECT_EQ(parseError(head + "        - {pin_version: {version: v1}, retry: {backoff_multiplier: "
                              "0.5}}\n"),
            "5:68: rollback.plans[0].steps[0].retry.backoff_multiplier: expected a number "
            "between 1 and 10, got \"0.5\"");
  EXPECT_EQ(parseError(head + "        - {pin_version: {version: v1}, retry: {backoff: 2s, "
                              "max_backoff: 1s}}\n"),
            "5:74: rollback.plans[0].steps[0].retry.max_backoff: is shorter than \"backoff\" "
            "(2000ms)");
  EXPECT_EQ(parseError(head + "        - {notify: {url: 'http://127.0.0.1:1/', message: "
                              "'${context.rout}'}}\n"),
            "5:58: rollback.plans[0].steps[0].notify.message: unknown placeholder "
            "\"${context.rout}\" (known: route, version, reason, trigger, triggered_by, "
            "environment, execution_id, labels.NAME)");
  EXPECT_EQ(parseError(head + "        - {webhook: {url: 'http://127.0.0.1:1/', body: {a: "
                              "['${context.labels.bad-name}']}}}\n"),
            "5:56: rollback.plans[0].steps[0].webhook.body: unknown placeholder "
            "\"${context.labels.bad-name}\" (known: route, version, reason, trigger, "
            "triggered_by, environment, execution_id, labels.NAME)");
  EXPECT_EQ(parseError(head + "        - {webhook: {url: 'http://${context.route}/x'}}\n"),
            "5:27: rollback.plans[0].steps[0].webhook.url: the URL's host must be a numeric "
            "IPv4 address, a bracketed IPv6 address or localhost, with an optional port from 1 "
            "to 65535: \"http://x/x\"");
  EXPECT_EQ(parseError("rollback:\n  plans:\n    - route: api\n      estimated_duration: 0s\n"
                       "      steps: [{pin_version: {version: v1}}]\n"),
            "4:27: rollback.plans[0].estimated_duration: must be between 1ms and 24h");
  EXPECT_EQ(parseError("rollback:\n  plans:\n    - route: api\n      depends_on: [simple, simple]\n"
                       "      steps: [{pin_version: {version: v1}}]\n"),
            "4:28: rollback.plans[0].depends_on[1]: route \"simple\" is listed twice");
}

TEST(RollbackConfigTest, DependsOnNamesOtherPlansWithoutACycle) {
  const std::string api = "    - route: api\n      steps: [{pin_version: {version: v1}}]\n";
  const std::string simple =
      "    - route: simple\n      steps: [{set_weights: {weights: {modern: 1}}}]\n";
  EXPECT_EQ(validationErrors("rollback:\n  plans:\n    - route: api\n      depends_on: [api, "
                             "simple, nothing]\n      steps: [{pin_version: {version: v1}}]\n"),
            (std::vector<std::string>{
                "4:20: rollback.plans[0].depends_on[0]: a plan cannot depend on itself",
                "4:25: rollback.plans[0].depends_on[1]: route \"simple\" has no rollback plan "
                "to wait for",
                "4:33: rollback.plans[0].depends_on[2]: route \"nothing\" has no rollback plan "
                "to wait for"}));
  EXPECT_EQ(validationErrors("rollback:\n  plans:\n    - route: api\n      depends_on: [simple]\n"
                             "      steps: [{pin_version: {version: v1}}]\n"
                             "    - route: simple\n      depends_on: [api]\n"
                             "      steps: [{set_weights: {weights: {modern: 1}}}]\n"),
            (std::vector<std::string>{
                "4:20: rollback.plans[0].depends_on[0]: the plans of \"api\" and \"simple\" "
                "depend on each other (a cycle)",
                "7:20: rollback.plans[1].depends_on[0]: the plans of \"simple\" and \"api\" "
                "depend on each other (a cycle)"}));
  EXPECT_TRUE(validationErrors("rollback:\n  plans:\n" + api + simple).empty());
}

}  // namespace switchyard::rollback
