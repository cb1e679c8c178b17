#include "proxy/rollback/config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "config/yaml_util.h"
#include "proxy/common/http_token.h"
#include "proxy/common/strings.h"
#include "proxy/router/weights.h"

namespace switchyard::rollback {
namespace {

using config::child;
using config::ConfigError;

constexpr int64_t MaxWeight = 1'000'000;  // as the admin weights endpoint

using common::quote;

Origin originOf(const YAML::Node& node, const std::string& path) {
  return Origin{path, node.Mark().line + 1, node.Mark().column + 1};
}

ConfigError errorAt(const Origin& origin, std::string message) {
  return ConfigError(origin.path, std::move(message), origin.line, origin.column);
}

// Prometheus label names: what an Alertmanager label can be called.
bool isLabelName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// A map whose keys are the user's (labels, headers, weights): any plain key, once each.
void expectOpenMap(const YAML::Node& node, const std::string& path) {
  if (node.IsNull()) return;
  if (!node.IsMap()) throw ConfigError(node, path, "expected a map");
  std::set<std::string> seen;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) throw ConfigError(kv.first, path, "expected a plain string as a key");
    if (!seen.insert(kv.first.Scalar()).second) {
      throw ConfigError(kv.first, child(path, kv.first.Scalar()),
                        "duplicate key " + quote(kv.first.Scalar()));
    }
  }
}

// Every cluster the route's targets (its own, or any of its versions') send traffic to, once each,
// in the order they are written.
std::vector<std::string> clustersOf(const config::RouteConfig& route) {
  std::vector<std::string> out;
  auto add = [&out](const config::TargetConfig& target) {
    for (const auto& wc : target.split) {
      if (std::find(out.begin(), out.end(), wc.cluster) == out.end()) out.push_back(wc.cluster);
    }
  };
  add(route.target);
  for (const auto& v : route.versions) add(v.target);
  return out;
}

std::string nonEmptyString(const YAML::Node& node, const std::string& path) {
  std::string value = config::getString(node, path);
  if (value.empty()) throw ConfigError(node, path, "must not be empty");
  return value;
}

milliseconds durationIn(const YAML::Node& node, const std::string& path, milliseconds min,
                        milliseconds max, const std::string& range) {
  milliseconds value = config::getDuration(node, path);
  if (value < min || value > max) throw ConfigError(node, path, "must be " + range);
  return value;
}

// A YAML value as JSON. Quoted scalars stay strings; plain ones become null, booleans or
// numbers when they read as such (YAML's core schema), so `{replicas: 2}` sends a number.
nlohmann::json yamlToJson(const YAML::Node& node, const std::string& path) {
  if (node.IsNull()) return nullptr;
  if (node.IsSequence()) {
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < node.size(); ++i) out.push_back(yamlToJson(node[i], child(path, i)));
    return out;
  }
  if (node.IsMap()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) throw ConfigError(kv.first, path, "expected a string as a key");
      const std::string& key = kv.first.Scalar();
      out[key] = yamlToJson(kv.second, child(path, key));
    }
    return out;
  }
  std::string text = config::getString(node, path);
  if (node.Tag() == "!") return text;  // quoted
  if (text == "null" || text == "~") return nullptr;
  if (text == "true") return true;
  if (text == "false") return false;
  int64_t i = 0;
  auto [iend, iec] = std::from_chars(text.data(), text.data() + text.size(), i);
  if (!text.empty() && iec == std::errc() && iend == text.data() + text.size()) return i;
  double d = 0;
  auto [dend, dec] = std::from_chars(text.data(), text.data() + text.size(), d);
  if (!text.empty() && dec == std::errc() && dend == text.data() + text.size() &&
      std::isfinite(d)) {
    return d;
  }
  return text;
}

