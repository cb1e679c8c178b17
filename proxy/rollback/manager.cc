#include "proxy/rollback/manager.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "proxy/common/logging.h"
#include "proxy/common/rfc3339.h"
#include "proxy/rollback/codec.h"
#include "proxy/rollback/state_file.h"

namespace switchyard::rollback {
namespace {

using nlohmann::json;

constexpr const char* WebhookResults[] = {"accepted", "duplicate", "resolved", "unmatched",
                                          "invalid"};

// Replaces {route}, {version}, {reason}, {trigger} and {execution_id}; other braces stay.
std::string substitute(const std::string& text, const std::map<std::string, std::string>& values) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{') {
      size_t close = text.find('}', i + 1);
      if (close != std::string::npos) {
        auto it = values.find(text.substr(i + 1, close - i - 1));
        if (it != values.end()) {
          out += it->second;
          i = close + 1;
          continue;
        }
      }
    }
    out += text[i++];
  }
  return out;
}

json substituteJson(const json& value, const std::map<std::string, std::string>& values) {
  if (value.is_string()) return substitute(value.get<std::string>(), values);
  if (value.is_array()) {
    json out = json::array();
    for (const auto& v : value) out.push_back(substituteJson(v, values));
    return out;
  }
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [k, v] : value.items()) out[k] = substituteJson(v, values);
    return out;
  }
  return value;
}

std::string weightsText(const std::map<std::string, uint32_t>& weights) {
  std::string out;
  for (const auto& [cluster, weight] : weights) {
    out += (out.empty() ? "" : ", ") + cluster + "=" + std::to_string(weight);
  }
  return out;
}

std::string describeStep(const StepConfig& step, const std::string& route) {
  switch (step.type) {
    case StepType::SetWeights:
      return "set weights of " + route + (step.version.empty() ? "" : " " + step.version) + " to " +
             weightsText(step.weights);
    case StepType::PinVersion:
      return "pin " + route + " to " + step.version;
    case StepType::Webhook:
    case StepType::Notify:
      return "POST " + step.url.text;
  }
  return "";
}

std::string triggerText(const Trigger& trigger) {
  std::string out(triggerKindName(trigger.kind));
  if (!trigger.reason.empty()) out += ": " + trigger.reason;
  return out;
}

}  // namespace

RollbackManager::RollbackManager(RollbackConfig config, config::ConfigConstSharedPtr routes,
                                 ProxyControl& control, const common::TimeSource& time,
                                 prometheus::Registry& registry, ManagerOptions options)
    : config_(std::move(config)),
      control_(control),
      time_(time),
      options_(std::move(options)),
      metrics_{prometheus::BuildCounter()
                   .Name("switchyard_rollbacks_total")
                   .Help("Rollback executions started, by route and trigger "
                         "(alertmanager, manual, guard, cluster_unhealthy, rollout_gate)")
                   .Register(registry),
               prometheus::BuildGauge()
                   .Name("switchyard_rollback_active")
                   .Help("1 while a route is rolling back, rolled back or failed to roll back "
                         "(until an operator resumes it), else 0")
                   .Register(registry),
               prometheus::BuildCounter()
                   .Name("switchyard_rollback_step_failures_total")
                   .Help("Rollback steps that failed after all their attempts, by route and step")
                   .Register(registry),
               prometheus::BuildCounter()
                   .Name("switchyard_rollback_webhooks_total")
                   .Help("Alertmanager webhook alerts by result (accepted, duplicate, resolved, "
                         "unmatched) and rejected requests (invalid)")
                   .Register(registry)},
      routes_(std::move(routes)) {
  if (!options_.http) {
    options_.http = [this](const HttpUrl& url,
                           const std::vector<std::pair<std::string, std::string>>& headers,
                           const std::string& body, std::chrono::milliseconds timeout) {
      return httpPostJson(url, headers, body, timeout, socket_time_);
    };
  }
  for (const PlanConfig& plan : config_.plans) {
    state_.routes[plan.route] = RouteState{RouteStatus::Active, now(), ""};
    metrics_.active.Add({{"route", plan.route}}).Set(0);
    // Counters start at 0, so that increase() sees the first rollback of a route.
    for (TriggerKind kind : TriggerKinds) {
      metrics_.rollbacks.Add(
          {{"route", plan.route}, {"trigger", std::string(triggerKindName(kind))}});
    }
    for (const StepConfig& step : plan.steps) {
      metrics_.step_failures.Add(
          {{"route", plan.route}, {"step", std::string(stepTypeName(step.type))}});
    }
    if (plan.guard) guards_[plan.route] = std::make_unique<Guard>(*plan.guard);
  }
  for (const std::string& cluster : clustersWatchedForHealth(config_)) {
    cluster_unhealthy_[cluster] = false;
  }
  for (const char* result : WebhookResults) metrics_.webhooks.Add({{"result", result}});
}

