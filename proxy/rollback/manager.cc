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

// Replaces ${context.NAME} with the value of NAME (empty when there is none, as for a label the
// alert did not have) and the older {route}, {version}, {reason}, {trigger}, {execution_id}
// (other braces stay). One pass: what a value holds is never substituted in turn.
std::string substitute(const std::string& text, const std::map<std::string, std::string>& values) {
  constexpr std::string_view Open = "${context.";
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, Open.size(), Open) == 0) {
      const size_t close = text.find('}', i + Open.size());
      if (close != std::string::npos) {
        auto it = values.find(text.substr(i + Open.size(), close - i - Open.size()));
        if (it != values.end()) out += it->second;
        i = close + 1;
        continue;
      }
    }
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

std::string percent(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f%%", ratio * 100);
  return buf;
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
    case StepType::Verify:
      return "verify that the error ratio of " + route + " stays at or below " +
             percent(step.verify.max_error_ratio) + " for " +
             formatSeconds(static_cast<double>(step.verify.for_.count()) / 1000);
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
                   .Register(registry),
               prometheus::BuildGauge()
                   .Name("switchyard_rollback_recovery_seconds")
                   .Help("How long the route's last successful rollback took, from its trigger "
                         "to its last step (the recovery time)")
                   .Register(registry),
               prometheus::BuildGauge()
                   .Name("switchyard_rollback_estimated_duration_seconds")
                   .Help("The estimated_duration of the route's rollback plan")
                   .Register(registry),
               prometheus::BuildCounter()
                   .Name("switchyard_rollback_over_estimate_total")
                   .Help("Rollback executions that took longer than their plan's "
                         "estimated_duration, by route")
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
    if (plan.estimated_duration.count() > 0) {
      metrics_.estimated.Add({{"route", plan.route}})
          .Set(static_cast<double>(plan.estimated_duration.count()) / 1000);
      metrics_.over_estimate.Add({{"route", plan.route}});
    }
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

  // The plans this one depends on go first: each route still active is rolled back now (on the
  // same trigger), and this plan's steps wait for every one still rolling back.
  std::vector<std::string> waiting_for;
  std::vector<std::string> dependency_log;
  for (const std::string& other : plan->depends_on) {
    Trigger needed = trigger;
    needed.by = triggeredBy(trigger);
    needed.reason = "needed by the rollback of route " + route +
                    (trigger.reason.empty() ? "" : ": " + trigger.reason);
    // Whatever the trigger, a route that failed to roll back is not retried for another's sake.
    const RouteState& before = state_.routes[other];
    TriggerResult r =
        before.status == RouteStatus::Active
            ? triggerLocked(other, std::move(needed))
            : TriggerResult{before.status == RouteStatus::RollingBack ? Outcome::InProgress
                                                                      : Outcome::AlreadyRolledBack,
                            before.execution_id};
    const RouteState& after = state_.routes[other];
    if (after.status == RouteStatus::RollingBack) {
      waiting_for.push_back(after.execution_id);
      dependency_log.push_back("waits for " + after.execution_id + " (route " + other + ", " +
                               std::string(outcomeName(r.outcome)) + ")");
    } else if (after.status == RouteStatus::RolledBack) {
      dependency_log.push_back("route " + other + " is rolled back already");
    } else {
      // Failed, and not retried here: the plan fails at its first step.
      waiting_for.push_back(after.execution_id.empty() ? "-" : after.execution_id);
      dependency_log.push_back("route " + other + " failed to roll back (" + after.execution_id +
                               ")");
    }
  }

  Execution execution;
  execution.id =
      "rb-" + std::to_string(state_.next_id++) + "-" + common::formatCompactUtc(time_.systemNow());
  execution.route = route;
  execution.started_at = now();
  execution.estimated_duration_ms = static_cast<uint64_t>(plan->estimated_duration.count());
  for (const std::string& line : dependency_log) {
    execution.log.push_back(execution.started_at + " depends_on: " + line);
  }
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
  run.started = run.next_at;
  run.waiting_for = std::move(waiting_for);
  runs_.push_back(run);
  setRouteLocked(route, RouteStatus::RollingBack, execution.id);
  publishLocked(route);
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
      started = triggerLocked(route, Trigger{TriggerKind::Guard, status.reason, {}, "", "", "", ""})
                        .outcome == Outcome::Started ||
                started;
    }
    if (started) persistLocked();
  }

  for (;;) {
    settleDependenciesLocked();
    now_mono = time_.monotonicNow();
    auto due = std::find_if(runs_.begin(), runs_.end(), [&](const Run& r) {
      return r.waiting_for.empty() && r.next_at <= now_mono;
    });
    if (due == runs_.end()) break;
    Execution* execution = findLocked(due->execution_id);
    if (execution == nullptr) {  // cannot happen: running executions are never pruned
      runs_.erase(due);
      continue;
    }
    if (due->plan->steps[due->step].type == StepType::Verify) {
      verifyLocked(*due, *execution);
      continue;
    }
    const Run run = *due;
    const StepConfig& step = run.plan->steps[run.step];
    StepRecord& record = execution->steps[run.step];
    record.status = "running";
    ++record.attempts;
    if (record.started_at.empty()) record.started_at = now();
    std::map<std::string, std::string> values = {
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
        {"triggered_by", triggeredBy(execution->trigger)},
        {"environment", config_.environment},
        {"execution_id", execution->id}};
    for (const auto& [name, value] : execution->trigger.alert_labels) {
      values["labels." + name] = value;
    }
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
      advanceLocked(current, *execution);
    } else if (attempt < step.retry.attempts) {
      const milliseconds wait = step.retry.backoffAfter(attempt);
      rec.log.push_back(stamp + " retrying in " +
                        formatSeconds(static_cast<double>(wait.count()) / 1000) + " (" +
                        std::to_string(step.retry.attempts - attempt) + " attempts left)");
      current->next_at = time_.monotonicNow() + wait;
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
  for (const Run& r : runs_) {
    if (r.waiting_for.empty()) next = std::min(next, r.next_at);
  }
  return next;
}