RetryPolicy parseRetry(const YAML::Node& node, const std::string& path) {
  config::expectMap(node, path, {"attempts", "backoff", "backoff_multiplier", "max_backoff"});
  RetryPolicy out;
  if (const YAML::Node n = node["attempts"]) {
    out.attempts = static_cast<uint32_t>(config::getInt(n, child(path, "attempts"), 1, 20));
  }
  if (const YAML::Node n = node["backoff"]) {
    out.backoff =
        durationIn(n, child(path, "backoff"), milliseconds(0), milliseconds(600000), "at most 10m");
  }
  if (const YAML::Node n = node["backoff_multiplier"]) {
    out.backoff_multiplier = config::getDouble(n, child(path, "backoff_multiplier"), 1, 10);
  }
  if (const YAML::Node n = node["max_backoff"]) {
    const std::string p = child(path, "max_backoff");
    out.max_backoff = durationIn(n, p, milliseconds(0), milliseconds(3600000), "at most 1h");
    if (out.max_backoff < out.backoff) {
      throw ConfigError(
          n, p, "is shorter than \"backoff\" (" + std::to_string(out.backoff.count()) + "ms)");
    }
  }
  return out;
}

// The names ${context.NAME} may use in a step's text.
constexpr std::string_view ContextNames[] = {
    "route", "version", "reason", "trigger", "triggered_by", "environment", "execution_id"};

// Throws at `node` when `text` holds a ${context.NAME} the steps do not know.
void checkPlaceholders(const std::string& text, const YAML::Node& node, const std::string& path) {
  size_t at = 0;
  while ((at = text.find("${context.", at)) != std::string::npos) {
    const size_t close = text.find('}', at);
    if (close == std::string::npos) {
      throw ConfigError(node, path, "unterminated \"${context.\"");
    }
    const std::string name = text.substr(at + 10, close - at - 10);
    bool known =
        std::find(std::begin(ContextNames), std::end(ContextNames), name) != std::end(ContextNames);
    if (name.starts_with("labels.")) known = isLabelName(std::string_view(name).substr(7));
    if (!known) {
      std::string names;
      for (std::string_view n : ContextNames)
        names += std::string(names.empty() ? "" : ", ") + n.data();
      throw ConfigError(
          node, path,
          "unknown placeholder \"${context." + name + "}\" (known: " + names + ", labels.NAME)");
    }
    at = close + 1;
  }
}

void checkJsonPlaceholders(const nlohmann::json& value, const YAML::Node& node,
                           const std::string& path) {
  if (value.is_string()) {
    checkPlaceholders(value.get<std::string>(), node, path);
  } else if (value.is_array() || value.is_object()) {
    for (const auto& v : value) checkJsonPlaceholders(v, node, path);
  }
}

