#include "proxy/rollback/alertmanager.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "proxy/common/rfc3339.h"

namespace switchyard::rollback {
namespace {

using nlohmann::json;

constexpr size_t MaxFingerprint = 128;

// A string map (labels, annotations); false with `error` naming `field` otherwise.
bool readLabels(const json& value, const std::string& field, Labels& out, std::string& error) {
  if (!value.is_object()) {
    error = "\"" + field + "\" must be an object of strings";
    return false;
  }
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string()) {
      error = "\"" + field + "\".\"" + key + "\" must be a string";
      return false;
    }
    out[key] = v.get<std::string>();
  }
  return true;
}

bool readOptionalLabels(const json& object, const char* field, const std::string& where,
                        Labels& out, std::string& error) {
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return true;
  return readLabels(*it, where + field, out, error);
}

bool readOptionalString(const json& object, const char* field, const std::string& where,
                        std::string& out, std::string& error) {
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return true;
  if (!it->is_string()) {
    error = "\"" + where + field + "\" must be a string";
    return false;
  }
  out = it->get<std::string>();
  return true;
}

bool readStatus(const json& object, const std::string& where, std::string& out,
                std::string& error) {
  auto it = object.find("status");
  if (it == object.end()) {
    error = "\"" + where + "status\" is required";
    return false;
  }
  if (!it->is_string() || (*it != "firing" && *it != "resolved")) {
    error = "\"" + where + "status\" must be \"firing\" or \"resolved\"";
    return false;
  }
  out = it->get<std::string>();
  return true;
}

bool readAlert(const json& value, size_t index, Alert& out, std::string& error) {
  const std::string where = "alerts[" + std::to_string(index) + "].";
  if (!value.is_object()) {
    error = "\"alerts[" + std::to_string(index) + "]\" must be an object";
    return false;
  }
  if (!readStatus(value, where, out.status, error)) return false;
  auto labels = value.find("labels");
  if (labels == value.end()) {
    error = "\"" + where + "labels\" is required";
    return false;
  }
  if (!readLabels(*labels, where + "labels", out.labels, error)) return false;
  if (!readOptionalLabels(value, "annotations", where, out.annotations, error)) return false;
  auto starts = value.find("startsAt");
  if (starts == value.end() || !starts->is_string() ||
      !common::isRfc3339(starts->get<std::string>())) {
    error = "\"" + where + "startsAt\" is required: an RFC 3339 time";
    return false;
  }
  out.starts_at = starts->get<std::string>();
  if (!readOptionalString(value, "endsAt", where, out.ends_at, error)) return false;
  if (!out.ends_at.empty() && !common::isRfc3339(out.ends_at)) {
    error = "\"" + where + "endsAt\" must be an RFC 3339 time";
    return false;
  }
  if (!readOptionalString(value, "generatorURL", where, out.generator_url, error)) return false;
  auto fingerprint = value.find("fingerprint");
  if (fingerprint == value.end() || !fingerprint->is_string() ||
      fingerprint->get<std::string>().empty() ||
      fingerprint->get<std::string>().size() > MaxFingerprint) {
    error = "\"" + where + "fingerprint\" is required: a non-empty string of at most " +
            std::to_string(MaxFingerprint) + " characters";
    return false;
  }
  out.fingerprint = fingerprint->get<std::string>();
  return true;
}

}  // namespace

bool parseAlertmanagerPayload(std::string_view body, AlertmanagerPayload& out, std::string& error) {
  json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded()) {
    error = "the body is not valid JSON";
    return false;
  }
  if (!doc.is_object()) {
    error = "expected a JSON object (an Alertmanager webhook payload)";
    return false;
  }
  auto version = doc.find("version");
  if (version == doc.end() || !version->is_string() || *version != "4") {
    error = "\"version\" must be \"4\" (Alertmanager webhook payload version 4)";
    return false;
  }
  out.version = "4";
  auto group_key = doc.find("groupKey");
  if (group_key == doc.end() || !group_key->is_string()) {
    error = "\"groupKey\" is required: a string";
    return false;
  }
  out.group_key = group_key->get<std::string>();
  if (!readStatus(doc, "", out.status, error)) return false;
  if (!readOptionalString(doc, "receiver", "", out.receiver, error) ||
      !readOptionalString(doc, "externalURL", "", out.external_url, error) ||
      !readOptionalLabels(doc, "groupLabels", "", out.group_labels, error) ||
      !readOptionalLabels(doc, "commonLabels", "", out.common_labels, error) ||
      !readOptionalLabels(doc, "commonAnnotations", "", out.common_annotations, error)) {
    return false;
  }
  if (auto it = doc.find("truncatedAlerts"); it != doc.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0) {
      error = "\"truncatedAlerts\" must be a non-negative integer";
      return false;
    }
    out.truncated_alerts = it->get<int64_t>();
  }
  auto alerts = doc.find("alerts");
  if (alerts == doc.end() || !alerts->is_array()) {
    error = "\"alerts\" is required: an array of alerts";
    return false;
  }
  out.alerts.clear();
  out.alerts.reserve(alerts->size());
  for (size_t i = 0; i < alerts->size(); ++i) {
    Alert alert;
    if (!readAlert((*alerts)[i], i, alert, error)) return false;
    out.alerts.push_back(std::move(alert));
  }
  return true;
}

std::string idempotencyKey(const AlertmanagerPayload& payload, const Alert& alert) {
  // FNV-1a 64: stable across builds and processes (std::hash is not), short enough to store
  // by the thousand.
  uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : payload.group_key) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
  return std::string(hex) + "/" + alert.fingerprint + "/" + alert.status + "/" + alert.starts_at;
}

bool alertMatchesPlan(const Alert& alert, const PlanConfig& plan,
                      const config::RouteConfig* route) {
  bool names_route = false;
  if (auto it = alert.labels.find("route"); it != alert.labels.end()) {
    names_route = it->second == plan.route;
  } else if (auto cluster = alert.labels.find("cluster");
             cluster != alert.labels.end() && route != nullptr) {
    auto inTarget = [&](const config::TargetConfig& target) {
      for (const auto& wc : target.split) {
        if (wc.cluster == cluster->second) return true;
      }
      return false;
    };
    names_route = inTarget(route->target);
    for (const auto& v : route->versions) names_route = names_route || inTarget(v.target);
  }
  if (!names_route) return false;
  for (const auto& [name, value] : plan.alert_labels) {
    auto it = alert.labels.find(name);
    if (it == alert.labels.end() || it->second != value) return false;
  }
  return true;
}

}  // namespace switchyard::rollback
