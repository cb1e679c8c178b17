#include "proxy/http/json_post.h"

#include <gtest/gtest.h>

#include "tests/support/http_sink.h"

namespace switchyard::http {
namespace {

using std::chrono::milliseconds;

HttpUrl urlOf(const std::string& text) {
  HttpUrl url;
  std::string error;
  EXPECT_TRUE(parseHttpUrl(text, url, error)) << error;
  return url;
}

// Socket timeouts are real time: the client is given the real clock, and short timeouts.
class HttpPostTest : public ::testing::Test {
 protected:
  common::RealTimeSource time_;
  test::HttpSink sink_;
};

TEST_F(HttpPostTest, PostsJsonAndReadsTheStatus) {
  sink_.setStatus(202, "{\"ok\":true}");
  HttpPostResult r =
      httpPostJson(urlOf(sink_.url("/deploy/rollback?x=1")), {{"Authorization", "Bearer t"}},
                   "{\"a\":1}", milliseconds(2000), time_);
  EXPECT_EQ(r.status, 202);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.body, "{\"ok\":true}");
  ASSERT_EQ(sink_.requestCount(), 1u);
  const auto request = sink_.requests()[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/deploy/rollback?x=1");
  EXPECT_EQ(request.headers.at("content-type"), "application/json");
  EXPECT_EQ(request.headers.at("authorization"), "Bearer t");
  EXPECT_EQ(request.headers.at("host"), "127.0.0.1:" + std::to_string(sink_.port()));
  EXPECT_EQ(request.body, "{\"a\":1}");
}

TEST_F(HttpPostTest, ErrorStatusIsReportedWithTheBody) {
  sink_.setStatus(503, "busy");
  HttpPostResult r = httpPostJson(urlOf(sink_.url()), {}, "{}", milliseconds(2000), time_);
  EXPECT_EQ(r.status, 503);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.body, "busy");
}

TEST_F(HttpPostTest, AServerThatNeverAnswersTimesOut) {
  sink_.setHang(true);
  HttpPostResult r = httpPostJson(urlOf(sink_.url()), {}, "{}", milliseconds(100), time_);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.error, "waiting for the response: timed out");
  EXPECT_EQ(sink_.requestCount(), 1u);
}

TEST_F(HttpPostTest, GetsAWholeBodyWithinItsLimit) {
  const std::string body(10000, 'k');
  sink_.setStatus(200, body);
  HttpPostResult r = httpGet(urlOf(sink_.url("/jwks.json")), 20000, milliseconds(2000), time_);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.body, body);
  ASSERT_EQ(sink_.requestCount(), 1u);
  EXPECT_EQ(sink_.requests()[0].method, "GET");
  EXPECT_EQ(sink_.requests()[0].path, "/jwks.json");
  EXPECT_EQ(sink_.requests()[0].headers.count("content-length"), 0u);
  // Over the limit: what fits, and not complete.
  r = httpGet(urlOf(sink_.url("/jwks.json")), 4000, milliseconds(2000), time_);
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(r.body.size(), 4000u);
}

TEST_F(HttpPostTest, ConnectionRefused) {
  // A port that was just free: bind one, note it, close it.
  uint16_t port = 0;
  {
    test::HttpSink closed;
    port = closed.port();
  }
  HttpPostResult r = httpPostJson(urlOf("http://127.0.0.1:" + std::to_string(port) + "/"), {}, "{}",
                                  milliseconds(1000), time_);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.error, "connect: Connection refused");
}

}  // namespace
}  // namespace switchyard::http
