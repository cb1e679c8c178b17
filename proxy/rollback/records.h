#pragma once

// The records the rollback manager keeps and hands out: executions and their steps, what
// triggered them, each route's rollback state, and what became of the alerts of webhook
// notifications. Plain values with no behaviour, so the engine (manager.h), their JSON forms
// (codec.h) and the admin handlers (admin_handlers.h) share them without depending on each other.

#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/rollback/alertmanager.h"

namespace switchyard::rollback {

// What started an execution: an Alertmanager webhook, an operator, the route's guard, or the
// active health checks finding every endpoint of the plan's cluster_unhealthy cluster down.
enum class TriggerKind { Alertmanager, Manual, Guard, ClusterUnhealthy, RolloutGate };
inline constexpr TriggerKind TriggerKinds[] = {TriggerKind::Alertmanager, TriggerKind::Manual,
                                               TriggerKind::Guard, TriggerKind::ClusterUnhealthy,
                                               TriggerKind::RolloutGate};
// alertmanager, manual, guard, cluster_unhealthy, rollout_gate (a gate of the route's gated
// rollout failed): the JSON "kind", the metrics' trigger label and the steps' {trigger}.
std::string_view triggerKindName(TriggerKind kind);
// The sidecar's own triggers (the guard, the health checks, the rollout's gates) start a plan only
// for an active route: they never retry a failed rollback, an alert or an operator may.
bool isOwnTrigger(TriggerKind kind);

struct Trigger {
  TriggerKind kind = TriggerKind::Manual;
  std::string reason;
  // Alertmanager only: the alert that asked for the rollback.
  Labels alert_labels;
  std::string fingerprint;
  std::string group_key;
  std::string starts_at;
  // Who asked: the operator named in a manual request, else "" (triggeredBy() then says it from
  // the kind and the alert).
  std::string by;
};

// ${context.triggered_by}: `by`, else the alert's name for Alertmanager ("alertmanager" without
// one), "operator", "guard", "health_check" or "rollout".
std::string triggeredBy(const Trigger& trigger);

enum class RouteStatus { Active, RollingBack, RolledBack, RollbackFailed };
std::string_view routeStatusName(RouteStatus status);

struct StepRecord {
  std::string type;                // set_weights, pin_version, webhook, notify
  std::string status = "pending";  // pending, running, succeeded, failed, skipped
  uint32_t attempts = 0;
  std::string started_at;   // RFC 3339 UTC; empty until it starts
  std::string finished_at;  // empty until it ends
  std::vector<std::string> log;
};

struct Execution {
  std::string id;
  std::string route;
  Trigger trigger;
  std::string started_at;
  std::string finished_at;
  std::string status = "running";  // running, succeeded, failed
  // The recovery time, set when it finishes: how long it took, against the plan's
  // estimated_duration (0 when the plan gives none).
  uint64_t duration_ms = 0;
  uint64_t estimated_duration_ms = 0;
  std::vector<StepRecord> steps;
  std::vector<std::string> log;  // what happened to it outside its steps (restart, resume)
};

struct RouteState {
  RouteStatus status = RouteStatus::Active;
  std::string since;
  std::string execution_id;  // the execution that put the route in this state; "" when active
};

// What asking a route to roll back did.
enum class TriggerOutcome { Started, AlreadyRolledBack, InProgress, NoPlan };
std::string_view outcomeName(TriggerOutcome outcome);  // started, already_rolled_back, ...

// What the manager did with one alert of a webhook notification.
enum class AlertResult { Accepted, Duplicate, Resolved, Unmatched };
std::string_view alertResultName(AlertResult result);  // accepted, duplicate, ...

struct AlertRouteResult {
  std::string route;
  TriggerOutcome outcome = TriggerOutcome::NoPlan;
  std::string execution_id;  // the new one when Started; the route's current one otherwise
};

struct AlertDecision {
  std::string fingerprint;
  std::string alertname;  // "" when the alert has no alertname label
  std::string status;     // firing, resolved
  AlertResult result = AlertResult::Unmatched;
  std::vector<AlertRouteResult> routes;  // the plans a firing alert matched (Accepted only)
};

// A received alert as GET /rollback shows it and the state file keeps it. Kept in its JSON form
// (`result` and `routes` as written by the codec) and read back as is: it is a history for
// operators, nothing decides on it.
struct AlertRecord {
  std::string received_at;
  std::string fingerprint;
  std::string alertname;
  std::string status;
  std::string result;  // accepted, resolved, unmatched (duplicates are not recorded)
  nlohmann::json routes = nlohmann::json::array();  // [{"route", "outcome", "execution_id"}]
};

// Everything the state file holds.
struct RollbackState {
  std::map<std::string, RouteState> routes;
  std::deque<Execution> executions;    // oldest first
  std::deque<AlertRecord> alerts;      // oldest first
  std::deque<std::string> alert_keys;  // idempotency keys of the alerts seen, oldest first
  uint64_t next_id = 1;                // of the next execution
};

}  // namespace switchyard::rollback