RollbackManager::~RollbackManager() { stop(); }

std::string RollbackManager::now() const { return common::formatRfc3339Millis(time_.systemNow()); }

Guard* RollbackManager::guard(const std::string& route) {
  auto it = guards_.find(route);
  return it == guards_.end() ? nullptr : it->second.get();
}

void RollbackManager::setRoutes(config::ConfigConstSharedPtr routes) {
  std::lock_guard<std::mutex> lock(mutex_);
  routes_ = std::move(routes);
}

void RollbackManager::start() {
  if (thread_.joinable()) throw std::logic_error("rollback manager already started");
  load();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { threadLoop(); });
}

void RollbackManager::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RollbackManager::threadLoop() {
  for (;;) {
    const common::MonotonicTime next = runOnce();
    std::unique_lock<std::mutex> lock(mutex_);
    if (stopping_) return;
    if (!wakeup_) {
      auto wait = next - time_.monotonicNow();
      if (wait > options_.guard_interval) wait = options_.guard_interval;
      if (wait > common::Duration::zero()) {
        wake_.wait_for(lock, wait, [this] { return stopping_ || wakeup_; });
      }
    }
    wakeup_ = false;
    if (stopping_) return;
  }
}

bool RollbackManager::idle() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return runs_.empty();
}

std::optional<RouteStatus> RollbackManager::routeStatus(const std::string& route) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = state_.routes.find(route);
  if (it == state_.routes.end()) return std::nullopt;
  return it->second.status;
}

std::optional<Execution> RollbackManager::execution(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const Execution* e = findLocked(id);
  if (e == nullptr) return std::nullopt;
  return *e;
}

std::vector<Execution> RollbackManager::executions() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {state_.executions.begin(), state_.executions.end()};
}

Execution* RollbackManager::findLocked(const std::string& id) {
  for (Execution& e : state_.executions) {
    if (e.id == id) return &e;
  }
  return nullptr;
}

const Execution* RollbackManager::findLocked(const std::string& id) const {
  for (const Execution& e : state_.executions) {
    if (e.id == id) return &e;
  }
  return nullptr;
}

void RollbackManager::setRouteLocked(const std::string& route, RouteStatus status,
                                     const std::string& id) {
  RouteState& state = state_.routes[route];
  state.status = status;
  state.since = now();
  state.execution_id = id;
  metrics_.active.Add({{"route", route}}).Set(status == RouteStatus::Active ? 0 : 1);
}

RollbackManager::TriggerResult RollbackManager::trigger(const std::string& route, Trigger trigger) {
  std::lock_guard<std::mutex> lock(mutex_);
  TriggerResult result = triggerLocked(route, std::move(trigger));
  if (result.outcome == Outcome::Started) persistLocked();
  return result;
}

