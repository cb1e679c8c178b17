#pragma once

// The Alertmanager webhook payload (version 4) and how an alert is matched to a rollback plan.
// Pure functions: no state, no I/O; the manager decides what to do with the result.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "proxy/rollback/config.h"

namespace switchyard::rollback {

using Labels = std::map<std::string, std::string>;

struct Alert {
  std::string status;  // "firing" or "resolved"
  Labels labels;
  Labels annotations;
  std::string starts_at;  // RFC 3339, as sent
  std::string ends_at;    // RFC 3339; "0001-01-01T00:00:00Z" while firing
  std::string generator_url;
  std::string fingerprint;
};

struct AlertmanagerPayload {
  std::string version;  // always "4"
  std::string group_key;
  std::string status;  // of the group: "firing" or "resolved"
  std::string receiver;
  Labels group_labels;
  Labels common_labels;
  Labels common_annotations;
  std::string external_url;
  int64_t truncated_alerts = 0;
  std::vector<Alert> alerts;
};

// Parses and checks a webhook body. Required: version "4", groupKey (string), status
// (firing|resolved), alerts (array; each an object with status firing|resolved, labels as a
// string map, startsAt as an RFC 3339 time and a non-empty fingerprint of at most 128
// characters). Optional fields, when present, must have their documented types (string maps,
// strings, a non-negative truncatedAlerts). Unknown fields are ignored: newer Alertmanagers add
// some (notification_reason, routeLabels). Returns false with `error` saying what is wrong.
bool parseAlertmanagerPayload(std::string_view body, AlertmanagerPayload& out, std::string& error);

// The key that makes a notification idempotent: Alertmanager re-sends the same alert of the same
// group (group_interval, repeat_interval, HA peers) with the same groupKey, fingerprint, status
// and startsAt. The groupKey is hashed to keep the key short.
std::string idempotencyKey(const AlertmanagerPayload& payload, const Alert& alert);

// Whether `alert` asks for `plan`: its `route` label names the plan's route, or (without a route
// label) its `cluster` label names a cluster of the route (any version's split), and every label
// matcher of the plan is satisfied. `route` is the plan's route in the configuration (null when
// it is gone: only the route label can match then).
bool alertMatchesPlan(const Alert& alert, const PlanConfig& plan, const config::RouteConfig* route);

}  // namespace switchyard::rollback