void RollbackManager::advanceLocked(std::vector<Run>::iterator run, Execution& execution) {
  if (run->step + 1 < run->plan->steps.size()) {
    ++run->step;
    run->next_at = time_.monotonicNow();
    return;
  }
  finishLocked(*run, execution, true);
  runs_.erase(run);
}

void RollbackManager::settleDependenciesLocked() {
  for (auto run = runs_.begin(); run != runs_.end();) {
    std::string failed;
    std::erase_if(run->waiting_for, [&](const std::string& id) {
      const Execution* e = findLocked(id);
      if (e != nullptr && e->status == "running") return false;
      if (e == nullptr || e->status != "succeeded") {
        if (failed.empty()) failed = e == nullptr ? "a route it depends on" : "route " + e->route;
      }
      return true;
    });
    Execution* execution = findLocked(run->execution_id);
    if (failed.empty() || execution == nullptr) {
      if (run->waiting_for.empty() && run->next_at < time_.monotonicNow()) {
        run->next_at = time_.monotonicNow();
      }
      ++run;
      continue;
    }
    StepRecord& first = execution->steps[run->step];
    first.status = "failed";
    first.started_at = first.finished_at = now();
    first.log.push_back(first.started_at + " not run: " + failed +
                        " did not roll back, and this plan depends on it");
    metrics_.step_failures.Add({{"route", execution->route}, {"step", first.type}}).Increment();
    SY_LOG(Error, "rollback %s of route %s failed: %s did not roll back (depends_on)",
           execution->id.c_str(), execution->route.c_str(), failed.c_str());
    finishLocked(*run, *execution, false);
    run = runs_.erase(run);
  }
}

