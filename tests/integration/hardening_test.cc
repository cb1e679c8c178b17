// What the proxy does with clients that keep sending after it has answered: lingering close, so
// the client reads the error instead of a reset. And header names with underscores.

#include <poll.h>

#include <string>
#include <thread>

#include "tests/integration/harness.h"

namespace switchyard::test::integration {
namespace {

class HardeningTest : public ProxyTest {};

// Sends `first`, waits until the proxy's answer has arrived (without reading it), sends `rest`
// as a client that writes its whole request before reading would, then reads the answer. A proxy
// that has closed its socket answers `rest` with a reset: the client's write fails, and a client
// like curl gives up there without reading the answer (and may lose it: a reset can discard what
// was not read yet). One that lingers reads and drops `rest`, so the write succeeds and the
// answer is there to read. nullopt (with why in `error`) unless both happen.
std::optional<Response> answerWhileStillSending(uint16_t port, const std::string& first,
                                                const std::string& rest, std::string& error) {
  RawConnection conn;
  if (!conn.connect(port) || !conn.send(first)) {
    error = "cannot send the first part";
    return std::nullopt;
  }
  pollfd p{conn.fd(), POLLIN, 0};
  if (poll(&p, 1, 5000) != 1) {
    error = "no answer to the first part";
    return std::nullopt;
  }
  if (!conn.send(rest) || conn.wasReset()) {
    error = "the proxy reset the connection while the client was still sending";
    return std::nullopt;
  }
  std::optional<Response> r = conn.readResponse(std::chrono::seconds(5));
  if (!r) error = "no response: " + conn.error();
  return r;
}

TEST_F(HardeningTest, AClientSendingA200KBHeadReadsThe431) {
  startProxy();
  std::string head = "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  while (head.size() < 200 * 1024) head += "X-Filler: " + std::string(990, 'f') + "\r\n";
  head += "\r\n";
  // The default limit is 60 KiB: past 70 KiB the proxy has answered.
  std::string error;
  const std::optional<Response> r =
      answerWhileStillSending(port(), head.substr(0, 70 * 1024), head.substr(70 * 1024), error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->status, 431);
  expectProxyServes();
}

TEST_F(HardeningTest, AClientSendingATooLargeBodyReadsThe413) {
  ProxyConfig c = defaultConfig();
  c.listener_extra = "    max_request_body_bytes: 64KiB\n";
  startProxy(c);
  const std::string body(2 * 1024 * 1024, 'b');
  // A declared length over the limit: answered on the head.
  const std::string request = buildRequest("POST", "/echo", {}, body);
  const size_t head_end = request.find("\r\n\r\n") + 4;
  std::string error;
  const std::optional<Response> r = answerWhileStillSending(
      port(), request.substr(0, head_end + 1024), request.substr(head_end + 1024), error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->status, 413);
  // Chunked: the limit is found while the body arrives.
  const std::string chunked_request =
      buildRequest("POST", "/echo", {{"Transfer-Encoding", "chunked"}}, chunkedBody(body, 8192));
  const std::optional<Response> chunked = answerWhileStillSending(
      port(), chunked_request.substr(0, 128 * 1024), chunked_request.substr(128 * 1024), error);
  ASSERT_TRUE(chunked) << error;
  EXPECT_EQ(chunked->status, 413);
  expectProxyServes();
}

TEST_F(HardeningTest, ALingeringConnectionIsClosedAfterItsTimeout) {
  ProxyConfig c = defaultConfig();
  c.listener_extra = "    lingering_timeout: 200ms\n";
  startProxy(c);
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  // Over the head limit, and the client then neither sends nor closes.
  std::string head = "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  while (head.size() < 70 * 1024) head += "X-Filler: " + std::string(990, 'f') + "\r\n";
  ASSERT_TRUE(conn.send(head));
  const std::optional<Response> r = conn.readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  // The answer came with FIN (write side shut down); the socket itself goes after the timeout.
  EXPECT_TRUE(conn.closedByPeer(std::chrono::seconds(5)));
  bool gone = false;
  for (int i = 0; i < 250 && !gone; ++i) {  // another process: poll, at most 5 s
    gone =
        httpGet(adminPort(), "/metrics")
            .body.find("switchyard_active_connections{listener=\"public\"} 0") != std::string::npos;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone) << "the lingering connection is still open";
}

// The test upstream echoes the request's headers as JSON.
TEST_F(HardeningTest, HeaderNamesWithUnderscoresAreDroppedByDefault) {
  startProxy();
  const Response r =
      httpGet(port(), "/headers",
              {{"Transfer_Encoding", "chunked"}, {"X_User_Id", "admin"}, {"X-User-Id", "u1"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_FALSE(upstreamHeader(r.body, "transfer_encoding"));
  EXPECT_FALSE(upstreamHeader(r.body, "x_user_id"));
  EXPECT_EQ(upstreamHeader(r.body, "x-user-id").value_or(""), "u1");
  const Response metrics = httpGet(adminPort(), "/metrics");
  EXPECT_NE(metrics.body.find("switchyard_downstream_headers_with_underscores_total{action="
                              "\"dropped\",listener=\"public\"} 1"),
            std::string::npos)
      << metrics.body.substr(0, 2000);
}

TEST_F(HardeningTest, HeaderNamesWithUnderscoresCanBeRefused) {
  ProxyConfig c = defaultConfig();
  c.listener_extra = "    headers_with_underscores: reject\n";
  startProxy(c);
  const Response r = httpGet(port(), "/headers", {{"X_User_Id", "admin"}});
  EXPECT_TRUE(isProblem(r, 400));
  EXPECT_EQ(upstream().stats().requests, 0);
  // Names without one pass.
  EXPECT_EQ(httpGet(port(), "/headers", {{"X-User-Id", "u1"}}).status, 200);
  const Response metrics = httpGet(adminPort(), "/metrics");
  EXPECT_NE(metrics.body.find("switchyard_downstream_headers_with_underscores_total{action="
                              "\"rejected\",listener=\"public\"} 1"),
            std::string::npos);
}

TEST_F(HardeningTest, HeaderNamesWithUnderscoresCanBeAllowed) {
  ProxyConfig c = defaultConfig();
  c.listener_extra = "    headers_with_underscores: allow\n";
  startProxy(c);
  const Response r = httpGet(port(), "/headers", {{"X_Legacy_Flag", "on"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(upstreamHeader(r.body, "x_legacy_flag").value_or(""), "on");
}

}  // namespace
}  // namespace switchyard::test::integration