RollbackManager::TriggerResult RollbackManager::triggerLocked(const std::string& route,
                                                              Trigger trigger) {
  const PlanConfig* plan = config_.findPlan(route);
  if (plan == nullptr) return {Outcome::NoPlan, ""};
  RouteState& state = state_.routes[route];
  if (state.status == RouteStatus::RollingBack) return {Outcome::InProgress, state.execution_id};
  if (state.status == RouteStatus::RolledBack ||
      (state.status == RouteStatus::RollbackFailed && isOwnTrigger(trigger.kind))) {
    return {Outcome::AlreadyRolledBack, state.execution_id};
  }

  Execution execution;
  execution.id =
      "rb-" + std::to_string(state_.next_id++) + "-" + common::formatCompactUtc(time_.systemNow());
  execution.route = route;
  execution.started_at = now();
  for (const StepConfig& step : plan->steps) {
    StepRecord record;
    record.type = std::string(stepTypeName(step.type));
    execution.steps.push_back(std::move(record));
  }
  execution.trigger = std::move(trigger);
  state_.executions.push_back(execution);

  Run run;
  run.execution_id = execution.id;
  run.plan = plan;
  run.next_at = time_.monotonicNow();
  runs_.push_back(run);
  setRouteLocked(route, RouteStatus::RollingBack, execution.id);
  metrics_.rollbacks
      .Add({{"route", route}, {"trigger", std::string(triggerKindName(execution.trigger.kind))}})
      .Increment();
  SY_LOG(Warn, "rollback %s of route %s started (%s)", execution.id.c_str(), route.c_str(),
         triggerText(execution.trigger).c_str());
  pruneLocked();
  wakeup_ = true;
  wake_.notify_all();
  return {Outcome::Started, execution.id};
}

void RollbackManager::pruneLocked() {
  while (state_.executions.size() > config_.max_executions) {
    auto victim = std::find_if(state_.executions.begin(), state_.executions.end(),
                               [](const Execution& e) { return e.status != "running"; });
    if (victim == state_.executions.end()) return;
    state_.executions.erase(victim);
  }
}

common::MonotonicTime RollbackManager::runOnce() {
  std::unique_lock<std::mutex> lock(mutex_);
  common::MonotonicTime now_mono = time_.monotonicNow();
  if (now_mono >= next_guard_check_) {
    next_guard_check_ = now_mono + options_.guard_interval;
    bool started = false;
    for (auto& [route, guard] : guards_) {
      if (state_.routes[route].status != RouteStatus::Active) continue;
      GuardStatus status = guard->evaluate(now_mono);
      if (!status.breached) continue;
      SY_LOG(Warn, "rollback guard of route %s tripped: %s", route.c_str(), status.reason.c_str());
      started = triggerLocked(route, Trigger{TriggerKind::Guard, status.reason, {}, "", "", ""})
                        .outcome == Outcome::Started ||
                started;
    }
    if (started) persistLocked();
  }

  for (;;) {
    now_mono = time_.monotonicNow();
    auto due = std::find_if(runs_.begin(), runs_.end(),
                            [&](const Run& r) { return r.next_at <= now_mono; });
    if (due == runs_.end()) break;
    const Run run = *due;
    Execution* execution = findLocked(run.execution_id);
    if (execution == nullptr) {  // cannot happen: running executions are never pruned
      runs_.erase(due);
      continue;
    }
    const StepConfig& step = run.plan->steps[run.step];
    StepRecord& record = execution->steps[run.step];
    record.status = "running";
    ++record.attempts;
    if (record.started_at.empty()) record.started_at = now();
    const std::map<std::string, std::string> values = {
        {"route", execution->route},
        {"version",
         [&] {
           auto it = execution->trigger.alert_labels.find("version");
           if (it != execution->trigger.alert_labels.end()) return it->second;
           if (run.plan->guard) return run.plan->guard->version;
           for (const StepConfig& s : run.plan->steps) {
             if (s.changesTraffic()) return s.version;
           }
           return std::string();
         }()},
        {"reason", execution->trigger.reason},
        {"trigger", std::string(triggerKindName(execution->trigger.kind))},
        {"execution_id", execution->id}};
    const uint32_t attempt = record.attempts;
    persistLocked();  // a crash during the attempt leaves the step "running" on disk

    lock.unlock();
    std::vector<std::string> lines;
    const std::string error = runStep(step, values, lines);
    lock.lock();

    execution = findLocked(run.execution_id);
    auto current = std::find_if(runs_.begin(), runs_.end(),
                                [&](const Run& r) { return r.execution_id == run.execution_id; });
    if (execution == nullptr || current == runs_.end()) continue;
    StepRecord& rec = execution->steps[run.step];
    const std::string stamp = now();
    for (std::string& line : lines) {
      rec.log.push_back(stamp + " attempt " + std::to_string(attempt) + ": " + line);
    }
    if (error.empty()) {
      rec.status = "succeeded";
      rec.finished_at = stamp;
      if (run.step + 1 < run.plan->steps.size()) {
        current->step = run.step + 1;
        current->next_at = time_.monotonicNow();
      } else {
        finishLocked(*current, *execution, true);
        runs_.erase(current);
      }
    } else if (attempt < step.retry.attempts) {
      rec.log.push_back(stamp + " retrying in " +
                        formatSeconds(static_cast<double>(step.retry.backoff.count()) / 1000) +
                        " (" + std::to_string(step.retry.attempts - attempt) + " attempts left)");
      current->next_at = time_.monotonicNow() + step.retry.backoff;
    } else {
      rec.status = "failed";
      rec.finished_at = stamp;
      metrics_.step_failures.Add({{"route", execution->route}, {"step", rec.type}}).Increment();
      SY_LOG(Error, "rollback %s of route %s: step %zu (%s) failed after %u attempt%s: %s",
             execution->id.c_str(), execution->route.c_str(), run.step + 1, rec.type.c_str(),
             attempt, attempt == 1 ? "" : "s", error.c_str());
      finishLocked(*current, *execution, false);
      runs_.erase(current);
    }
    persistLocked();
  }

  common::MonotonicTime next = guards_.empty() ? common::MonotonicTime::max() : next_guard_check_;
  for (const Run& r : runs_) next = std::min(next, r.next_at);
  return next;
}

