#pragma once

// The JSON forms of the rollback records (records.h): what GET /rollback and
// /rollback/executions show, and what the state file holds. Pure functions, no state, no I/O:
// the manager decides when to write and read, this only says what the bytes look like.
//
// The *FromJson functions read what the toJson functions write (and what earlier releases of the
// same format wrote: optional keys may be missing or null). They throw nlohmann::json::exception
// (a missing key, a wrong type) or std::invalid_argument (a value out of its set) on a malformed
// record; the caller decides what a bad record means (the manager sets the whole file aside).

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "proxy/rollback/guard.h"
#include "proxy/rollback/records.h"

namespace switchyard::rollback {

// The "format" of the state file this code writes and reads.
inline constexpr int StateFormat = 1;

// value.dump() with invalid UTF-8 replaced rather than thrown on: labels, reasons and step logs
// come from outside.
std::string dumpJson(const nlohmann::json& value, int indent = -1);

// {"kind", "reason"[, "alert": {"labels", "fingerprint", "group_key", "starts_at"}]}
nlohmann::json toJson(const Trigger& trigger);
Trigger triggerFromJson(const nlohmann::json& json);

// {"type", "status", "attempts", "started_at", "finished_at", "log"}; unset times are null.
nlohmann::json toJson(const StepRecord& step);
StepRecord stepRecordFromJson(const nlohmann::json& json);

// {"id", "route", "trigger", "started_at", "finished_at", "status", "steps", "log"}.
nlohmann::json toJson(const Execution& execution);
Execution executionFromJson(const nlohmann::json& json);

// {"state", "since", "execution_id"}; execution_id is null when empty.
nlohmann::json toJson(const RouteState& state);
RouteState routeStateFromJson(const nlohmann::json& json);

// {"received_at", "fingerprint", "alertname", "status", "result", "routes"}.
nlohmann::json toJson(const AlertRecord& record);
AlertRecord alertRecordFromJson(const nlohmann::json& json);

// {"route", "outcome", "execution_id"}.
nlohmann::json toJson(const AlertRouteResult& result);
// {"fingerprint", "alertname", "status", "result", "routes"}: a webhook reply's view of an alert.
nlohmann::json toJson(const AlertDecision& decision);
// The record kept of a decision received at `received_at`.
AlertRecord alertRecord(const AlertDecision& decision, std::string received_at);

// The state file: {"format", "next_id", "routes", "executions", "alerts", "alert_keys"}, lists
// oldest first.
nlohmann::json stateFileJson(const RollbackState& state);
// Reads a state file document; throws as above, also for another format.
RollbackState stateFromFileJson(const nlohmann::json& json);

// A route's guard as GET /rollback shows it.
struct GuardView {
  std::string version;
  GuardStatus status;
};
// A route's cluster_unhealthy trigger as GET /rollback shows it: the cluster and what its last
// health report said (an unhealthy one fires again only once it has recovered).
struct ClusterHealthView {
  std::string cluster;
  bool every_endpoint_unhealthy = false;
};
// GET /rollback: {"routes", "executions", "alerts"}, lists newest first; each route has a
// "guard" and a "cluster_health" (null when `guards` or `health` has none for it).
nlohmann::json stateViewJson(const RollbackState& state,
                             const std::map<std::string, GuardView>& guards,
                             const std::map<std::string, ClusterHealthView>& health = {});
// GET /rollback/executions: the executions, newest first.
nlohmann::json executionsJson(const std::deque<Execution>& executions);

}  // namespace switchyard::rollback
