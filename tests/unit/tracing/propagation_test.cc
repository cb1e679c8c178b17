#include "proxy/tracing/propagation.h"

#include <gtest/gtest.h>

#include <chrono>

#include "proxy/common/random.h"
#include "proxy/http/headers.h"

namespace switchyard::tracing {
namespace {

constexpr const char* Parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr const char* UnsampledParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
constexpr const char* TraceHex = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* ParentSpanHex = "00f067aa0ba902b7";

class PropagationTest : public testing::Test {
 protected:
  SpanContext extract(double ratio = 1.0) {
    return extractServerContext(headers_, Sampler(ratio), random_);
  }

  http::HeaderMap headers_;
  common::SeededRandom random_{11};
};

TEST_F(PropagationTest, NoHeadersStartsANewTrace) {
  const SpanContext c = extract();
  EXPECT_FALSE(isZero(c.trace_id));
  EXPECT_FALSE(isZero(c.span_id));
  EXPECT_TRUE(isZero(c.parent_span_id));
  EXPECT_TRUE(c.sampled);
  EXPECT_EQ(c.trace_state, "");
  EXPECT_EQ(c.traceparent(), "00-" + toHex(c.trace_id) + "-" + toHex(c.span_id) + "-01");

  EXPECT_FALSE(extract(0.0).sampled);
}

TEST_F(PropagationTest, NewTracesAreDeterministicForASeed) {
  common::SeededRandom replay(11);
  const TraceId expected_trace = generateTraceId(replay);
  const SpanId expected_span = generateSpanId(replay);
  const SpanContext c = extract();
  EXPECT_EQ(c.trace_id, expected_trace);
  EXPECT_EQ(c.span_id, expected_span);
}

TEST_F(PropagationTest, ValidTraceparentContinuesTheTrace) {
  headers_.add("traceparent", Parent);
  headers_.add("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  const SpanContext c = extract(0.0);
  EXPECT_EQ(toHex(c.trace_id), TraceHex);
  EXPECT_EQ(toHex(c.parent_span_id), ParentSpanHex);
  EXPECT_NE(toHex(c.span_id), ParentSpanHex);
  EXPECT_TRUE(c.sampled) << "the caller's decision wins over ratio 0";
  EXPECT_EQ(c.trace_state, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  EXPECT_EQ(c.traceparent(), "00-" + std::string(TraceHex) + "-" + toHex(c.span_id) + "-01");
}

TEST_F(PropagationTest, UnsampledCallerIsFollowed) {
  headers_.add("traceparent", UnsampledParent);
  const SpanContext c = extract(1.0);
  EXPECT_EQ(toHex(c.trace_id), TraceHex);
  EXPECT_FALSE(c.sampled);
  EXPECT_EQ(c.traceparent().substr(53), "00");
}

TEST_F(PropagationTest, InvalidTraceparentStartsANewTraceAndIgnoresTracestate) {
  headers_.add("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01");
  headers_.add("tracestate", "rojo=1");
  const SpanContext c = extract();
  EXPECT_NE(toHex(c.trace_id), TraceHex);
  EXPECT_TRUE(isZero(c.parent_span_id));
  EXPECT_EQ(c.trace_state, "");
}

TEST_F(PropagationTest, InvalidTracestateIsDroppedAlone) {
  headers_.add("traceparent", Parent);
  headers_.add("tracestate", "Rojo=1");
  const SpanContext c = extract();
  EXPECT_EQ(toHex(c.trace_id), TraceHex);
  EXPECT_EQ(toHex(c.parent_span_id), ParentSpanHex);
  EXPECT_EQ(c.trace_state, "");
}

TEST_F(PropagationTest, TwoTraceparentHeadersAreInvalid) {
  headers_.add("traceparent", Parent);
  headers_.add("traceparent", Parent);
  headers_.add("tracestate", "rojo=1");
  const SpanContext c = extract();
  EXPECT_NE(toHex(c.trace_id), TraceHex);
  EXPECT_EQ(c.trace_state, "");
}

TEST_F(PropagationTest, TracestateLinesAreJoined) {
  headers_.add("traceparent", Parent);
  headers_.add("tracestate", "rojo=1");
  headers_.add("tracestate", "congo=2");
  EXPECT_EQ(extract().trace_state, "rojo=1,congo=2");

  // The member limit counts across lines.
  headers_.remove("tracestate");
  std::string first;
  for (int i = 0; i < 20; ++i) first += (i ? ",a" : "a") + std::to_string(i) + "=1";
  std::string second;
  for (int i = 0; i < 13; ++i) second += (i ? ",b" : "b") + std::to_string(i) + "=1";
  headers_.add("tracestate", first);
  headers_.add("tracestate", second);
  EXPECT_EQ(extract().trace_state, "");
}

TEST_F(PropagationTest, ChildContextIsTheNextHop) {
  headers_.add("traceparent", Parent);
  headers_.add("tracestate", "rojo=1");
  const SpanContext server = extract();
  const SpanContext client = childContext(server, random_);
  EXPECT_EQ(client.trace_id, server.trace_id);
  EXPECT_EQ(client.parent_span_id, server.span_id);
  EXPECT_NE(client.span_id, server.span_id);
  EXPECT_EQ(client.sampled, server.sampled);
  EXPECT_EQ(client.trace_state, "rojo=1");
}

TEST_F(PropagationTest, InjectReplacesTraceHeaders) {
  headers_.add("traceparent", Parent);
  headers_.add("traceparent", Parent);
  headers_.add("tracestate", "Bad=1");
  SpanContext c = extract();
  http::HeaderMap upstream = headers_;
  injectContext(c, upstream);
  EXPECT_EQ(upstream.count("traceparent"), 1u);
  EXPECT_EQ(*upstream.get("traceparent"), c.traceparent());
  EXPECT_EQ(upstream.count("tracestate"), 0u);

  c.trace_state = "rojo=1";
  injectContext(c, upstream);
  EXPECT_EQ(*upstream.get("tracestate"), "rojo=1");
}

TEST_F(PropagationTest, MakeSpanCopiesTheContext) {
  headers_.add("traceparent", Parent);
  headers_.add("tracestate", "rojo=1");
  const SpanContext c = extract();
  const common::SystemTime start{std::chrono::seconds(1767225600)};
  const Span span = makeSpan(c, "GET /api", SpanKind::Server, start);
  EXPECT_EQ(span.trace_id, c.trace_id);
  EXPECT_EQ(span.span_id, c.span_id);
  EXPECT_EQ(span.parent_span_id, c.parent_span_id);
  EXPECT_EQ(span.trace_state, "rojo=1");
  EXPECT_EQ(span.name, "GET /api");
  EXPECT_EQ(span.kind, SpanKind::Server);
  EXPECT_EQ(span.start, start);
  EXPECT_EQ(span.end, start);
  EXPECT_TRUE(span.attributes.empty());
  EXPECT_EQ(span.status.code, StatusCode::Unset);
}

}  // namespace
}  // namespace switchyard::tracing
