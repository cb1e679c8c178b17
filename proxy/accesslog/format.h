#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proxy/common/field_value.h"
#include "proxy/common/time.h"

namespace switchyard::accesslog {

// The fields of one access-log line, filled by the connection manager when a request ends. A
// plain value: the formatter below knows nothing of streams, so it is tested with literals.
struct AccessLogEntry {
  common::SystemTime time{};  // when the request head arrived
  std::string correlation_id;
  std::string trace_id;  // 32 hex characters, or empty when tracing is off
  std::string method;
  std::string path;     // the request target as received
  std::string route;    // empty when no route matched
  std::string version;  // resolved API version, empty for unversioned routes
  std::string cluster;  // empty for a reply made before choosing one
  int status = 0;
  uint64_t request_bytes = 0;   // request body bytes received
  uint64_t response_bytes = 0;  // response body bytes sent
  common::Duration duration{0};
  std::optional<common::Duration> upstream_duration;  // absent when no upstream was tried
  uint32_t attempts = 0;                              // upstream attempts; retries = attempts - 1
  // What filters recorded about the request (their filter-state log values, e.g. a rate-limit
  // decision or a cache result), in the order they were recorded.
  std::vector<std::pair<std::string, common::FieldValue>> fields;
  std::string client;  // downstream address
  std::string user_agent;
};

// One JSON object, no trailing newline, keys in this order:
//   time (RFC 3339 UTC with milliseconds), correlation_id, trace_id, method, path, route,
//   version, cluster, status, request_bytes, response_bytes, duration_ms, upstream_duration_ms,
//   attempts, retries, then each of `fields` (skipped if its name is one of the line's own keys
//   or repeats an earlier field), client, user_agent
// Empty strings and an absent upstream duration are omitted; numbers are always present.
// Durations are milliseconds with microsecond precision (12.345). Strings are JSON-escaped and
// bytes that are not valid UTF-8 become U+FFFD, so a hostile path cannot break the line.
std::string formatAccessLogLine(const AccessLogEntry& entry);

}  // namespace switchyard::accesslog
