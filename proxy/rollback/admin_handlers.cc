#include "proxy/rollback/admin_handlers.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "proxy/common/logging.h"
#include "proxy/common/strings.h"
#include "proxy/rollback/alertmanager.h"
#include "proxy/rollback/codec.h"

namespace switchyard::rollback {
namespace {

using admin::AdminRequest;
using admin::AdminResponse;
using nlohmann::json;

using admin::jsonResponse;
using common::quote;

AdminResponse problem(int status, std::string detail) {
  return admin::problemResponse(status, std::move(detail));
}

// The body of a POST /rollback/* request: a JSON object with the keys named; "" or a problem.
std::optional<AdminResponse> readAdminBody(const AdminRequest& request, size_t max_bytes,
                                           std::initializer_list<std::string_view> keys,
                                           json& out) {
  if (request.body.size() > max_bytes) {
    return problem(413, "the body is larger than " + std::to_string(max_bytes) + " bytes");
  }
  out = json::parse(request.body, nullptr, false);
  if (out.is_discarded() || !out.is_object()) return problem(400, "expected a JSON object");
  for (const auto& [key, value] : out.items()) {
    bool known = false;
    for (std::string_view k : keys) known = known || k == key;
    if (!known) return problem(400, "unknown key " + quote(key));
    if (!value.is_string()) return problem(400, quote(key) + " must be a string");
  }
  if (!out.contains("route") || out["route"].get<std::string>().empty()) {
    return problem(400, "\"route\" is required");
  }
  return std::nullopt;
}

}  // namespace

RollbackAdmin::RollbackAdmin(RollbackManager& manager, size_t max_body_bytes)
    : manager_(manager), max_body_bytes_(max_body_bytes) {}

AdminResponse RollbackAdmin::alertmanagerWebhook(const AdminRequest& request) {
  auto invalid = [&](int status, std::string detail) {
    manager_.recordRejectedWebhook();
    SY_LOG(Warn, "rollback: alertmanager webhook refused (%d): %s", status, detail.c_str());
    return problem(status, std::move(detail));
  };
  const size_t max_bytes = manager_.config().webhook_max_body_bytes;
  if (request.body.size() > max_bytes) {
    return invalid(413, "the body is larger than " + std::to_string(max_bytes) + " bytes");
  }
  auto type = request.headers.find("content-type");
  std::string media =
      type == request.headers.end() ? "" : type->second.substr(0, type->second.find(';'));
  while (!media.empty() && media.back() == ' ') media.pop_back();
  for (char& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (media != "application/json") {
    return invalid(415, "expected Content-Type: application/json");
  }
  AlertmanagerPayload payload;
  std::string error;
  if (!parseAlertmanagerPayload(request.body, payload, error)) return invalid(400, error);

  json results = json::array();
  for (const AlertDecision& decision : manager_.receiveAlerts(payload)) {
    results.push_back(toJson(decision));
  }
  return jsonResponse(200, {{"alerts", payload.alerts.size()}, {"results", std::move(results)}});
}

AdminResponse RollbackAdmin::state(const AdminRequest&) const {
  return jsonResponse(200, manager_.stateJson());
}

AdminResponse RollbackAdmin::executions(const AdminRequest& request) const {
  auto id = request.query_params.find("id");
  if (id == request.query_params.end()) return jsonResponse(200, manager_.executionsJson());
  std::optional<Execution> e = manager_.execution(id->second);
  if (!e) return problem(404, "no execution " + quote(id->second));
  return jsonResponse(200, toJson(*e));
}

AdminResponse RollbackAdmin::trigger(const AdminRequest& request) {
  json body;
  if (auto refused = readAdminBody(request, max_body_bytes_, {"route", "reason", "by"}, body)) {
    return *refused;
  }
  const std::string route = body["route"];
  std::string reason = body.value("reason", std::string("manual rollback"));
  // Who asks (${context.triggered_by}); one line of printable text.
  std::string by = body.value("by", std::string());
  if (by.size() > 200 || std::any_of(by.begin(), by.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
      })) {
    return problem(400, "\"by\" must be at most 200 printable characters");
  }
  RollbackManager::TriggerResult r =
      manager_.trigger(route, Trigger{TriggerKind::Manual, reason, {}, "", "", "", std::move(by)});
  switch (r.outcome) {
    case TriggerOutcome::NoPlan:
      return problem(404, "route " + quote(route) + " has no rollback plan");
    case TriggerOutcome::AlreadyRolledBack:
      return problem(409, "route " + quote(route) + " is already rolled back (" + r.execution_id +
                              "); resume it first");
    case TriggerOutcome::InProgress:
      return problem(
          409, "a rollback of route " + quote(route) + " is running (" + r.execution_id + ")");
    case TriggerOutcome::Started:
      break;
  }
  return jsonResponse(202,
                      {{"route", route}, {"execution_id", r.execution_id}, {"status", "running"}});
}

AdminResponse RollbackAdmin::resume(const AdminRequest& request) {
  json body;
  if (auto refused = readAdminBody(request, max_body_bytes_, {"route"}, body)) {
    return *refused;
  }
  const std::string route = body["route"];
  RollbackManager::ResumeResult r = manager_.resume(route);
  switch (r.outcome) {
    case RollbackManager::ResumeOutcome::NoPlan:
      return problem(404, "route " + quote(route) + " has no rollback plan");
    case RollbackManager::ResumeOutcome::Active:
      return problem(409, "route " + quote(route) + " is active: nothing to resume");
    case RollbackManager::ResumeOutcome::InProgress:
      return problem(409, "a rollback of route " + quote(route) + " is running (" + r.execution_id +
                              "); resume it once it has finished");
    case RollbackManager::ResumeOutcome::ControlFailed:
      return problem(502, "could not undo the rollback of route " + quote(route) + ": " + r.error);
    case RollbackManager::ResumeOutcome::Resumed:
      break;
  }
  return jsonResponse(200, {{"route", route}, {"state", "active"}});
}

void registerRollbackAdmin(admin::AdminServer& server, RollbackManager& manager) {
  server.setMaxBodyBytes(std::max<size_t>(admin::AdminServer::DefaultMaxBodyBytes,
                                          manager.config().webhook_max_body_bytes + 1));
  // Shared by the five handlers: AdminHandler is a copyable std::function.
  auto handlers = std::make_shared<RollbackAdmin>(manager);
  server.addHandler(
      "POST", "/alerts/alertmanager",
      [handlers](const AdminRequest& r) { return handlers->alertmanagerWebhook(r); }, true);
  server.addHandler("GET", "/rollback",
                    [handlers](const AdminRequest& r) { return handlers->state(r); });
  server.addHandler("GET", "/rollback/executions",
                    [handlers](const AdminRequest& r) { return handlers->executions(r); });
  server.addHandler(
      "POST", "/rollback/trigger",
      [handlers](const AdminRequest& r) { return handlers->trigger(r); }, true);
  server.addHandler(
      "POST", "/rollback/resume", [handlers](const AdminRequest& r) { return handlers->resume(r); },
      true);
}

}  // namespace switchyard::rollback
