#include "proxy/accesslog/format.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

namespace switchyard::accesslog {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

AccessLogEntry fullEntry() {
  AccessLogEntry e;
  e.time = common::SystemTime(milliseconds(1767225600123) + microseconds(456));
  e.correlation_id = "abc-123";
  e.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  e.method = "POST";
  e.path = "/api/v2/orders?id=7";
  e.route = "api";
  e.version = "v2";
  e.cluster = "modern";
  e.status = 201;
  e.request_bytes = 512;
  e.response_bytes = 2048;
  e.duration = microseconds(12345);
  e.upstream_duration = microseconds(10002);
  e.attempts = 2;
  e.fields.emplace_back("cache", std::string("miss"));
  e.fields.emplace_back("rate_limit", std::string("allowed"));
  e.client = "10.0.0.9:51234";
  e.user_agent = "curl/8.5.0";
  return e;
}

TEST(AccessLogFormatTest, EveryField) {
  EXPECT_EQ(formatAccessLogLine(fullEntry()),
            R"({"time":"2026-01-01T00:00:00.123Z","correlation_id":"abc-123",)"
            R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","method":"POST",)"
            R"("path":"/api/v2/orders?id=7","route":"api","version":"v2","cluster":"modern",)"
            R"("status":201,"request_bytes":512,"response_bytes":2048,"duration_ms":12.345,)"
            R"("upstream_duration_ms":10.002,"attempts":2,"retries":1,"cache":"miss",)"
            R"("rate_limit":"allowed","client":"10.0.0.9:51234","user_agent":"curl/8.5.0"})");
}

TEST(AccessLogFormatTest, EmptyStringsAndAbsentUpstreamAreOmitted) {
  AccessLogEntry e;
  e.time = common::SystemTime(milliseconds(1767225600000));
  e.method = "GET";
  e.path = "/nowhere";
  e.status = 404;
  e.duration = microseconds(80);
  EXPECT_EQ(formatAccessLogLine(e),
            R"({"time":"2026-01-01T00:00:00.000Z","method":"GET","path":"/nowhere",)"
            R"("status":404,"request_bytes":0,"response_bytes":0,"duration_ms":0.08,)"
            R"("attempts":0,"retries":0})");
}

TEST(AccessLogFormatTest, FilterFieldsKeepTheirTypesAndNeverReplaceTheLinesOwnKeys) {
  AccessLogEntry e;
  e.time = common::SystemTime(milliseconds(1767225600000));
  e.status = 200;
  e.fields.emplace_back("remaining", int64_t{41});
  e.fields.emplace_back("shadow", true);
  e.fields.emplace_back("status", std::string("forged"));  // the line's own key: skipped
  e.fields.emplace_back("remaining", int64_t{7});          // a repeat: the first one stays
  e.fields.emplace_back("client", std::string("forged"));  // a key that comes later: skipped
  e.client = "10.0.0.9:51234";
  EXPECT_EQ(formatAccessLogLine(e),
            R"({"time":"2026-01-01T00:00:00.000Z","status":200,"request_bytes":0,)"
            R"("response_bytes":0,"duration_ms":0.0,"attempts":0,"retries":0,"remaining":41,)"
            R"("shadow":true,"client":"10.0.0.9:51234"})");
}

TEST(AccessLogFormatTest, ZeroUpstreamDurationIsKept) {
  AccessLogEntry e = fullEntry();
  e.upstream_duration = microseconds(0);
  const nlohmann::json line = nlohmann::json::parse(formatAccessLogLine(e));
  EXPECT_EQ(line["upstream_duration_ms"], 0.0);
}

TEST(AccessLogFormatTest, SubMicrosecondPartsAreDropped) {
  AccessLogEntry e = fullEntry();
  e.duration = std::chrono::nanoseconds(1999);
  const nlohmann::json line = nlohmann::json::parse(formatAccessLogLine(e));
  EXPECT_EQ(line["duration_ms"], 0.001);
}

TEST(AccessLogFormatTest, HostileStringsStayOnOneValidLine) {
  AccessLogEntry e = fullEntry();
  e.path = "/a\"b\\c\nd\r\te\x01";
  e.user_agent = "bad\xff\xfeutf8 caf\xc3\xa9";
  const std::string line = formatAccessLogLine(e);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\r'), std::string::npos);
  EXPECT_NE(line.find(R"("path":"/a\"b\\c\nd\r\te\u0001")"), std::string::npos) << line;
  const nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << line;
  EXPECT_EQ(parsed["user_agent"], "bad\xef\xbf\xbd\xef\xbf\xbdutf8 caf\xc3\xa9");
}

TEST(AccessLogFormatTest, TimeIsUtcWithMillisecondsTruncated) {
  AccessLogEntry e;
  e.time = common::SystemTime(std::chrono::seconds(951782400) + microseconds(999999));
  const nlohmann::json line = nlohmann::json::parse(formatAccessLogLine(e));
  EXPECT_EQ(line["time"], "2000-02-29T00:00:00.999Z");
}

}  // namespace
}  // namespace switchyard::accesslog