VerifyConfig parseVerify(const YAML::Node& node, const std::string& path) {
  config::expectMap(node, path, {"max_error_ratio", "for", "timeout", "min_requests"});
  if (node.IsNull()) throw ConfigError(node, path, "expected a map");
  VerifyConfig out;
  const YAML::Node ratio = node["max_error_ratio"];
  if (!ratio) throw ConfigError(node, path, "\"max_error_ratio\" is required");
  out.max_error_ratio = config::getDouble(ratio, child(path, "max_error_ratio"), 0, 1);
  if (const YAML::Node n = node["for"]) {
    out.for_ = durationIn(n, child(path, "for"), milliseconds(100), milliseconds(3600000),
                          "between 100ms and 1h");
  }
  if (const YAML::Node n = node["timeout"]) {
    const std::string p = child(path, "timeout");
    out.timeout =
        durationIn(n, p, milliseconds(100), milliseconds(86400000), "between 100ms and 24h");
    if (out.timeout < out.for_) {
      throw ConfigError(n, p,
                        "is shorter than \"for\" (" + std::to_string(out.for_.count()) +
                            "ms): the step could never pass");
    }
  } else {
    out.timeout = std::max(out.timeout, out.for_ * 2);
  }
  if (const YAML::Node n = node["min_requests"]) {
    out.min_requests =
        static_cast<uint64_t>(config::getInt(n, child(path, "min_requests"), 0, 1'000'000'000));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parseHeaders(const YAML::Node& node,
                                                              const std::string& path) {
  expectOpenMap(node, path);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& kv : node) {
    const std::string name = kv.first.Scalar();
    const std::string p = child(path, name);
    if (!common::isToken(name))
      throw ConfigError(kv.first, p, quote(name) + " is not a header name");
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "content-type" || lower == "content-length" || lower == "host" ||
        lower == "connection" || lower == "transfer-encoding") {
      throw ConfigError(kv.first, p, quote(name) + " is set by the sidecar");
    }
    std::string value = config::getString(kv.second, p);
    if (value.find_first_of("\r\n") != std::string::npos) {
      throw ConfigError(kv.second, p, "a header value cannot contain a line break");
    }
    out.emplace_back(name, std::move(value));
  }
  return out;
}

void parseVersion(const YAML::Node& parent, const std::string& path, StepConfig& step,
                  bool required) {
  const YAML::Node n = parent["version"];
  const std::string p = child(path, "version");
  if (!n) {
    if (required) throw ConfigError(parent, path, "\"version\" is required");
    step.version_origin = originOf(parent, path);
    return;
  }
  step.version = nonEmptyString(n, p);
  step.version_origin = originOf(n, p);
}

void parseCall(const YAML::Node& node, const std::string& path, StepConfig& step) {
  const bool webhook = step.type == StepType::Webhook;
  if (webhook) {
    config::expectMap(node, path, {"url", "body", "headers"});
  } else {
    config::expectMap(node, path, {"url", "message", "headers"});
  }
  const YAML::Node url = node["url"];
  if (!url) throw ConfigError(node, path, "\"url\" is required");
  std::string error;
  const std::string up = child(path, "url");
  std::string url_text = config::getString(url, up);
  if (url_text.find("${context.") != std::string::npos) {
    // Checked with every placeholder standing for a plain word; parsed again when it runs.
    checkPlaceholders(url_text, url, up);
    step.url_template = url_text;
    url_text = fillPlaceholders(url_text, [](std::string_view) { return std::string("x"); });
  }
  if (!parseHttpUrl(url_text, step.url, error)) throw ConfigError(url, up, error);
  if (const YAML::Node n = node["headers"]) {
    step.headers = parseHeaders(n, child(path, "headers"));
    for (const auto& [name, value] : step.headers) {
      checkPlaceholders(value, n[name], child(child(path, "headers"), name));
    }
  }
  if (webhook) {
    if (const YAML::Node n = node["body"]) {
      step.body = yamlToJson(n, child(path, "body"));
      if (!step.body.is_object()) {
        throw ConfigError(n, child(path, "body"), "expected a map (the JSON object sent)");
      }
      checkJsonPlaceholders(step.body, n, child(path, "body"));
    }
  } else {
    const YAML::Node n = node["message"];
    if (!n) throw ConfigError(node, path, "\"message\" is required");
    step.message = nonEmptyString(n, child(path, "message"));
    checkPlaceholders(step.message, n, child(path, "message"));
  }
}

StepConfig parseStep(const YAML::Node& node, const std::string& path) {
  config::expectMap(
      node, path,
      {"set_weights", "pin_version", "webhook", "notify", "verify", "timeout", "retry"});
  StepConfig step;
  step.origin = originOf(node, path);
  int kinds = 0;
  for (const auto& [name, type] :
       {std::pair{"set_weights", StepType::SetWeights},
        std::pair{"pin_version", StepType::PinVersion}, std::pair{"webhook", StepType::Webhook},
        std::pair{"notify", StepType::Notify}, std::pair{"verify", StepType::Verify}}) {
    if (node[name]) {
      step.type = type;
      ++kinds;
    }
  }
  if (kinds != 1) {
    throw ConfigError(node, path,
                      "a step is exactly one of set_weights, pin_version, webhook, notify, verify");
  }
  const std::string name(stepTypeName(step.type));
  const YAML::Node body = node[name];
  const std::string p = child(path, name);
  switch (step.type) {
    case StepType::SetWeights: {
      config::expectMap(body, p, {"version", "weights"});
      parseVersion(body, p, step, false);
      const YAML::Node weights = body["weights"];
      const std::string wp = child(p, "weights");
      if (!weights) throw ConfigError(body, p, "\"weights\" is required");
      expectOpenMap(weights, wp);
      step.weights_origin = originOf(weights, wp);
      if (weights.IsNull() || weights.size() == 0) {
        throw ConfigError(weights, wp, "name at least one cluster and its weight");
      }
      for (const auto& kv : weights) {
        const std::string cluster = kv.first.Scalar();
        const std::string cp = child(wp, cluster);
        step.weights[cluster] = static_cast<uint32_t>(config::getInt(kv.second, cp, 0, MaxWeight));
        step.weight_origins[cluster] = originOf(kv.first, cp);
      }
      break;
    }
    case StepType::PinVersion:
      config::expectMap(body, p, {"version"});
      parseVersion(body, p, step, true);
      break;
    case StepType::Webhook:
    case StepType::Notify:
      parseCall(body, p, step);
      break;
    case StepType::Verify:
      step.verify = parseVerify(body, p);
      // It waits on its own terms: its own timeout, and nothing to retry.
      for (const char* key : {"timeout", "retry"}) {
        if (const YAML::Node n = node[key]) {
          throw ConfigError(n, child(path, key),
                            std::string("a verify step takes no \"") + key +
                                "\" (verify.timeout bounds the wait)");
        }
      }
      break;
  }
  if (const YAML::Node n = node["timeout"]) {
    step.timeout = durationIn(n, child(path, "timeout"), milliseconds(1), milliseconds(300000),
                              "between 1ms and 5m");
  }
  if (const YAML::Node n = node["retry"]) step.retry = parseRetry(n, child(path, "retry"));
  return step;
}

GuardConfig parseGuard(const YAML::Node& node, const std::string& path) {
  config::expectMap(node, path,
                    {"version", "window", "min_requests", "max_error_ratio", "max_latency"});
  if (node.IsNull()) throw ConfigError(node, path, "expected a map");
  GuardConfig out;
  out.origin = originOf(node, path);
  out.version_origin = out.origin;
  if (const YAML::Node n = node["version"]) {
    out.version = nonEmptyString(n, child(path, "version"));
    out.version_origin = originOf(n, child(path, "version"));
  }
  if (const YAML::Node n = node["window"]) {
    const std::string p = child(path, "window");
    out.window = durationIn(n, p, milliseconds(1000), milliseconds(600000), "between 1s and 10m");
    if (out.window.count() % 1000 != 0) {
      throw ConfigError(n, p, "must be a whole number of seconds (the guard counts per second)");
    }
  }
  if (const YAML::Node n = node["min_requests"]) {
    out.min_requests =
        static_cast<uint64_t>(config::getInt(n, child(path, "min_requests"), 1, 1'000'000'000));
  }
  if (const YAML::Node n = node["max_error_ratio"]) {
    out.max_error_ratio = config::getDouble(n, child(path, "max_error_ratio"), 0, 1);
  }
  if (const YAML::Node n = node["max_latency"]) {
    out.max_latency = durationIn(n, child(path, "max_latency"), milliseconds(1),
                                 milliseconds(600000), "between 1ms and 10m");
  }
  return out;
}

ClusterHealthTrigger parseTrigger(const YAML::Node& node, const std::string& path) {
  config::expectMap(node, path, {"cluster_unhealthy"});
  if (node.IsNull()) throw ConfigError(node, path, "expected a map");
  const YAML::Node cluster = node["cluster_unhealthy"];
  if (!cluster) throw ConfigError(node, path, "\"cluster_unhealthy\" is required");
  const std::string p = child(path, "cluster_unhealthy");
  return ClusterHealthTrigger{nonEmptyString(cluster, p), originOf(cluster, p)};
}

PlanConfig parsePlan(const YAML::Node& node, const std::string& path) {
  config::expectMap(
      node, path,
      {"route", "alerts", "steps", "guard", "trigger", "depends_on", "estimated_duration"});
  if (node.IsNull()) throw ConfigError(node, path, "expected a map");
  PlanConfig plan;
  plan.origin = originOf(node, path);
  const YAML::Node route = node["route"];
  if (!route) throw ConfigError(node, path, "\"route\" is required");
  plan.route = nonEmptyString(route, child(path, "route"));
  plan.route_origin = originOf(route, child(path, "route"));

  if (const YAML::Node alerts = node["alerts"]) {
    const std::string ap = child(path, "alerts");
    config::expectMap(alerts, ap, {"labels"});
    if (const YAML::Node labels = alerts["labels"]) {
      const std::string lp = child(ap, "labels");
      expectOpenMap(labels, lp);
      plan.alert_labels.clear();
      for (const auto& kv : labels) {
        const std::string name = kv.first.Scalar();
        if (!isLabelName(name)) {
          throw ConfigError(kv.first, child(lp, name),
                            quote(name) + " is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)");
        }
        plan.alert_labels[name] = config::getString(kv.second, child(lp, name));
      }
    }
  }

  const YAML::Node steps = node["steps"];
  const std::string sp = child(path, "steps");
  if (!steps) throw ConfigError(node, path, "\"steps\" is required");
  config::expectSequence(steps, sp);
  if (steps.size() == 0) throw ConfigError(steps, sp, "a plan needs at least one step");
  for (size_t i = 0; i < steps.size(); ++i) plan.steps.push_back(parseStep(steps[i], child(sp, i)));

  if (const YAML::Node n = node["depends_on"]) {
    const std::string dp = child(path, "depends_on");
    config::expectSequence(n, dp);
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string name = nonEmptyString(n[i], child(dp, i));
      if (std::find(plan.depends_on.begin(), plan.depends_on.end(), name) !=
          plan.depends_on.end()) {
        throw ConfigError(n[i], child(dp, i), "route " + quote(name) + " is listed twice");
      }
      plan.depends_on.push_back(name);
      plan.depends_on_origins.push_back(originOf(n[i], child(dp, i)));
    }
  }
  if (const YAML::Node n = node["estimated_duration"]) {
    plan.estimated_duration = durationIn(n, child(path, "estimated_duration"), milliseconds(1),
                                         milliseconds(86400000), "between 1ms and 24h");
  }
  if (const YAML::Node guard = node["guard"]) plan.guard = parseGuard(guard, child(path, "guard"));
  if (const YAML::Node trigger = node["trigger"]) {
    plan.cluster_unhealthy = parseTrigger(trigger, child(path, "trigger"));
  }
  return plan;
}

// Whether the plan of `from` waits, directly or not, for the plan of `to`.
bool dependsOn(const RollbackConfig& rollback, const std::string& from, const std::string& to) {
  std::vector<std::string> queue = {from};
  std::set<std::string> seen;
  while (!queue.empty()) {
    const std::string route = queue.back();
    queue.pop_back();
    if (!seen.insert(route).second) continue;
    const PlanConfig* plan = rollback.findPlan(route);
    if (plan == nullptr) continue;
    for (const std::string& next : plan->depends_on) {
      if (next == to) return true;
      queue.push_back(next);
    }
  }
  return false;
}

}  // namespace

std::string fillPlaceholders(std::string_view text,
                             const std::function<std::string(std::string_view)>& value) {
  constexpr std::string_view Open = "${context.";
  std::string out;
  size_t i = 0;
  for (;;) {
    const size_t at = text.find(Open, i);
    const size_t close = at == std::string_view::npos ? at : text.find('}', at);
    if (close == std::string_view::npos) break;
    out.append(text.substr(i, at - i));
    out += value(text.substr(at + Open.size(), close - at - Open.size()));
    i = close + 1;
  }
  out.append(text.substr(i));
  return out;
}

milliseconds RetryPolicy::backoffAfter(uint32_t attempt) const {
  double wait = static_cast<double>(backoff.count());
  for (uint32_t i = 1; i < attempt && wait < static_cast<double>(max_backoff.count()); ++i) {
    wait *= backoff_multiplier;
  }
  return std::min(milliseconds(static_cast<int64_t>(wait)), max_backoff);
}

std::string_view stepTypeName(StepType type) {
  switch (type) {
    case StepType::SetWeights:
      return "set_weights";
    case StepType::PinVersion:
      return "pin_version";
    case StepType::Webhook:
      return "webhook";
    case StepType::Notify:
      return "notify";
    case StepType::Verify:
      return "verify";
  }
  return "unknown";
}

const PlanConfig* RollbackConfig::findPlan(std::string_view route) const {
  for (const PlanConfig& plan : plans) {
    if (plan.route == route) return &plan;
  }
  return nullptr;
}

RollbackConfig parseRollbackConfig(const YAML::Node& node, const std::string& path) {
  RollbackConfig out;
  if (!node.IsDefined() || node.IsNull()) return out;
  config::expectMap(
      node, path,
      {"state_file", "webhook", "max_executions", "max_alert_keys", "environment", "plans"});
  if (const YAML::Node n = node["state_file"]) {
    out.state_file = nonEmptyString(n, child(path, "state_file"));
    if (out.state_file.back() == '/') {
      throw ConfigError(n, child(path, "state_file"), "names a directory; name a file");
    }
  }
  if (const YAML::Node webhook = node["webhook"]) {
    const std::string wp = child(path, "webhook");
    config::expectMap(webhook, wp, {"max_body_bytes"});
    if (const YAML::Node n = webhook["max_body_bytes"]) {
      const std::string p = child(wp, "max_body_bytes");
      out.webhook_max_body_bytes = config::getBytes(n, p);
      if (out.webhook_max_body_bytes < 1024 || out.webhook_max_body_bytes > (64u << 20)) {
        throw ConfigError(n, p, "must be between 1KiB and 64MiB");
      }
    }
  }
  if (const YAML::Node n = node["max_executions"]) {
    out.max_executions =
        static_cast<size_t>(config::getInt(n, child(path, "max_executions"), 1, 10000));
  }
  if (const YAML::Node n = node["max_alert_keys"]) {
    out.max_alert_keys =
        static_cast<size_t>(config::getInt(n, child(path, "max_alert_keys"), 10, 100000));
  }
  if (const YAML::Node n = node["environment"]) {
    out.environment = config::getString(n, child(path, "environment"));
  }
  if (const YAML::Node plans = node["plans"]) {
    const std::string pp = child(path, "plans");
    config::expectSequence(plans, pp);
    for (size_t i = 0; i < plans.size(); ++i) {
      PlanConfig plan = parsePlan(plans[i], child(pp, i));
      if (const PlanConfig* prev = out.findPlan(plan.route)) {
        throw errorAt(plan.route_origin, "route " + quote(plan.route) +
                                             " already has a plan (line " +
                                             std::to_string(prev->route_origin.line) + ")");
      }
      out.plans.push_back(std::move(plan));
    }
  }
  return out;
}

std::vector<ConfigError> validateRollbackConfig(const RollbackConfig& rollback,
                                                const config::Config& config) {
  std::vector<ConfigError> errors;
  auto versionsOf = [](const config::RouteConfig& route) {
    std::string names;
    for (const auto& v : route.versions) names += (names.empty() ? "" : ", ") + v.name;
    return names;
  };
  for (const PlanConfig& plan : rollback.plans) {
    const config::RouteConfig* route = nullptr;
    for (const auto& r : config.routes) {
      if (r.name == plan.route) route = &r;
    }
    if (route == nullptr) {
      errors.push_back(
          errorAt(plan.route_origin, "route " + quote(plan.route) + " does not exist"));
      continue;
    }
    const bool versioned = !route->versions.empty();
    // The version a step or the guard names, checked against the route; false when it does not
    // fit (the error is recorded).
    auto checkVersion = [&](const std::string& version, const Origin& origin) {
      if (!versioned) {
        if (version.empty()) return true;
        errors.push_back(errorAt(
            origin, "route " + quote(plan.route) + " has no versions; leave \"version\" out"));
        return false;
      }
      if (version.empty()) {
        errors.push_back(errorAt(origin, "route " + quote(plan.route) +
                                             " is versioned: name one of its versions (" +
                                             versionsOf(*route) + ")"));
        return false;
      }
      if (route->findVersion(version) == nullptr) {
        errors.push_back(errorAt(origin, "route " + quote(plan.route) + " has no version " +
                                             quote(version) + " (" + versionsOf(*route) + ")"));
        return false;
      }
      return true;
    };
    for (const StepConfig& step : plan.steps) {
      if (step.type == StepType::PinVersion) {
        if (!versioned) {
          errors.push_back(errorAt(
              step.version_origin,
              "pin_version needs a versioned route; " + quote(plan.route) + " has no versions"));
        } else {
          checkVersion(step.version, step.version_origin);
        }
      }
      if (step.type != StepType::SetWeights || !checkVersion(step.version, step.version_origin)) {
        continue;
      }
      const config::TargetConfig* target = router::findTarget(*route, step.version);
      if (target == nullptr) continue;
      std::string clusters;
      for (const auto& wc : target->split) clusters += (clusters.empty() ? "" : ", ") + wc.cluster;
      uint64_t total = 0;
      for (const auto& [cluster, weight] : step.weights) {
        total += weight;
        bool found = false;
        for (const auto& wc : target->split) found = found || wc.cluster == cluster;
        if (!found) {
          errors.push_back(errorAt(
              step.weight_origins.at(cluster),
              "cluster " + quote(cluster) + " is not part of the split of " + quote(plan.route) +
                  (step.version.empty() ? "" : " " + step.version) + " (" + clusters + ")"));
        }
      }
      if (total == 0) {
        errors.push_back(
            errorAt(step.weights_origin, "the weights add up to 0; at least one must be positive"));
      }
    }
    if (plan.guard) checkVersion(plan.guard->version, plan.guard->version_origin);
    for (size_t i = 0; i < plan.depends_on.size(); ++i) {
      const std::string& other = plan.depends_on[i];
      if (other == plan.route) {
        errors.push_back(errorAt(plan.depends_on_origins[i], "a plan cannot depend on itself"));
      } else if (rollback.findPlan(other) == nullptr) {
        errors.push_back(errorAt(plan.depends_on_origins[i],
                                 "route " + quote(other) + " has no rollback plan to wait for"));
      } else if (dependsOn(rollback, other, plan.route)) {
        errors.push_back(errorAt(plan.depends_on_origins[i],
                                 "the plans of " + quote(plan.route) + " and " + quote(other) +
                                     " depend on each other (a cycle)"));
      }
    }
    if (plan.cluster_unhealthy) {
      const ClusterHealthTrigger& trigger = *plan.cluster_unhealthy;
      if (config.findCluster(trigger.cluster) == nullptr) {
        std::vector<std::string> names;
        for (const auto& c : config.clusters) names.push_back(c.name);
        errors.push_back(
            errorAt(trigger.origin, "unknown cluster " + quote(trigger.cluster) +
                                        " (defined clusters: " + common::joined(names) + ")"));
      } else if (std::vector<std::string> targets = clustersOf(*route);
                 std::find(targets.begin(), targets.end(), trigger.cluster) == targets.end()) {
        errors.push_back(errorAt(
            trigger.origin, "cluster " + quote(trigger.cluster) + " is not a target of route " +
                                quote(plan.route) + " (" + common::joined(targets) + ")"));
      }
    }
  }
  return errors;
}

std::vector<std::string> clustersWatchedForHealth(const RollbackConfig& rollback) {
  std::set<std::string> clusters;
  for (const PlanConfig& plan : rollback.plans) {
    if (plan.cluster_unhealthy) clusters.insert(plan.cluster_unhealthy->cluster);
  }
  return {clusters.begin(), clusters.end()};
}

}  // namespace switchyard::rollback
