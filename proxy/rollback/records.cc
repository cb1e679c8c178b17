#include "proxy/rollback/records.h"

namespace switchyard::rollback {

std::string_view triggerKindName(TriggerKind kind) {
  switch (kind) {
    case TriggerKind::Alertmanager:
      return "alertmanager";
    case TriggerKind::Manual:
      return "manual";
    case TriggerKind::Guard:
      return "guard";
    case TriggerKind::ClusterUnhealthy:
      return "cluster_unhealthy";
    case TriggerKind::RolloutGate:
      return "rollout_gate";
  }
  return "unknown";
}

std::string triggeredBy(const Trigger& trigger) {
  if (!trigger.by.empty()) return trigger.by;
  switch (trigger.kind) {
    case TriggerKind::Alertmanager: {
      auto it = trigger.alert_labels.find("alertname");
      return it != trigger.alert_labels.end() && !it->second.empty() ? it->second : "alertmanager";
    }
    case TriggerKind::Manual:
      return "operator";
    case TriggerKind::Guard:
      return "guard";
    case TriggerKind::ClusterUnhealthy:
      return "health_check";
    case TriggerKind::RolloutGate:
      return "rollout";
  }
  return "unknown";
}

bool isOwnTrigger(TriggerKind kind) {
  return kind == TriggerKind::Guard || kind == TriggerKind::ClusterUnhealthy ||
         kind == TriggerKind::RolloutGate;
}

std::string_view routeStatusName(RouteStatus status) {
  switch (status) {
    case RouteStatus::Active:
      return "active";
    case RouteStatus::RollingBack:
      return "rolling_back";
    case RouteStatus::RolledBack:
      return "rolled_back";
    case RouteStatus::RollbackFailed:
      return "rollback_failed";
  }
  return "unknown";
}

std::string_view outcomeName(TriggerOutcome outcome) {
  switch (outcome) {
    case TriggerOutcome::Started:
      return "started";
    case TriggerOutcome::AlreadyRolledBack:
      return "already_rolled_back";
    case TriggerOutcome::InProgress:
      return "in_progress";
    case TriggerOutcome::NoPlan:
      return "no_plan";
  }
  return "unknown";
}

std::string_view alertResultName(AlertResult result) {
  switch (result) {
    case AlertResult::Accepted:
      return "accepted";
    case AlertResult::Duplicate:
      return "duplicate";
    case AlertResult::Resolved:
      return "resolved";
    case AlertResult::Unmatched:
      return "unmatched";
  }
  return "unknown";
}

}  // namespace switchyard::rollback