void RollbackManager::verifyLocked(Run& run, Execution& execution) {
  const StepConfig& step = run.plan->steps[run.step];
  const VerifyConfig& verify = step.verify;
  StepRecord& record = execution.steps[run.step];
  const common::MonotonicTime now_mono = time_.monotonicNow();
  const std::string stamp = now();
  if (record.status != "running") {
    record.status = "running";
    record.attempts = 1;
    record.started_at = stamp;
    record.log.push_back(stamp + " " + describeStep(step, execution.route) + " (within " +
                         formatSeconds(static_cast<double>(verify.timeout.count()) / 1000) + ")");
    run.verify_started = now_mono;
    run.verify_samples.clear();
    persistLocked();
  }
  auto fail = [&](const std::string& why) {
    record.status = "failed";
    record.finished_at = stamp;
    record.log.push_back(stamp + " " + why);
    metrics_.step_failures.Add({{"route", execution.route}, {"step", record.type}}).Increment();
    SY_LOG(Error, "rollback %s of route %s: step %zu (verify) failed: %s", execution.id.c_str(),
           execution.route.c_str(), run.step + 1, why.c_str());
    auto it = std::find_if(runs_.begin(), runs_.end(),
                           [&](const Run& r) { return r.execution_id == execution.id; });
    finishLocked(run, execution, false);
    runs_.erase(it);
    persistLocked();
  };

  const std::optional<ProxyControl::ResponseCounts> counts =
      control_.responseCounts(execution.route);
  if (!counts) {
    fail("the route's response counts are not available");
    return;
  }
  auto& samples = run.verify_samples;
  samples.emplace_back(now_mono, *counts);
  // Kept: the samples inside the last `for`, and the newest one before it (the baseline).
  while (samples.size() > 1 && now_mono - samples[1].first >= verify.for_) samples.pop_front();

  const common::Duration waited = now_mono - run.verify_started;
  if (waited >= verify.for_) {
    const ProxyControl::ResponseCounts& base = samples.front().second;
    const uint64_t requests = counts->requests - std::min(counts->requests, base.requests);
    const uint64_t errors = counts->errors - std::min(counts->errors, base.errors);
    const double ratio =
        requests == 0 ? 0.0 : static_cast<double>(errors) / static_cast<double>(requests);
    const std::string figures = "error ratio " + percent(ratio) + " over the last " +
                                formatSeconds(common::toSeconds(now_mono - samples.front().first)) +
                                " (" + std::to_string(errors) + " of " + std::to_string(requests) +
                                " requests)";
    if (requests >= verify.min_requests && ratio <= verify.max_error_ratio) {
      record.status = "succeeded";
      record.finished_at = stamp;
      record.log.push_back(stamp + " passed: " + figures);
      auto it = std::find_if(runs_.begin(), runs_.end(),
                             [&](const Run& r) { return r.execution_id == execution.id; });
      advanceLocked(it, execution);
      persistLocked();
      return;
    }
    if (waited >= verify.timeout) {
      fail("failed after " + formatSeconds(common::toSeconds(waited)) + ": " + figures +
           (requests < verify.min_requests
                ? ", fewer than min_requests (" + std::to_string(verify.min_requests) + ")"
                : ", above " + percent(verify.max_error_ratio)));
      return;
    }
  } else if (waited >= verify.timeout) {
    fail("timed out");
    return;
  }
  run.next_at = now_mono + std::min<common::Duration>(options_.guard_interval, verify.for_ / 4);
}

void RollbackManager::finishLocked(Run& run, Execution& execution, bool succeeded) {
  execution.finished_at = now();
  execution.status = succeeded ? "succeeded" : "failed";
  const common::Duration took = time_.monotonicNow() - run.started;
  execution.duration_ms = static_cast<uint64_t>(
      std::max<int64_t>(0, std::chrono::duration_cast<milliseconds>(took).count()));
  if (succeeded) {
    metrics_.recovery.Add({{"route", execution.route}}).Set(common::toSeconds(took));
  }
  if (execution.estimated_duration_ms > 0 &&
      execution.duration_ms > execution.estimated_duration_ms) {
    metrics_.over_estimate.Add({{"route", execution.route}}).Increment();
    execution.log.push_back(
        execution.finished_at + " took " + formatSeconds(common::toSeconds(took)) +
        ", longer than the plan's estimated_duration of " +
        formatSeconds(static_cast<double>(execution.estimated_duration_ms) / 1000));
  }
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
  publishLocked(execution.route);
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
    case StepType::Verify:  // runOnce() polls it under the lock (verifyLocked)
      return "verify is not a call";
    case StepType::Webhook:
    case StepType::Notify:
      break;
  }
  HttpUrl url = step.url;
  if (!step.url_template.empty()) {
    const std::string text = substitute(step.url_template, values);
    std::string url_error;
    if (!parseHttpUrl(text, url, url_error)) {
      log.push_back("POST " + text + ": not a valid url once filled in: " + url_error);
      return "invalid url";
    }
  }
  std::vector<std::pair<std::string, std::string>> headers = step.headers;
  for (auto& [name, value] : headers) {
    value = substitute(value, values);
    // A value from an alert must not add header lines.
    std::erase_if(value, [](char c) { return c == '\r' || c == '\n'; });
  }
  // The default body: every value, the alert's labels as an object of their own.
  const auto addValues = [&values](json& body) {
    for (const auto& [key, value] : values) {
      if (key.starts_with("labels.")) {
        body["labels"][key.substr(7)] = value;
      } else {
        body[key] = value;
      }
    }
  };
  json body;
  if (step.type == StepType::Notify) {
    body = {{"text", substitute(step.message, values)}};
    addValues(body);
  } else if (step.body.is_null()) {
    addValues(body);
  } else {
    body = substituteJson(step.body, values);
  }
  HttpPostResult result = options_.http(url, headers, dumpJson(body), step.timeout);
  std::string line = "POST " + url.text;
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
  publishLocked(route);
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
    started = triggerLocked(plan.route,
                            Trigger{TriggerKind::ClusterUnhealthy, reason, {}, "", "", "", ""})
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
    const std::string key = idempotencyKey(payload, alert);
    if (!rememberKeyLocked(key) || (fleet_claim_ && !fleet_claim_(key))) {
      // Seen here, or by another replica of the fleet (Alertmanager's peers each send).
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
                                payload.group_key, alert.starts_at, ""});
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

