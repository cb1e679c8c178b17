// Strict HTTP/1.1 on the client side: requests the proxy must refuse with a local problem+json
// reply, after which it closes that connection and keeps serving everyone else.

#include <poll.h>

#include <thread>

#include "tests/integration/harness.h"

namespace switchyard::test::integration {
namespace {

using Clock = std::chrono::steady_clock;

class MalformedRequestTest : public ProxyTest {
 protected:
  // Sends `request` on a new connection while another keep-alive connection is open, and checks
  // the reply is a local `status` (one of `statuses`) problem, the connection is closed, nothing
  // reached the upstream, the other connection still works and a new one is served.
  void expectRejected(const std::string& request, std::vector<int> statuses,
                      bool check_upstream_untouched = true) {
    KeepAliveProbe probe(port());
    ASSERT_TRUE(probe.ok()) << "the keep-alive probe did not get its first response";
    const int64_t before = upstream().stats().requests;

    RawConnection conn;
    auto r = sendRaw(request, 5s, &conn);
    ASSERT_TRUE(r.has_value());
    bool status_ok = false;
    for (int s : statuses) status_ok |= r->status == s;
    EXPECT_TRUE(status_ok) << "unexpected status " << r->status << "\n" << r->raw_head << r->body;
    EXPECT_TRUE(isProblem(r, r->status));
    EXPECT_EQ(r->header("connection"), std::optional<std::string>("close")) << r->raw_head;
    EXPECT_TRUE(conn.closedByPeer(2s)) << "the proxy kept a connection with a framing error open";

    if (check_upstream_untouched) {
      EXPECT_EQ(upstream().stats().requests, before) << "the bad request reached the upstream";
    }
    EXPECT_TRUE(probe.stillWorks());
    expectProxyServes();
  }
};

// 1.
TEST_F(MalformedRequestTest, ContentLengthAndTransferEncodingIs400) {
  startProxy();
  expectRejected(
      rawHead("POST", "/echo", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") + "0\r\n\r\n",
      {400});
}

TEST_F(MalformedRequestTest, TransferEncodingThenContentLengthIs400) {
  startProxy();
  expectRejected(
      rawHead("POST", "/echo", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n") + "0\r\n\r\n",
      {400});
}

// 2.
TEST_F(MalformedRequestTest, TwoDifferentContentLengthsIs400) {
  startProxy();
  expectRejected(rawHead("POST", "/echo", "Content-Length: 5\r\nContent-Length: 6\r\n") + "hello!",
                 {400});
}

TEST_F(MalformedRequestTest, InvalidContentLengthIs400) {
  startProxy();
  expectRejected(rawHead("POST", "/echo", "Content-Length: 5x\r\n") + "hello", {400});
}

// 3.
TEST_F(MalformedRequestTest, TransferEncodingGzipIsRejected) {
  startProxy();
  expectRejected(rawHead("POST", "/echo", "Transfer-Encoding: gzip\r\n"), {400, 501});
}

TEST_F(MalformedRequestTest, TransferEncodingChunkedThenGzipIsRejected) {
  startProxy();
  expectRejected(rawHead("POST", "/echo", "Transfer-Encoding: chunked, gzip\r\n") + "0\r\n\r\n",
                 {400, 501});
}

TEST_F(MalformedRequestTest, TransferEncodingGzipThenChunkedIs501) {
  startProxy();
  expectRejected(rawHead("POST", "/echo", "Transfer-Encoding: gzip, chunked\r\n") + "0\r\n\r\n",
                 {501});
}

TEST_F(MalformedRequestTest, TransferEncodingGzipThenChunkedInTwoHeadersIs501) {
  startProxy();
  expectRejected(
      rawHead("POST", "/echo", "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n") +
          "0\r\n\r\n",
      {501});
}

// 4.
TEST_F(MalformedRequestTest, InvalidByteInHeaderNameIs400) {
  startProxy();
  expectRejected(rawHead("GET", "/x", "X-Bad@Name: 1\r\n"), {400});
}

TEST_F(MalformedRequestTest, NonAsciiByteInHeaderNameIs400) {
  startProxy();
  expectRejected(rawHead("GET", "/x", "X-Bad\xc3\xa9: 1\r\n"), {400});
}

TEST_F(MalformedRequestTest, ControlByteInHeaderValueIs400) {
  startProxy();
  expectRejected(rawHead("GET", "/x", std::string("X-Value: a\x01") + "b\r\n"), {400});
}

TEST_F(MalformedRequestTest, DeleteByteInHeaderValueIs400) {
  startProxy();
  expectRejected(rawHead("GET", "/x",
                         "X-Value: a\x7f"
                         "b\r\n"),
                 {400});
}

TEST_F(MalformedRequestTest, SpaceBeforeColonIs400) {
  startProxy();
  expectRejected(rawHead("GET", "/x", "X-Spaced : 1\r\n"), {400});
}

TEST_F(MalformedRequestTest, ObsFoldIs400) {
  startProxy();
  expectRejected(rawHead("GET", "/x", "X-Folded: first\r\n second\r\n"), {400});
}

TEST_F(MalformedRequestTest, ObsFoldWithTabIs400) {
  startProxy();
  expectRejected(rawHead("GET", "/x", "X-Folded: first\r\n\tsecond\r\nX-After: 1\r\n"), {400});
}

// 5.
TEST_F(MalformedRequestTest, OversizedHeadIs431) {
  ProxyConfig config = defaultConfig();
  config.listener_extra = "    max_request_headers_bytes: 4KiB\n";
  startProxy(config);
  // Just under the limit passes.
  Response small = httpGet(port(), "/small", {{"X-Fill", std::string(3000, 'f')}});
  EXPECT_EQ(small.status, 200) << small.reason;
  expectRejected(rawHead("GET", "/big", "X-Big: " + std::string(6000, 'b') + "\r\n"), {431});
}

TEST_F(MalformedRequestTest, ManyHeadersOverTheLimitIs431) {
  ProxyConfig config = defaultConfig();
  config.listener_extra = "    max_request_headers_bytes: 4KiB\n";
  startProxy(config);
  std::string lines;
  for (int i = 0; i < 120; ++i) {
    lines += "X-Header-" + std::to_string(i) + ": " + std::string(40, 'v') + "\r\n";
  }
  expectRejected(rawHead("GET", "/many", lines), {431});
}

TEST_F(MalformedRequestTest, OversizedRequestLineIs431) {
  ProxyConfig config = defaultConfig();
  config.listener_extra = "    max_request_headers_bytes: 4KiB\n";
  startProxy(config);
  expectRejected(rawHead("GET", "/" + std::string(6000, 'p'), ""), {431, 414});
}

// 6.
TEST_F(MalformedRequestTest, DeclaredBodyOverTheLimitIs413) {
  ProxyConfig config = defaultConfig();
  config.listener_extra = "    max_request_body_bytes: 1KiB\n";
  startProxy(config);
  // Only the head: the proxy must answer from the declared length without waiting for the body.
  expectRejected(rawHead("POST", "/echo", "Content-Length: 2048\r\n"), {413});
}

TEST_F(MalformedRequestTest, ChunkedBodyGrowingOverTheLimitIs413) {
  ProxyConfig config = defaultConfig();
  config.listener_extra = "    max_request_body_bytes: 1KiB\n";
  startProxy(config);
  // The head may already have gone upstream when the body crosses the limit.
  expectRejected(rawHead("POST", "/echo", "Transfer-Encoding: chunked\r\n") +
                     chunkedBody(std::string(1536, 'z'), 512),
                 {413}, /*check_upstream_untouched=*/false);
}

TEST_F(MalformedRequestTest, BodiesWithinTheLimitAreForwarded) {
  ProxyConfig config = defaultConfig();
  config.listener_extra = "    max_request_body_bytes: 1KiB\n";
  startProxy(config);
  Response ok = httpRequest(port(), "POST", "/echo", {}, std::string(1024, 'x'), 3s);
  EXPECT_EQ(ok.status, 200) << ok.reason;
  EXPECT_EQ(ok.body, std::string(1024, 'x'));
  Response chunked = httpRequest(port(), "POST", "/echo", {{"Transfer-Encoding", "chunked"}},
                                 chunkedBody(std::string(1000, 'y'), 300), 3s);
  EXPECT_EQ(chunked.status, 200) << chunked.reason;
  EXPECT_EQ(chunked.body, std::string(1000, 'y'));
}

// 7.
TEST_F(MalformedRequestTest, IncompleteHeadGets408AfterHeadersTimeout) {
  ProxyConfig config = defaultConfig();
  config.listener_extra = "    request_headers_timeout: 300ms\n";
  startProxy(config);
  KeepAliveProbe probe(port());
  ASSERT_TRUE(probe.ok());

  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  const auto start = Clock::now();
  ASSERT_TRUE(conn.send("GET /never-finished HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Partial: "));
  auto r = conn.readResponse(3s);
  const auto elapsed = Clock::now() - start;
  EXPECT_TRUE(isProblem(r, 408)) << conn.error();
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 2s);
  EXPECT_TRUE(conn.closedByPeer(2s));
  EXPECT_TRUE(probe.stillWorks());
  expectProxyServes();
}

TEST_F(MalformedRequestTest, SlowlorisTrickleIsCutAtHeadersTimeout) {
  ProxyConfig config = defaultConfig();
  config.listener_extra = "    request_headers_timeout: 300ms\n";
  startProxy(config);

  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  const auto start = Clock::now();
  ASSERT_TRUE(conn.send("GET /trickle HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  // One header line every 100 ms (at most 20 of them) until the proxy answers.
  for (int i = 0; i < 20; ++i) {
    pollfd p{conn.fd(), POLLIN, 0};
    if (::poll(&p, 1, 100) != 0) break;
    if (!conn.send("X-Trickle-" + std::to_string(i) + ": v\r\n")) break;
  }
  auto r = conn.readResponse(3s);
  const auto elapsed = Clock::now() - start;
  EXPECT_TRUE(isProblem(r, 408)) << conn.error();
  EXPECT_LT(elapsed, 1500ms) << "the headers timeout was restarted by each byte";
  EXPECT_TRUE(conn.closedByPeer(2s));
  expectProxyServes();
}

TEST_F(MalformedRequestTest, SilentConnectionIsClosedAfterHeadersTimeout) {
  ProxyConfig config = defaultConfig();
  config.listener_extra = "    request_headers_timeout: 300ms\n";
  startProxy(config);
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  const auto start = Clock::now();
  EXPECT_TRUE(conn.closedByPeer(3s));
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 2s);
  EXPECT_EQ(conn.buffered(), "") << "nothing was asked, so nothing should be answered";
  expectProxyServes();
}

TEST_F(MalformedRequestTest, IdleKeepAliveConnectionIsClosedAfterIdleTimeout) {
  ProxyConfig config = defaultConfig();
  config.listener_extra = "    idle_timeout: 400ms\n";
  startProxy(config);
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  ASSERT_TRUE(conn.send(buildRequest("GET", "/before-idle")));
  auto r = conn.readResponse();
  ASSERT_TRUE(r.has_value()) << conn.error();
  EXPECT_EQ(r->status, 200);
  const auto start = Clock::now();
  EXPECT_TRUE(conn.closedByPeer(3s));
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 2s);
  EXPECT_EQ(conn.buffered(), "");
  expectProxyServes();
}

}  // namespace
}  // namespace switchyard::test::integration
