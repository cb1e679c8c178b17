#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "proxy/common/random.h"
#include "proxy/common/time.h"
#include "proxy/http/headers.h"
#include "proxy/tracing/sampler.h"
#include "proxy/tracing/span.h"
#include "proxy/tracing/trace_context.h"

namespace switchyard::tracing {

// The trace context one hop runs under: what its span records and what goes upstream. Built on
// the worker that owns the request; a plain value.
struct SpanContext {
  TraceId trace_id{};
  SpanId span_id{};         // this hop's span
  SpanId parent_span_id{};  // the caller's span; all zeros when the trace starts here
  bool sampled = false;     // record and export this hop's spans
  std::string trace_state;  // validated; forwarded as is, "" for none

  // "00-<trace id>-<span id>-<01|00>": the value to send to the next hop.
  std::string traceparent() const;
};

// The context of a server span from the request's trace headers. `traceparent` is the request's
// only traceparent value (nullopt if it had none; the caller passes nullopt when it had more than
// one, which the spec makes invalid). `tracestate` is its tracestate lines joined with ','.
// A valid traceparent continues the caller's trace and follows its sampling decision; otherwise
// a new trace id is drawn and the sampler decides. tracestate is kept only alongside a valid
// traceparent, and dropped alone when invalid.
SpanContext startServerContext(std::optional<std::string_view> traceparent,
                               std::optional<std::string_view> tracestate, const Sampler& sampler,
                               common::Random& random);

// The same from a request's headers (names lower-case, as HeaderMap stores them).
SpanContext extractServerContext(const http::HeaderMap& headers, const Sampler& sampler,
                                 common::Random& random);

// The context of a client span (one upstream attempt) under `parent`: same trace, sampling and
// tracestate, a new span id, `parent.span_id` as its parent.
SpanContext childContext(const SpanContext& parent, common::Random& random);

// Replaces traceparent and tracestate on an outgoing request with `context`'s (tracestate is
// removed when the context has none).
void injectContext(const SpanContext& context, http::HeaderMap& headers);

// A span with the ids of `context`, ready for attributes; `end` is set by the caller.
Span makeSpan(const SpanContext& context, std::string name, SpanKind kind,
              common::SystemTime start);

}  // namespace switchyard::tracing
