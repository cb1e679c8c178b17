#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "proxy/tracing/span.h"

namespace switchyard::tracing {

// Who produced the spans: OTLP resource attributes shared by every span of a request body.
struct ResourceInfo {
  std::string service_name = "switchyard";  // service.name
  std::string service_instance_id;          // service.instance.id; omitted when empty
  std::string service_version;              // service.version; omitted when empty
};

// The name in scopeSpans[].scope.name.
inline constexpr const char* ScopeName = "switchyard";

// An OTLP ExportTraceServiceRequest in the OTLP/HTTP JSON encoding (proto3 JSON mapping with
// OTLP's exceptions): one resourceSpans entry with the resource attributes, one scopeSpans entry
// with scope "switchyard", and per span:
//   traceId, spanId, parentSpanId (omitted for a root span)  lower-case hex, not base64
//   traceState                                              omitted when empty
//   name, kind                                              kind as its integer (2, 3)
//   startTimeUnixNano, endTimeUnixNano                      decimal strings
//   attributes: [{key, value: {stringValue | intValue (a decimal string) | doubleValue |
//                boolValue}}]                               non-finite doubles as "NaN",
//                                                           "Infinity", "-Infinity"
//   status: {code (0 unset, 1 ok, 2 error), message (when non-empty)}
// Fields appear in the proto's order. Pure; safe on any thread.
nlohmann::ordered_json encodeExportRequest(const ResourceInfo& resource,
                                           std::span<const Span> spans);

// The same serialized compactly. Bytes that are not valid UTF-8 (a request path can carry any)
// become U+FFFD instead of failing the whole batch.
std::string encodeExportRequestBody(const ResourceInfo& resource, std::span<const Span> spans);

}  // namespace switchyard::tracing
