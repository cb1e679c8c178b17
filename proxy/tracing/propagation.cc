#include "proxy/tracing/propagation.h"

#include <utility>

namespace switchyard::tracing {

std::string SpanContext::traceparent() const {
  return formatTraceparent(trace_id, span_id, sampled ? SampledFlag : 0);
}

SpanContext startServerContext(std::optional<std::string_view> traceparent,
                               std::optional<std::string_view> tracestate, const Sampler& sampler,
                               common::Random& random) {
  SpanContext out;
  std::optional<TraceParent> parent;
  if (traceparent) parent = parseTraceparent(*traceparent);
  if (parent) {
    out.trace_id = parent->trace_id;
    out.parent_span_id = parent->parent_id;
    if (tracestate) out.trace_state = parseTracestate(*tracestate).value_or("");
  } else {
    out.trace_id = generateTraceId(random);
  }
  out.span_id = generateSpanId(random);
  out.sampled = sampler.shouldSample(parent ? &*parent : nullptr, out.trace_id);
  return out;
}

SpanContext extractServerContext(const http::HeaderMap& headers, const Sampler& sampler,
                                 common::Random& random) {
  std::optional<std::string_view> traceparent;
  std::optional<std::string> tracestate;
  size_t traceparents = 0;
  for (const http::HeaderMap::Entry& e : headers.entries()) {
    if (e.name == "traceparent") {
      ++traceparents;
      traceparent = e.value;
    } else if (e.name == "tracestate") {
      // Several lines form one list (RFC 9110 field combination).
      if (tracestate) {
        *tracestate += ',';
        *tracestate += e.value;
      } else {
        tracestate = e.value;
      }
    }
  }
  if (traceparents > 1) traceparent.reset();
  return startServerContext(traceparent, tracestate, sampler, random);
}

SpanContext childContext(const SpanContext& parent, common::Random& random) {
  SpanContext out = parent;
  out.parent_span_id = parent.span_id;
  out.span_id = generateSpanId(random);
  return out;
}

void injectContext(const SpanContext& context, http::HeaderMap& headers) {
  headers.set("traceparent", context.traceparent());
  if (context.trace_state.empty()) {
    headers.remove("tracestate");
  } else {
    headers.set("tracestate", context.trace_state);
  }
}

Span makeSpan(const SpanContext& context, std::string name, SpanKind kind,
              common::SystemTime start) {
  Span span;
  span.trace_id = context.trace_id;
  span.span_id = context.span_id;
  span.parent_span_id = context.parent_span_id;
  span.trace_state = context.trace_state;
  span.name = std::move(name);
  span.kind = kind;
  span.start = start;
  span.end = start;
  return span;
}

}  // namespace switchyard::tracing
