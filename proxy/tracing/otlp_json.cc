#include "proxy/tracing/otlp_json.h"

#include <chrono>
#include <cmath>
#include <type_traits>

namespace switchyard::tracing {
namespace {

using Json = nlohmann::ordered_json;

std::string unixNanos(common::SystemTime t) {
  return std::to_string(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

Json encodeValue(const AttributeValue& value) {
  return std::visit(
      [](const auto& v) -> Json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return {{"stringValue", v}};
        } else if constexpr (std::is_same_v<T, int64_t>) {
          // int64 is a string in the proto3 JSON mapping: JSON numbers lose precision past 2^53.
          return {{"intValue", std::to_string(v)}};
        } else if constexpr (std::is_same_v<T, double>) {
          if (std::isnan(v)) return {{"doubleValue", "NaN"}};
          if (std::isinf(v)) return {{"doubleValue", v > 0 ? "Infinity" : "-Infinity"}};
          return {{"doubleValue", v}};
        } else {
          return {{"boolValue", v}};
        }
      },
      value);
}

Json encodeAttribute(const std::string& key, const AttributeValue& value) {
  return {{"key", key}, {"value", encodeValue(value)}};
}

Json encodeSpan(const Span& span) {
  Json out = Json::object();
  out["traceId"] = toHex(span.trace_id);
  out["spanId"] = toHex(span.span_id);
  if (!span.trace_state.empty()) out["traceState"] = span.trace_state;
  if (!isZero(span.parent_span_id)) out["parentSpanId"] = toHex(span.parent_span_id);
  out["name"] = span.name;
  out["kind"] = static_cast<int>(span.kind);
  out["startTimeUnixNano"] = unixNanos(span.start);
  out["endTimeUnixNano"] = unixNanos(span.end);
  Json attributes = Json::array();
  for (const Attribute& a : span.attributes) attributes.push_back(encodeAttribute(a.key, a.value));
  out["attributes"] = std::move(attributes);
  Json status = {{"code", static_cast<int>(span.status.code)}};
  if (!span.status.message.empty()) status["message"] = span.status.message;
  out["status"] = std::move(status);
  return out;
}

}  // namespace

nlohmann::ordered_json encodeExportRequest(const ResourceInfo& resource,
                                           std::span<const Span> spans) {
  Json attributes = Json::array();
  attributes.push_back(encodeAttribute("service.name", resource.service_name));
  if (!resource.service_instance_id.empty()) {
    attributes.push_back(encodeAttribute("service.instance.id", resource.service_instance_id));
  }
  if (!resource.service_version.empty()) {
    attributes.push_back(encodeAttribute("service.version", resource.service_version));
  }
  Json encoded = Json::array();
  for (const Span& span : spans) encoded.push_back(encodeSpan(span));
  Json scope_spans = Json::array();
  scope_spans.push_back({{"scope", {{"name", ScopeName}}}, {"spans", std::move(encoded)}});
  Json resource_spans = Json::array();
  resource_spans.push_back({{"resource", {{"attributes", std::move(attributes)}}},
                            {"scopeSpans", std::move(scope_spans)}});
  return {{"resourceSpans", std::move(resource_spans)}};
}

std::string encodeExportRequestBody(const ResourceInfo& resource, std::span<const Span> spans) {
  return encodeExportRequest(resource, spans)
      .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace switchyard::tracing
