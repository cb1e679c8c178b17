#pragma once

#include <concepts>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "proxy/common/time.h"
#include "proxy/tracing/trace_context.h"

namespace switchyard::tracing {

// OTLP's SpanKind values; the encoder writes them as these integers.
enum class SpanKind : int { Server = 2, Client = 3 };

// OTLP's StatusCode values. Instrumentation leaves a span Unset unless it failed (Error); Ok is
// for an explicit override and rarely needed.
enum class StatusCode : int { Unset = 0, Ok = 1, Error = 2 };

struct SpanStatus {
  StatusCode code = StatusCode::Unset;
  std::string message;  // only meaningful with Error
};

using AttributeValue = std::variant<std::string, int64_t, double, bool>;

struct Attribute {
  std::string key;
  AttributeValue value;
};

// One finished operation: a plain value built on the worker that handled the request and moved
// into the exporter. No methods with side effects; nothing here is thread-safe or needs to be.
struct Span {
  TraceId trace_id{};
  SpanId span_id{};
  SpanId parent_span_id{};  // all zeros for a root span
  std::string trace_state;  // the validated tracestate the span ran under, if any
  std::string name;
  SpanKind kind = SpanKind::Server;
  common::SystemTime start{};
  common::SystemTime end{};
  std::vector<Attribute> attributes;
  SpanStatus status;

  // Appends (does not replace an earlier value of the same key). The overloads keep a string
  // literal from turning into a bool and an integer of any width from being ambiguous.
  void setAttribute(std::string key, std::string value) {
    attributes.push_back({std::move(key), std::move(value)});
  }
  void setAttribute(std::string key, std::string_view value) {
    attributes.push_back({std::move(key), std::string(value)});
  }
  void setAttribute(std::string key, const char* value) {
    attributes.push_back({std::move(key), std::string(value)});
  }
  // Any integer type; unsigned values above INT64_MAX saturate (OTLP integers are signed).
  template <class T>
  requires std::integral<T> &&(!std::same_as<T, bool>)void setAttribute(std::string key, T value) {
    int64_t v = static_cast<int64_t>(value);
    if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(int64_t)) {
      if (value > static_cast<T>(std::numeric_limits<int64_t>::max())) {
        v = std::numeric_limits<int64_t>::max();
      }
    }
    attributes.push_back({std::move(key), v});
  }
  void setAttribute(std::string key, double value) {
    attributes.push_back({std::move(key), value});
  }
  void setAttribute(std::string key, bool value) { attributes.push_back({std::move(key), value}); }

  void setError(std::string message) {
    status.code = StatusCode::Error;
    status.message = std::move(message);
  }
};

}  // namespace switchyard::tracing
