#include "proxy/tracing/otlp_json.h"

#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

namespace switchyard::tracing {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

template <class Id>
Id id(const char* hex) {
  Id out{};
  EXPECT_TRUE(parseHex(hex, out)) << hex;
  return out;
}

Span serverSpan() {
  Span span;
  span.trace_id = id<TraceId>("4bf92f3577b34da6a3ce929d0e0e4736");
  span.span_id = id<SpanId>("00f067aa0ba902b7");
  span.parent_span_id = id<SpanId>("0102030405060708");
  span.trace_state = "rojo=1";
  span.name = "GET api";
  span.kind = SpanKind::Server;
  span.start = common::SystemTime(seconds(1767225600) + nanoseconds(123456789));
  span.end = span.start + milliseconds(250);
  span.setAttribute("http.request.method", "GET");
  span.setAttribute("http.response.status_code", 504);
  span.setAttribute("switchyard.ratio", 0.25);
  span.setAttribute("switchyard.cache_hit", false);
  span.setAttribute("switchyard.big", std::numeric_limits<int64_t>::min());
  span.setError("upstream timeout");
  return span;
}

Span clientSpan() {
  Span span;
  span.trace_id = id<TraceId>("4bf92f3577b34da6a3ce929d0e0e4736");
  span.span_id = id<SpanId>("a0a1a2a3a4a5a6a7");
  span.name = "upstream v2";
  span.kind = SpanKind::Client;
  span.start = common::SystemTime(seconds(1767225600));
  span.end = span.start + nanoseconds(1);
  return span;
}

TEST(OtlpJsonTest, ExactBodyForFixedSpans) {
  ResourceInfo resource;
  resource.service_name = "edge";
  resource.service_instance_id = "c0ffee";
  const std::vector<Span> spans = {serverSpan(), clientSpan()};
  const std::string expected =
      R"({"resourceSpans":[{"resource":{"attributes":[)"
      R"({"key":"service.name","value":{"stringValue":"edge"}},)"
      R"({"key":"service.instance.id","value":{"stringValue":"c0ffee"}}]},)"
      R"("scopeSpans":[{"scope":{"name":"switchyard"},"spans":[)"
      R"({"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7",)"
      R"("traceState":"rojo=1","parentSpanId":"0102030405060708","name":"GET api","kind":2,)"
      R"("startTimeUnixNano":"1767225600123456789","endTimeUnixNano":"1767225600373456789",)"
      R"("attributes":[)"
      R"({"key":"http.request.method","value":{"stringValue":"GET"}},)"
      R"({"key":"http.response.status_code","value":{"intValue":"504"}},)"
      R"({"key":"switchyard.ratio","value":{"doubleValue":0.25}},)"
      R"({"key":"switchyard.cache_hit","value":{"boolValue":false}},)"
      R"({"key":"switchyard.big","value":{"intValue":"-9223372036854775808"}}],)"
      R"("status":{"code":2,"message":"upstream timeout"}},)"
      R"({"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"a0a1a2a3a4a5a6a7",)"
      R"("name":"upstream v2","kind":3,)"
      R"("startTimeUnixNano":"1767225600000000000","endTimeUnixNano":"1767225600000000001",)"
      R"("attributes":[],"status":{"code":0}}]}]}]})";
  EXPECT_EQ(encodeExportRequestBody(resource, spans), expected);
  EXPECT_FALSE(nlohmann::json::parse(expected, nullptr, false).is_discarded());
}

TEST(OtlpJsonTest, OptionalResourceAttributes) {
  ResourceInfo resource;
  resource.service_version = "1.2.3";
  const nlohmann::ordered_json body = encodeExportRequest(resource, {});
  const auto& attributes = body["resourceSpans"][0]["resource"]["attributes"];
  ASSERT_EQ(attributes.size(), 2u);
  EXPECT_EQ(attributes[0]["key"], "service.name");
  EXPECT_EQ(attributes[0]["value"]["stringValue"], "switchyard");
  EXPECT_EQ(attributes[1]["key"], "service.version");
  EXPECT_EQ(attributes[1]["value"]["stringValue"], "1.2.3");
  EXPECT_TRUE(body["resourceSpans"][0]["scopeSpans"][0]["spans"].empty());
}

TEST(OtlpJsonTest, OkStatusAndUnsignedAttributes) {
  Span span = clientSpan();
  span.status.code = StatusCode::Ok;
  span.setAttribute("u32", uint32_t{4000000000});
  span.setAttribute("u64", std::numeric_limits<uint64_t>::max());
  const Span spans[] = {span};
  const auto json = encodeExportRequest({}, spans)["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(json["status"], (nlohmann::ordered_json{{"code", 1}}));
  EXPECT_EQ(json["attributes"][0]["value"]["intValue"], "4000000000");
  EXPECT_EQ(json["attributes"][1]["value"]["intValue"], "9223372036854775807");
}

TEST(OtlpJsonTest, NonFiniteDoublesUseTheProtoJsonSpellings) {
  Span span = clientSpan();
  span.setAttribute("nan", std::numeric_limits<double>::quiet_NaN());
  span.setAttribute("inf", std::numeric_limits<double>::infinity());
  span.setAttribute("-inf", -std::numeric_limits<double>::infinity());
  const Span spans[] = {span};
  const auto json = encodeExportRequest({}, spans)["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(json["attributes"][0]["value"]["doubleValue"], "NaN");
  EXPECT_EQ(json["attributes"][1]["value"]["doubleValue"], "Infinity");
  EXPECT_EQ(json["attributes"][2]["value"]["doubleValue"], "-Infinity");
}

TEST(OtlpJsonTest, InvalidUtf8IsReplacedNotFatal) {
  Span span = clientSpan();
  span.name = "GET /caf\xe9";
  span.setAttribute("url.path", "/\xff\xfe");
  const Span spans[] = {span};
  const std::string body = encodeExportRequestBody({}, spans);
  const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << body;
  const auto& s = parsed["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(s["name"], "GET /caf\xef\xbf\xbd");
  EXPECT_EQ(s["attributes"][0]["value"]["stringValue"], "/\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(OtlpJsonTest, ControlCharactersAreEscaped) {
  Span span = clientSpan();
  span.name = "a\"b\\c\nd";
  const Span spans[] = {span};
  const std::string body = encodeExportRequestBody({}, spans);
  EXPECT_NE(body.find(R"("name":"a\"b\\c\nd")"), std::string::npos) << body;
}

}  // namespace
}  // namespace switchyard::tracing