void RollbackManager::finishLocked(Run& run, Execution& execution, bool succeeded) {
  execution.finished_at = now();
  execution.status = succeeded ? "succeeded" : "failed";
  if (!succeeded) {
    for (size_t i = run.step + 1; i < execution.steps.size(); ++i) {
      execution.steps[i].status = "skipped";
    }
    execution.log.push_back(execution.finished_at + " step " + std::to_string(run.step + 1) + " (" +
                            execution.steps[run.step].type +
                            ") failed; the plan stopped there and the route needs an operator");
  }
  setRouteLocked(execution.route, succeeded ? RouteStatus::RolledBack : RouteStatus::RollbackFailed,
                 execution.id);
  if (succeeded) {
    SY_LOG(Warn, "rollback %s of route %s succeeded; the route stays rolled back until resumed",
           execution.id.c_str(), execution.route.c_str());
  }
}

std::string RollbackManager::runStep(const StepConfig& step,
                                     const std::map<std::string, std::string>& values,
                                     std::vector<std::string>& log) {
  const std::string& route = values.at("route");
  std::string error;
  switch (step.type) {
    case StepType::SetWeights:
      error = control_.setWeights(route, step.version, step.weights);
      log.push_back(describeStep(step, route) + (error.empty() ? "" : ": " + error));
      return error;
    case StepType::PinVersion:
      error = control_.pinVersion(route, step.version);
      log.push_back(describeStep(step, route) + (error.empty() ? "" : ": " + error));
      return error;
    case StepType::Webhook:
    case StepType::Notify:
      break;
  }
  json body;
  if (step.type == StepType::Notify) {
    body = {{"text", substitute(step.message, values)}};
    for (const auto& [key, value] : values) body[key] = value;
  } else if (step.body.is_null()) {
    for (const auto& [key, value] : values) body[key] = value;
  } else {
    body = substituteJson(step.body, values);
  }
  HttpPostResult result = options_.http(step.url, step.headers, dumpJson(body), step.timeout);
  std::string line = "POST " + step.url.text;
  if (result.status == 0) {
    error = result.error.empty() ? "no response" : result.error;
    log.push_back(line + " failed: " + error);
    return error;
  }
  line += " -> " + std::to_string(result.status);
  if (!result.ok()) {
    std::string snippet = result.body.substr(0, 200);
    log.push_back(line + (snippet.empty() ? "" : ": " + snippet));
    return "HTTP " + std::to_string(result.status);
  }
  log.push_back(line);
  return "";
}