void RollbackManager::setFleet(FleetPublish publish, FleetClaim claim_alert) {
  std::lock_guard<std::mutex> lock(mutex_);
  fleet_publish_ = std::move(publish);
  fleet_claim_ = std::move(claim_alert);
}

void RollbackManager::publishLocked(const std::string& route) {
  if (!fleet_publish_) return;
  const RouteState& state = state_.routes[route];
  json out = {{"state", routeStatusName(state.status)},
              {"execution_id", state.execution_id},
              {"since", state.since}};
  if (const Execution* e = findLocked(state.execution_id)) out["trigger"] = toJson(e->trigger);
  fleet_publish_(route, out);
}

void RollbackManager::applyFleetState(const std::string& route, const json& state) {
  std::lock_guard<std::mutex> lock(mutex_);
  const PlanConfig* plan = config_.findPlan(route);
  if (plan == nullptr || !state.is_object()) return;
  const std::string remote = state.value("state", std::string());
  const std::string remote_id = state.value("execution_id", std::string());
  RouteState& local = state_.routes[route];
  const std::string stamp = now();
  if (remote == "active") {
    if (local.status != RouteStatus::RolledBack && local.status != RouteStatus::RollbackFailed) {
      return;
    }
    const std::string error = control_.resume(route);
    if (!error.empty()) {
      SY_LOG(Error, "rollback: the fleet resumed route %s, but not here: %s", route.c_str(),
             error.c_str());
      return;
    }
    if (Execution* e = findLocked(local.execution_id)) {
      e->log.push_back(stamp + " resumed by another replica of the fleet");
    }
    setRouteLocked(route, RouteStatus::Active, "");
    if (auto g = guards_.find(route); g != guards_.end()) g->second->reset(time_.monotonicNow());
    SY_LOG(Info, "rollback: route %s resumed by the fleet", route.c_str());
    persistLocked();
    return;
  }
  if (remote != "rolling_back" && remote != "rolled_back") return;
  // Rolling back here already runs the whole plan; rolled back here needs nothing more.
  if (local.status == RouteStatus::RollingBack || local.status == RouteStatus::RolledBack) return;

  Execution execution;
  execution.id = remote_id.empty() ? "fleet-" + std::to_string(state_.next_id++) : remote_id;
  if (findLocked(execution.id) != nullptr) execution.id += "-fleet";
  execution.route = route;
  execution.started_at = stamp;
  try {
    if (state.contains("trigger")) execution.trigger = triggerFromJson(state["trigger"]);
  } catch (const std::exception&) {
    execution.trigger.reason = "from the fleet";
  }
  bool ok = true;
  for (const StepConfig& step : plan->steps) {
    StepRecord record;
    record.type = std::string(stepTypeName(step.type));
    record.started_at = stamp;
    record.finished_at = stamp;
    if (step.changesTraffic()) {
      const std::string error = step.type == StepType::SetWeights
                                    ? control_.setWeights(route, step.version, step.weights)
                                    : control_.pinVersion(route, step.version);
      record.attempts = 1;
      record.status = error.empty() ? "succeeded" : "failed";
      record.log.push_back(stamp + " " + describeStep(step, route) +
                           (error.empty() ? "" : ": " + error));
      ok = ok && error.empty();
    } else {
      record.status = "skipped";
      record.log.push_back(stamp + " run by the replica that started the rollback");
    }
    execution.steps.push_back(std::move(record));
  }
  execution.finished_at = stamp;
  execution.status = ok ? "succeeded" : "failed";
  execution.log.push_back(stamp + " rollback " + remote_id + " of another replica of the fleet (" +
                          triggerText(execution.trigger) + "): its traffic steps applied here");
  state_.executions.push_back(std::move(execution));
  setRouteLocked(route, ok ? RouteStatus::RolledBack : RouteStatus::RollbackFailed,
                 state_.executions.back().id);
  SY_LOG(Warn, "rollback: route %s rolled back by the fleet (%s)", route.c_str(),
         remote_id.c_str());
  pruneLocked();
  persistLocked();
}

}  // namespace switchyard::rollback
