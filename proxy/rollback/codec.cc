#include "proxy/rollback/codec.h"

#include <cmath>
#include <initializer_list>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/common/strings.h"

namespace switchyard::rollback {
namespace {

using nlohmann::json;

using common::quote;

json optionalTime(const std::string& time) { return time.empty() ? json(nullptr) : json(time); }

// A count: a JSON integer of at least 0 (the library would turn -1 into a huge unsigned one).
template <class T>
T countOf(const json& value, const char* what) {
  if (value.is_number_integer() && !value.is_number_unsigned() && value.get<int64_t>() < 0) {
    throw std::invalid_argument(std::string(what) + " must not be negative");
  }
  return value.get<T>();
}

TriggerKind triggerKindFrom(const std::string& name) {
  for (TriggerKind kind : TriggerKinds) {
    if (triggerKindName(kind) == name) return kind;
  }
  throw std::invalid_argument("unknown trigger kind " + quote(name));
}

RouteStatus routeStatusFrom(const std::string& name) {
  for (RouteStatus status : {RouteStatus::Active, RouteStatus::RollingBack, RouteStatus::RolledBack,
                             RouteStatus::RollbackFailed}) {
    if (routeStatusName(status) == name) return status;
  }
  throw std::invalid_argument("unknown route state " + quote(name));
}

std::string oneOf(const json& value, std::initializer_list<std::string_view> allowed,
                  const char* what) {
  std::string text = value.get<std::string>();
  for (std::string_view a : allowed) {
    if (a == text) return text;
  }
  throw std::invalid_argument("unknown " + std::string(what) + " " + quote(text));
}

std::string optionalString(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  return it->get<std::string>();
}

std::vector<std::string> stringList(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return {};
  return it->get<std::vector<std::string>>();
}

json alertRoutesJson(const std::vector<AlertRouteResult>& routes) {
  json out = json::array();
  for (const AlertRouteResult& r : routes) out.push_back(toJson(r));
  return out;
}

}  // namespace

std::string dumpJson(const json& value, int indent) {
  return value.dump(indent, ' ', false, json::error_handler_t::replace);
}

json toJson(const Trigger& trigger) {
  json out = {{"kind", triggerKindName(trigger.kind)}, {"reason", trigger.reason}};
  if (trigger.kind == TriggerKind::Alertmanager) {
    out["alert"] = {{"labels", trigger.alert_labels},
                    {"fingerprint", trigger.fingerprint},
                    {"group_key", trigger.group_key},
                    {"starts_at", trigger.starts_at}};
  }
  out["triggered_by"] = triggeredBy(trigger);
  if (!trigger.by.empty()) out["by"] = trigger.by;
  return out;
}

Trigger triggerFromJson(const json& t) {
  Trigger trigger;
  trigger.kind = triggerKindFrom(t.at("kind").get<std::string>());
  trigger.reason = optionalString(t, "reason");
  trigger.by = optionalString(t, "by");
  if (auto alert = t.find("alert"); alert != t.end() && !alert->is_null()) {
    trigger.alert_labels = alert->at("labels").get<Labels>();
    trigger.fingerprint = optionalString(*alert, "fingerprint");
    trigger.group_key = optionalString(*alert, "group_key");
    trigger.starts_at = optionalString(*alert, "starts_at");
  }
  return trigger;
}

json toJson(const StepRecord& s) {
  return {{"type", s.type},
          {"status", s.status},
          {"attempts", s.attempts},
          {"started_at", optionalTime(s.started_at)},
          {"finished_at", optionalTime(s.finished_at)},
          {"log", s.log}};
}

StepRecord stepRecordFromJson(const json& s) {
  StepRecord step;
  step.type = oneOf(s.at("type"), {"set_weights", "pin_version", "webhook", "notify", "verify"},
                    "step type");
  step.status = oneOf(s.at("status"), {"pending", "running", "succeeded", "failed", "skipped"},
                      "step status");
  step.attempts = countOf<uint32_t>(s.at("attempts"), "step attempts");
  step.started_at = optionalString(s, "started_at");
  step.finished_at = optionalString(s, "finished_at");
  step.log = stringList(s, "log");
  return step;
}

json toJson(const Execution& e) {
  json steps = json::array();
  for (const StepRecord& s : e.steps) steps.push_back(toJson(s));
  return {
      {"id", e.id},
      {"route", e.route},
      {"trigger", toJson(e.trigger)},
      {"started_at", e.started_at},
      {"finished_at", optionalTime(e.finished_at)},
      {"status", e.status},
      {"duration_seconds",
       e.status == "running" ? json(nullptr) : json(static_cast<double>(e.duration_ms) / 1000)},
      {"estimated_duration_seconds",
       e.estimated_duration_ms == 0 ? json(nullptr)
                                    : json(static_cast<double>(e.estimated_duration_ms) / 1000)},
      {"steps", std::move(steps)},
      {"log", e.log}};
}

Execution executionFromJson(const json& j) {
  Execution e;
  e.id = j.at("id").get<std::string>();
  e.route = j.at("route").get<std::string>();
  if (e.id.empty() || e.route.empty()) throw std::invalid_argument("empty execution id or route");
  e.trigger = triggerFromJson(j.at("trigger"));
  e.started_at = j.at("started_at").get<std::string>();
  e.finished_at = optionalString(j, "finished_at");
  e.status = oneOf(j.at("status"), {"running", "succeeded", "failed"}, "execution status");
  // Seconds with millisecond precision; absent in files written before they were recorded.
  const auto millis = [&](const char* key) -> uint64_t {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return 0;
    if (!it->is_number() || it->get<double>() < 0) {
      throw std::invalid_argument(std::string(key) + " is not a non-negative number");
    }
    return static_cast<uint64_t>(std::llround(it->get<double>() * 1000));
  };
  e.duration_ms = millis("duration_seconds");
  e.estimated_duration_ms = millis("estimated_duration_seconds");
  for (const json& s : j.at("steps")) e.steps.push_back(stepRecordFromJson(s));
  e.log = stringList(j, "log");
  return e;
}

json toJson(const RouteState& state) {
  return {{"state", routeStatusName(state.status)},
          {"since", state.since},
          {"execution_id", state.execution_id.empty() ? json(nullptr) : json(state.execution_id)}};
}

RouteState routeStateFromJson(const json& value) {
  RouteState s;
  s.status = routeStatusFrom(value.at("state").get<std::string>());
  s.since = value.at("since").get<std::string>();
  s.execution_id = optionalString(value, "execution_id");
  return s;
}

json toJson(const AlertRecord& a) {
  return {{"received_at", a.received_at}, {"fingerprint", a.fingerprint},
          {"alertname", a.alertname},     {"status", a.status},
          {"result", a.result},           {"routes", a.routes}};
}

AlertRecord alertRecordFromJson(const json& a) {
  AlertRecord r;
  r.received_at = a.at("received_at").get<std::string>();
  r.fingerprint = a.at("fingerprint").get<std::string>();
  r.alertname = a.at("alertname").get<std::string>();
  r.status = a.at("status").get<std::string>();
  r.result = a.at("result").get<std::string>();
  r.routes = a.at("routes");
  return r;
}

json toJson(const AlertRouteResult& r) {
  return {
      {"route", r.route}, {"outcome", outcomeName(r.outcome)}, {"execution_id", r.execution_id}};
}

json toJson(const AlertDecision& d) {
  return {{"fingerprint", d.fingerprint},
          {"alertname", d.alertname},
          {"status", d.status},
          {"result", alertResultName(d.result)},
          {"routes", alertRoutesJson(d.routes)}};
}

AlertRecord alertRecord(const AlertDecision& decision, std::string received_at) {
  AlertRecord r;
  r.received_at = std::move(received_at);
  r.fingerprint = decision.fingerprint;
  r.alertname = decision.alertname;
  r.status = decision.status;
  r.result = std::string(alertResultName(decision.result));
  r.routes = alertRoutesJson(decision.routes);
  return r;
}

json stateFileJson(const RollbackState& state) {
  json routes = json::object();
  for (const auto& [route, s] : state.routes) routes[route] = toJson(s);
  json executions = json::array();
  for (const Execution& e : state.executions) executions.push_back(toJson(e));
  json alerts = json::array();
  for (const AlertRecord& a : state.alerts) alerts.push_back(toJson(a));
  return {{"format", StateFormat},       {"next_id", state.next_id},
          {"routes", std::move(routes)}, {"executions", std::move(executions)},
          {"alerts", std::move(alerts)}, {"alert_keys", state.alert_keys}};
}

RollbackState stateFromFileJson(const json& state) {
  if (!state.is_object()) throw std::invalid_argument("not a JSON object");
  if (state.at("format").get<int>() != StateFormat) {
    throw std::invalid_argument("unknown format " + state.at("format").dump());
  }
  RollbackState out;
  for (const json& e : state.at("executions")) out.executions.push_back(executionFromJson(e));
  for (const auto& [route, value] : state.at("routes").items()) {
    out.routes[route] = routeStateFromJson(value);
  }
  for (std::string& key : stringList(state, "alert_keys")) out.alert_keys.push_back(std::move(key));
  if (auto it = state.find("alerts"); it != state.end()) {
    for (const json& a : *it) out.alerts.push_back(alertRecordFromJson(a));
  }
  out.next_id = countOf<uint64_t>(state.at("next_id"), "next_id");
  return out;
}

json stateViewJson(const RollbackState& state, const std::map<std::string, GuardView>& guards,
                   const std::map<std::string, ClusterHealthView>& health) {
  json routes = json::object();
  for (const auto& [route, s] : state.routes) {
    json r = toJson(s);
    auto g = guards.find(route);
    if (g != guards.end()) {
      const GuardStatus& status = g->second.status;
      r["guard"] = {{"version", g->second.version},      {"requests", status.requests},
                    {"errors", status.errors},           {"error_ratio", status.error_ratio},
                    {"p95_seconds", status.p95_seconds}, {"breached", status.breached}};
    } else {
      r["guard"] = nullptr;
    }
    if (auto h = health.find(route); h != health.end()) {
      r["cluster_health"] = {{"cluster", h->second.cluster},
                             {"every_endpoint_unhealthy", h->second.every_endpoint_unhealthy}};
    } else {
      r["cluster_health"] = nullptr;
    }
    routes[route] = std::move(r);
  }
  json alerts = json::array();
  for (auto it = state.alerts.rbegin(); it != state.alerts.rend(); ++it) {
    alerts.push_back(toJson(*it));
  }
  return {{"routes", std::move(routes)},
          {"executions", executionsJson(state.executions)},
          {"alerts", std::move(alerts)}};
}

json executionsJson(const std::deque<Execution>& executions) {
  json out = json::array();
  for (auto it = executions.rbegin(); it != executions.rend(); ++it) out.push_back(toJson(*it));
  return out;
}

}  // namespace switchyard::rollback