RollbackManager::ResumeResult RollbackManager::resume(const std::string& route) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = state_.routes.find(route);
  if (it == state_.routes.end()) return {ResumeOutcome::NoPlan, "", ""};
  RouteState& state = it->second;
  if (state.status == RouteStatus::Active) return {ResumeOutcome::Active, state.execution_id, ""};
  if (state.status == RouteStatus::RollingBack) {
    return {ResumeOutcome::InProgress, state.execution_id, ""};
  }
  std::string error = control_.resume(route);
  if (!error.empty()) return {ResumeOutcome::ControlFailed, state.execution_id, std::move(error)};
  const std::string previous = state.execution_id;
  if (Execution* e = findLocked(previous)) {
    e->log.push_back(now() + " resumed by an operator: the route follows its configuration again");
  }
  setRouteLocked(route, RouteStatus::Active, "");
  if (auto g = guards_.find(route); g != guards_.end()) g->second->reset(time_.monotonicNow());
  SY_LOG(Info, "rollback: route %s resumed (was %s)", route.c_str(),
         previous.empty() ? "rolled back" : previous.c_str());
  persistLocked();
  return {ResumeOutcome::Resumed, previous, ""};
}

bool RollbackManager::rememberKeyLocked(const std::string& key) {
  if (!alert_key_set_.insert(key).second) return false;
  state_.alert_keys.push_back(key);
  while (state_.alert_keys.size() > config_.max_alert_keys) {
    alert_key_set_.erase(state_.alert_keys.front());
    state_.alert_keys.pop_front();
  }
  return true;
}

void RollbackManager::recordAlertLocked(AlertRecord record) {
  state_.alerts.push_back(std::move(record));
  while (state_.alerts.size() > options_.max_alert_records) state_.alerts.pop_front();
}

void RollbackManager::recordRejectedWebhook() {
  metrics_.webhooks.Add({{"result", "invalid"}}).Increment();
}

void RollbackManager::onClusterHealth(const std::string& cluster, bool every_endpoint_unhealthy,
                                      std::string detail) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = cluster_unhealthy_.find(cluster);
  if (it == cluster_unhealthy_.end()) return;
  const bool was_unhealthy = std::exchange(it->second, every_endpoint_unhealthy);
  if (was_unhealthy == every_endpoint_unhealthy) return;
  if (!every_endpoint_unhealthy) {
    SY_LOG(Info, "rollback: cluster %s has a healthy endpoint again; its trigger is re-armed",
           cluster.c_str());
    return;
  }
  std::string reason = "every endpoint of cluster " + cluster + " failed its health checks";
  if (!detail.empty()) reason += ": " + detail;
  SY_LOG(Warn, "rollback: %s", reason.c_str());
  bool started = false;
  for (const PlanConfig& plan : config_.plans) {
    if (!plan.cluster_unhealthy || plan.cluster_unhealthy->cluster != cluster) continue;
    started =
        triggerLocked(plan.route, Trigger{TriggerKind::ClusterUnhealthy, reason, {}, "", "", ""})
                .outcome == Outcome::Started ||
        started;
  }
  if (started) persistLocked();
}

