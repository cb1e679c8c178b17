#include "proxy/accesslog/format.h"

#include <chrono>
#include <nlohmann/json.hpp>
#include <variant>

#include "proxy/common/rfc3339.h"

namespace switchyard::accesslog {
namespace {

using Json = nlohmann::ordered_json;

// Whole microseconds as milliseconds: 12345us -> 12.345, which the JSON writer prints as the
// shortest form that reads back the same.
double millis(common::Duration d) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(d).count()) /
         1000.0;
}

void putString(Json& out, const char* key, const std::string& value) {
  if (!value.empty()) out[key] = value;
}

}  // namespace

std::string formatAccessLogLine(const AccessLogEntry& e) {
  Json out = Json::object();
  out["time"] = common::formatRfc3339Millis(e.time);
  putString(out, "correlation_id", e.correlation_id);
  putString(out, "trace_id", e.trace_id);
  putString(out, "method", e.method);
  putString(out, "path", e.path);
  putString(out, "route", e.route);
  putString(out, "version", e.version);
  putString(out, "cluster", e.cluster);
  out["status"] = e.status;
  out["request_bytes"] = e.request_bytes;
  out["response_bytes"] = e.response_bytes;
  out["duration_ms"] = millis(e.duration);
  if (e.upstream_duration) out["upstream_duration_ms"] = millis(*e.upstream_duration);
  out["attempts"] = e.attempts;
  out["retries"] = e.attempts > 0 ? e.attempts - 1 : 0;
  for (const auto& field : e.fields) {
    const std::string& name = field.first;
    // A field may not replace one of the line's own keys, nor appear twice.
    if (name.empty() || out.contains(name) || name == "client" || name == "user_agent") continue;
    std::visit([&out, &name](const auto& v) { out[name] = v; }, field.second);
  }
  putString(out, "client", e.client);
  putString(out, "user_agent", e.user_agent);
  return out.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace switchyard::accesslog