std::vector<AlertDecision> RollbackManager::receiveAlerts(const AlertmanagerPayload& payload) {
  if (payload.truncated_alerts > 0) {
    SY_LOG(Warn, "rollback: alertmanager group %s dropped %lld alerts (max_alerts)",
           payload.group_key.c_str(), static_cast<long long>(payload.truncated_alerts));
  }

  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<AlertDecision> decisions;
  for (const Alert& alert : payload.alerts) {
    AlertDecision decision;
    const std::string received_at = now();
    decision.fingerprint = alert.fingerprint;
    decision.status = alert.status;
    if (auto it = alert.labels.find("alertname"); it != alert.labels.end()) {
      decision.alertname = it->second;
    }
    if (!rememberKeyLocked(idempotencyKey(payload, alert))) {
      decision.result = AlertResult::Duplicate;
    } else if (alert.status == "resolved") {
      // Never rolls forward: a resolved alert says the symptom is gone, most likely because the
      // rollback worked. Resuming stays an operator's decision.
      decision.result = AlertResult::Resolved;
    } else {
      const config::Config* routes = routes_.get();
      for (const PlanConfig& plan : config_.plans) {
        const config::RouteConfig* route = nullptr;
        if (routes != nullptr) {
          for (const auto& r : routes->routes) {
            if (r.name == plan.route) route = &r;
          }
        }
        if (!alertMatchesPlan(alert, plan, route)) continue;
        std::string reason =
            "alert " + (decision.alertname.empty() ? alert.fingerprint : decision.alertname);
        if (auto s = alert.annotations.find("summary"); s != alert.annotations.end()) {
          reason += ": " + s->second;
        }
        TriggerResult r = triggerLocked(
            plan.route, Trigger{TriggerKind::Alertmanager, reason, alert.labels, alert.fingerprint,
                                payload.group_key, alert.starts_at});
        if (r.outcome != Outcome::Started) {
          if (Execution* e = findLocked(r.execution_id)) {
            e->log.push_back(received_at + " " + reason + " (fingerprint " + alert.fingerprint +
                             ") received; " + std::string(outcomeName(r.outcome)) +
                             ", not run again");
          }
        }
        decision.routes.push_back({plan.route, r.outcome, r.execution_id});
      }
      decision.result = decision.routes.empty() ? AlertResult::Unmatched : AlertResult::Accepted;
    }
    const std::string result(alertResultName(decision.result));
    metrics_.webhooks.Add({{"result", result}}).Increment();
    SY_LOG(Info, "rollback: alert %s (fingerprint %s, group %s) %s: %s", decision.alertname.c_str(),
           alert.fingerprint.c_str(), payload.group_key.c_str(), alert.status.c_str(),
           result.c_str());
    if (decision.result != AlertResult::Duplicate) {
      recordAlertLocked(alertRecord(decision, received_at));
    }
    decisions.push_back(std::move(decision));
  }
  persistLocked();
  return decisions;
}

json RollbackManager::stateJson() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<std::string, GuardView> guards;
  for (const auto& [route, guard] : guards_) {
    guards[route] = GuardView{guard->config().version, guard->evaluate(time_.monotonicNow())};
  }
  std::map<std::string, ClusterHealthView> health;
  for (const PlanConfig& plan : config_.plans) {
    if (!plan.cluster_unhealthy) continue;
    const std::string& cluster = plan.cluster_unhealthy->cluster;
    health[plan.route] = ClusterHealthView{cluster, cluster_unhealthy_.at(cluster)};
  }
  return stateViewJson(state_, guards, health);
}

json RollbackManager::executionsJson() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rollback::executionsJson(state_.executions);
}

void RollbackManager::persistLocked() {
  if (config_.state_file.empty() || !loaded_) return;
  std::string error =
      writeFileAtomically(config_.state_file, dumpJson(stateFileJson(state_), 1) + "\n");
  if (!error.empty()) {
    SY_LOG(Error, "rollback: cannot write the state file %s: %s", config_.state_file.c_str(),
           error.c_str());
  }
}

void RollbackManager::takeLoadedLocked(RollbackState loaded) {
  state_.executions = std::move(loaded.executions);
  pruneLocked();
  for (auto& [route, s] : loaded.routes) {
    if (state_.routes.count(route) == 0) {
      SY_LOG(Warn, "rollback: route %s was %s but has no rollback plan any more; forgotten",
             route.c_str(), std::string(routeStatusName(s.status)).c_str());
      continue;
    }
    state_.routes[route] = std::move(s);
    metrics_.active.Add({{"route", route}})
        .Set(state_.routes[route].status == RouteStatus::Active ? 0 : 1);
  }
  for (const std::string& key : loaded.alert_keys) rememberKeyLocked(key);
  state_.alerts = std::move(loaded.alerts);
  while (state_.alerts.size() > options_.max_alert_records) state_.alerts.pop_front();
  state_.next_id = std::max(state_.next_id, loaded.next_id);
}

void RollbackManager::load() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (loaded_) return;
  loaded_ = true;
  if (config_.state_file.empty()) return;
  const std::string& path = config_.state_file;
  std::string text;
  std::string error;
  ReadResult read = readWholeFile(path, text, error);
  if (read == ReadResult::Missing) {
    SY_LOG(Info, "rollback: no state file at %s yet; every route starts active", path.c_str());
    return;
  }
  bool ok = read == ReadResult::Ok;
  if (ok) {
    json state = json::parse(text, nullptr, false);
    if (state.is_discarded()) {
      error = "not valid JSON";
      ok = false;
    } else {
      try {
        takeLoadedLocked(stateFromFileJson(state));
      } catch (const std::exception& e) {
        error = e.what();
        ok = false;
      }
    }
  }
  if (!ok) {
    std::string move_error;
    std::string moved = moveAside(path, time_.systemNow(), move_error);
    SY_LOG(Error, "rollback: the state file %s cannot be used (%s); starting with empty state%s%s",
           path.c_str(), error.c_str(),
           moved.empty() ? "; could not move it aside: " : "; kept as ",
           moved.empty() ? move_error.c_str() : moved.c_str());
    return;
  }
  reapplyLocked();
  persistLocked();
}

void RollbackManager::reapplyLocked() {
  const std::string stamp = now();
  // An execution still "running" on disk was cut short by a crash or a kill.
  for (Execution& e : state_.executions) {
    if (e.status != "running") continue;
    e.status = "failed";
    e.finished_at = stamp;
    bool moved_traffic = false;
    for (StepRecord& s : e.steps) {
      if (s.status == "running") {
        s.status = "failed";
        s.finished_at = stamp;
        s.log.push_back(stamp + " interrupted: the sidecar stopped during this step");
      } else if (s.status == "pending") {
        s.status = "skipped";
      } else if (s.status == "succeeded" && (s.type == "set_weights" || s.type == "pin_version")) {
        moved_traffic = true;
      }
    }
    e.log.push_back(stamp + " interrupted: the sidecar stopped while this execution ran");
    auto state = state_.routes.find(e.route);
    if (state == state_.routes.end() || state->second.execution_id != e.id) continue;
    // Traffic that was already moved stays moved: the route counts as rolled back (the steps
    // that did not run are not run now; the execution shows which).
    state->second.status = moved_traffic ? RouteStatus::RolledBack : RouteStatus::RollbackFailed;
    e.log.push_back(stamp + " route " + e.route + " is " +
                    std::string(routeStatusName(state->second.status)) + " after the restart");
  }

  for (auto& [route, state] : state_.routes) {
    if (state.status == RouteStatus::Active) continue;
    if (state.status == RouteStatus::RollingBack) state.status = RouteStatus::RollbackFailed;
    const PlanConfig* plan = config_.findPlan(route);
    Execution* e = findLocked(state.execution_id);
    std::vector<const StepConfig*> apply;
    if (state.status == RouteStatus::RolledBack && (e == nullptr || e->status == "succeeded")) {
      for (const StepConfig& step : plan->steps) {
        if (step.changesTraffic()) apply.push_back(&step);
      }
    } else if (e != nullptr) {
      for (size_t i = 0; i < plan->steps.size() && i < e->steps.size(); ++i) {
        const StepConfig& step = plan->steps[i];
        if (step.changesTraffic() && e->steps[i].status == "succeeded" &&
            e->steps[i].type == stepTypeName(step.type)) {
          apply.push_back(&step);
        }
      }
    }
    for (const StepConfig* step : apply) {
      std::string error = step->type == StepType::SetWeights
                              ? control_.setWeights(route, step->version, step->weights)
                              : control_.pinVersion(route, step->version);
      std::string line = now() + " restart: " + describeStep(*step, route) +
                         (error.empty() ? " re-applied" : " could not be re-applied: " + error);
      if (e != nullptr) e->log.push_back(line);
      if (error.empty()) {
        SY_LOG(Info, "rollback: route %s: %s", route.c_str(), line.c_str());
      } else {
        SY_LOG(Error, "rollback: route %s: %s", route.c_str(), line.c_str());
        state.status = RouteStatus::RollbackFailed;
      }
    }
    metrics_.active.Add({{"route", route}}).Set(1);
  }
}

}  // namespace switchyard::rollback
