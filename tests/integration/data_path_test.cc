// The normal data path through the real proxy: keep-alive, pipelining, bodies in every framing,
// HEAD / 204 / 304, Expect: 100-continue, hop-by-hop headers, X-Forwarded-*, Connection: close,
// correlation ids, backpressure toward a slow reader.

#include <poll.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "tests/integration/harness.h"

namespace switchyard::test::integration {
namespace {

using Clock = std::chrono::steady_clock;

class DataPathTest : public ProxyTest {};

// Generous for loopback; short so a request body that never arrives fails fast.
constexpr std::chrono::milliseconds BodyTimeout = 3s;

bool isUuidV4(const std::string& s) {
  static const std::regex uuid(
      "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  return std::regex_match(s, uuid);
}

TEST_F(DataPathTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  startProxy();
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  for (int i = 0; i < 5; ++i) {
    const std::string path = "/keepalive/" + std::to_string(i);
    ASSERT_TRUE(conn.send(buildRequest("GET", path))) << conn.error();
    auto r = conn.readResponse();
    ASSERT_TRUE(r.has_value()) << "request " << i << ": " << conn.error();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(jsonString(r->body, "path"), path);
    EXPECT_NE(r->header("connection"), std::optional<std::string>("close"));
  }
}

TEST_F(DataPathTest, KeepAliveWithRequestBodies) {
  startProxy();
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  for (int i = 0; i < 3; ++i) {
    const std::string body = "posted body " + std::to_string(i);
    ASSERT_TRUE(conn.send(buildRequest("POST", "/echo", {}, body)));
    auto r = conn.readResponse(BodyTimeout);
    ASSERT_TRUE(r.has_value()) << "POST " << i << ": " << conn.error();
    EXPECT_EQ(r->body, body);
    ASSERT_TRUE(conn.send(buildRequest("GET", "/between/" + std::to_string(i))));
    r = conn.readResponse(BodyTimeout);
    ASSERT_TRUE(r.has_value()) << "GET " << i << ": " << conn.error();
    EXPECT_EQ(jsonString(r->body, "path"), "/between/" + std::to_string(i));
  }
}

TEST_F(DataPathTest, PipelinedRequestsAreAnsweredInOrder) {
  startProxy();
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  std::string batch;
  for (int i = 0; i < 3; ++i) batch += buildRequest("GET", "/pipelined/" + std::to_string(i));
  ASSERT_TRUE(conn.send(batch));
  for (int i = 0; i < 3; ++i) {
    auto r = conn.readResponse();
    ASSERT_TRUE(r.has_value()) << "response " << i << ": " << conn.error();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(jsonString(r->body, "path"), "/pipelined/" + std::to_string(i));
  }
  // The connection is still in sync afterwards.
  ASSERT_TRUE(conn.send(buildRequest("GET", "/after-pipeline")));
  auto r = conn.readResponse();
  ASSERT_TRUE(r.has_value()) << conn.error();
  EXPECT_EQ(jsonString(r->body, "path"), "/after-pipeline");
}

TEST_F(DataPathTest, PipelinedRequestsWithBodiesAndSlowUpstream) {
  startProxy();
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  std::string batch = buildRequest("GET", "/delay/100") +
                      buildRequest("POST", "/echo", {}, "second") +
                      buildRequest("POST", "/echo", {{"Transfer-Encoding", "chunked"}},
                                   chunkedBody("third-body", 4));
  ASSERT_TRUE(conn.send(batch));
  auto first = conn.readResponse(BodyTimeout);
  ASSERT_TRUE(first.has_value()) << conn.error();
  EXPECT_EQ(jsonString(first->body, "path"), "/delay/100");
  auto second = conn.readResponse(BodyTimeout);
  ASSERT_TRUE(second.has_value()) << conn.error();
  EXPECT_EQ(second->body, "second");
  auto third = conn.readResponse(BodyTimeout);
  ASSERT_TRUE(third.has_value()) << conn.error();
  EXPECT_EQ(third->body, "third-body");
}

TEST_F(DataPathTest, ChunkedRequestBodyIsForwarded) {
  startProxy();
  const std::string body = "hello, chunked world; " + upstreamPattern(5000);
  Response r = httpRequest(port(), "POST", "/echo",
                           {{"Transfer-Encoding", "chunked"}, {"Content-Type", "text/x-test"}},
                           chunkedBody(body, 700), BodyTimeout);
  EXPECT_EQ(r.status, 200) << r.reason;
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.header("content-type"), std::optional<std::string>("text/x-test"));
}

TEST_F(DataPathTest, ChunkedRequestBodyWithExtensionsAndTrailers) {
  startProxy();
  std::string wire = "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  Response r = httpRequest(port(), "POST", "/echo", {{"Transfer-Encoding", "chunked"}}, wire);
  EXPECT_EQ(r.status, 200) << r.reason;
  EXPECT_EQ(r.body, "hello world");
  expectProxyServes();
}

TEST_F(DataPathTest, ContentLengthBodyIsForwarded) {
  startProxy();
  Response r =
      httpRequest(port(), "POST", "/echo", {{"Content-Type", "application/json"}}, R"({"a":1})");
  EXPECT_EQ(r.status, 200) << r.reason;
  EXPECT_EQ(r.body, R"({"a":1})");
  // The upstream saw the length.
  Response described =
      httpRequest(port(), "PUT", "/describe", {}, std::string(321, 'q'), BodyTimeout);
  auto json = nlohmann::json::parse(described.body, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << described.body;
  EXPECT_EQ(json["method"], "PUT");
  EXPECT_EQ(json["body_bytes"], 321);
}

TEST_F(DataPathTest, OneMebibyteBodyIsEchoedIntact) {
  startProxy();
  std::string body = upstreamPattern(1024 * 1024);
  body[12345] = 'X';  // not just the pattern
  Response r = httpRequest(port(), "POST", "/echo", {}, body, BodyTimeout);
  ASSERT_EQ(r.status, 200) << r.reason;
  EXPECT_EQ(r.body.size(), body.size());
  EXPECT_TRUE(r.body == body) << "the echoed body differs";

  Response chunked = httpRequest(port(), "POST", "/echo", {{"Transfer-Encoding", "chunked"}},
                                 chunkedBody(body, 64 * 1024 + 3), BodyTimeout);
  ASSERT_EQ(chunked.status, 200) << chunked.reason;
  EXPECT_EQ(chunked.body.size(), body.size());
  EXPECT_TRUE(chunked.body == body) << "the echoed chunked body differs";
}

TEST_F(DataPathTest, ChunkedUpstreamResponseToHttp11Client) {
  startProxy();
  for (size_t n : {size_t{1}, size_t{1000}, size_t{300000}}) {
    Response r = httpGet(port(), "/chunked/" + std::to_string(n));
    ASSERT_EQ(r.status, 200) << r.reason;
    EXPECT_TRUE(r.chunked) << r.raw_head;
    EXPECT_EQ(r.body.size(), n);
    EXPECT_TRUE(r.body == upstreamPattern(n));
  }
}

TEST_F(DataPathTest, ChunkedUpstreamResponseToHttp10ClientIsCloseDelimited) {
  startProxy();
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  ASSERT_TRUE(conn.send("GET /chunked/100000 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"));
  auto r = conn.readResponse(5s);
  ASSERT_TRUE(r.has_value()) << conn.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(r->chunked) << "chunked sent to an HTTP/1.0 client\n" << r->raw_head;
  EXPECT_FALSE(r->header("transfer-encoding").has_value()) << r->raw_head;
  EXPECT_EQ(r->body.size(), 100000u);
  EXPECT_TRUE(r->body == upstreamPattern(100000));
  EXPECT_TRUE(conn.closedByPeer(1s));
}

TEST_F(DataPathTest, Http10KeepAliveWithContentLength) {
  startProxy();
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  ASSERT_TRUE(
      conn.send("GET /bytes/10 HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"));
  auto r = conn.readResponse();
  ASSERT_TRUE(r.has_value()) << conn.error();
  EXPECT_EQ(r->body, upstreamPattern(10));
  ASSERT_TRUE(
      conn.send("GET /bytes/20 HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"));
  r = conn.readResponse();
  ASSERT_TRUE(r.has_value()) << conn.error();
  EXPECT_EQ(r->body, upstreamPattern(20));
}

TEST_F(DataPathTest, CloseDelimitedUpstreamResponseArrivesIntact) {
  startProxy();
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  ASSERT_TRUE(conn.send(buildRequest("GET", "/close-delimited/200000")));
  auto r = conn.readResponse(5s);
  ASSERT_TRUE(r.has_value()) << conn.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.size(), 200000u);
  EXPECT_TRUE(r->body == upstreamPattern(200000));
  // Framed for the client (chunked), so the client connection can stay open.
  if (r->chunked) {
    ASSERT_TRUE(conn.send(buildRequest("GET", "/after-close-delimited")));
    auto next = conn.readResponse();
    ASSERT_TRUE(next.has_value()) << conn.error();
    EXPECT_EQ(jsonString(next->body, "path"), "/after-close-delimited");
  }
  expectProxyServes();
}

TEST_F(DataPathTest, ContentLengthUpstreamResponseArrivesIntact) {
  startProxy();
  Response r = httpGet(port(), "/bytes/777777", {}, 10s);
  ASSERT_EQ(r.status, 200) << r.reason;
  EXPECT_EQ(r.header("content-length"), std::optional<std::string>("777777"));
  EXPECT_FALSE(r.chunked);
  EXPECT_TRUE(r.body == upstreamPattern(777777));
}

TEST_F(DataPathTest, HeadHasNoBodyAndConnectionStaysUsable) {
  startProxy();
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  for (const char* path : {"/bytes/1000", "/chunked/1000", "/anything"}) {
    ASSERT_TRUE(conn.send(buildRequest("HEAD", path)));
    auto head = conn.readResponse(5s, /*head_request=*/true);
    ASSERT_TRUE(head.has_value()) << path << ": " << conn.error();
    EXPECT_EQ(head->status, 200) << path;
    EXPECT_EQ(head->body, "");
    ASSERT_TRUE(conn.send(buildRequest("GET", "/after-head")));
    auto next = conn.readResponse();
    ASSERT_TRUE(next.has_value()) << "after HEAD " << path << ": " << conn.error();
    EXPECT_EQ(next->status, 200);
    EXPECT_EQ(jsonString(next->body, "path"), "/after-head")
        << "a HEAD response carried a body: " << next->raw_head << next->body;
  }
  ASSERT_TRUE(conn.send(buildRequest("HEAD", "/bytes/1000")));
  auto head = conn.readResponse(5s, true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->header("content-length"), std::optional<std::string>("1000"));
  // Nothing else arrives.
  EXPECT_EQ(conn.readAll(300ms), "");
}

TEST_F(DataPathTest, NoBodyFor204And304) {
  startProxy();
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  for (int status : {204, 304}) {
    ASSERT_TRUE(conn.send(buildRequest("GET", "/status/" + std::to_string(status))));
    auto r = conn.readResponse();
    ASSERT_TRUE(r.has_value()) << conn.error();
    EXPECT_EQ(r->status, status);
    EXPECT_FALSE(r->header("transfer-encoding").has_value()) << r->raw_head;
    EXPECT_EQ(conn.readAll(200ms), "") << "bytes after a " << status << " response";
    ASSERT_TRUE(conn.send(buildRequest("GET", "/after-" + std::to_string(status))));
    auto next = conn.readResponse();
    ASSERT_TRUE(next.has_value()) << conn.error();
    EXPECT_EQ(jsonString(next->body, "path"), "/after-" + std::to_string(status));
  }
}

TEST_F(DataPathTest, ExpectContinue) {
  startProxy();
  const std::string body = "body after continue";
  for (const char* path : {"/echo", "/describe"}) {
    RawConnection conn;
    ASSERT_TRUE(conn.connect(port()));
    ASSERT_TRUE(conn.send(rawHead(
        "POST", path,
        "Content-Length: " + std::to_string(body.size()) + "\r\nExpect: 100-continue\r\n")));
    auto interim = conn.readResponse(3s);
    ASSERT_TRUE(interim.has_value()) << path << ": no 100 Continue: " << conn.error();
    EXPECT_EQ(interim->status, 100);
    EXPECT_EQ(interim->raw_head.rfind("HTTP/1.1 100 Continue\r\n", 0), 0u) << interim->raw_head;
    ASSERT_TRUE(conn.send(body));
    auto r = conn.readResponse(BodyTimeout);
    ASSERT_TRUE(r.has_value()) << conn.error();
    EXPECT_EQ(r->status, 200);
    if (std::string(path) == "/echo") {
      EXPECT_EQ(r->body, body);
    } else {
      EXPECT_FALSE(upstreamHeader(r->body, "expect").has_value())
          << "the upstream saw Expect: " << r->body;
      auto json = nlohmann::json::parse(r->body, nullptr, false);
      ASSERT_FALSE(json.is_discarded()) << r->body;
      EXPECT_EQ(json["body_bytes"], body.size());
    }
  }
}

TEST_F(DataPathTest, HopByHopHeadersAreNotForwarded) {
  startProxy();
  Response r = httpGet(port(), "/headers",
                       {{"Connection", "keep-alive, X-Secret"},
                        {"X-Secret", "do-not-forward"},
                        {"Keep-Alive", "timeout=5"},
                        {"TE", "trailers"},
                        {"Upgrade", "websocket"},
                        {"Proxy-Connection", "keep-alive"},
                        {"X-Normal", "forward-me"}});
  ASSERT_EQ(r.status, 200) << r.reason;
  for (const char* name : {"x-secret", "keep-alive", "te", "upgrade", "proxy-connection"}) {
    EXPECT_FALSE(upstreamHeader(r.body, name).has_value()) << name << " reached the upstream";
  }
  auto connection = upstreamHeader(r.body, "connection");
  if (connection) {
    EXPECT_EQ(connection->find("X-Secret"), std::string::npos) << *connection;
    EXPECT_EQ(connection->find("x-secret"), std::string::npos) << *connection;
  }
  EXPECT_EQ(upstreamHeader(r.body, "x-normal"), std::optional<std::string>("forward-me"));
  // The upstream's own hop-by-hop headers are not passed back either.
  EXPECT_FALSE(r.header("keep-alive").has_value());
}

TEST_F(DataPathTest, ForwardedHeadersAreAdded) {
  startProxy();
  Response r = httpGet(port(), "/headers");
  ASSERT_EQ(r.status, 200) << r.reason;
  EXPECT_EQ(upstreamHeader(r.body, "x-forwarded-for"), std::optional<std::string>("127.0.0.1"));
  EXPECT_EQ(upstreamHeader(r.body, "x-forwarded-proto"), std::optional<std::string>("http"));

  Response appended = httpGet(port(), "/headers",
                              {{"X-Forwarded-For", "203.0.113.7"}, {"X-Forwarded-Proto", "https"}});
  ASSERT_EQ(appended.status, 200) << appended.reason;
  EXPECT_EQ(upstreamHeader(appended.body, "x-forwarded-for"),
            std::optional<std::string>("203.0.113.7, 127.0.0.1"));
  // The proto is the listener's, not the client's claim.
  EXPECT_EQ(upstreamHeader(appended.body, "x-forwarded-proto"), std::optional<std::string>("http"));
}

TEST_F(DataPathTest, ForwardedProtoFollowsListenerConfig) {
  ProxyConfig config = defaultConfig();
  config.listener_extra = "    forwarded_proto: https\n";
  startProxy(config);
  Response r = httpGet(port(), "/headers");
  ASSERT_EQ(r.status, 200) << r.reason;
  EXPECT_EQ(upstreamHeader(r.body, "x-forwarded-proto"), std::optional<std::string>("https"));
}

TEST_F(DataPathTest, ClientConnectionCloseIsHonoured) {
  startProxy();
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  ASSERT_TRUE(conn.send(buildRequest("GET", "/closing", {{"Connection", "close"}})));
  auto r = conn.readResponse();
  ASSERT_TRUE(r.has_value()) << conn.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(jsonString(r->body, "path"), "/closing");
  EXPECT_EQ(r->header("connection"), std::optional<std::string>("close")) << r->raw_head;
  EXPECT_TRUE(conn.closedByPeer(2s));
  // The upstream did not see the client's Connection: close.
  Response described = httpGet(port(), "/describe", {{"Connection", "close"}});
  auto connection = upstreamHeader(described.body, "connection");
  EXPECT_NE(connection, std::optional<std::string>("close"));
  expectProxyServes();
}

TEST_F(DataPathTest, WellFormedCorrelationIdIsForwardedAndEchoed) {
  startProxy();
  Response r = httpGet(port(), "/headers", {{"X-Correlation-ID", "req-42.abc_DEF:1"}});
  ASSERT_EQ(r.status, 200) << r.reason;
  EXPECT_EQ(upstreamHeader(r.body, "x-correlation-id"),
            std::optional<std::string>("req-42.abc_DEF:1"));
  EXPECT_EQ(r.header("x-correlation-id"), std::optional<std::string>("req-42.abc_DEF:1"));

  // X-Request-ID is accepted too.
  Response alt = httpGet(port(), "/headers", {{"X-Request-ID", "from-request-id"}});
  EXPECT_EQ(alt.header("x-correlation-id"), std::optional<std::string>("from-request-id"));
  EXPECT_EQ(upstreamHeader(alt.body, "x-correlation-id"),
            std::optional<std::string>("from-request-id"));
}

TEST_F(DataPathTest, MalformedCorrelationIdIsReplaced) {
  startProxy();
  for (const std::string& bad :
       {std::string("has spaces in it"), std::string("semi;colon"), std::string(200, 'a')}) {
    Response r = httpGet(port(), "/headers", {{"X-Correlation-ID", bad}});
    ASSERT_EQ(r.status, 200) << r.reason;
    auto echoed = r.header("x-correlation-id");
    ASSERT_TRUE(echoed.has_value()) << r.raw_head;
    EXPECT_NE(*echoed, bad);
    EXPECT_TRUE(isUuidV4(*echoed)) << *echoed;
    EXPECT_EQ(upstreamHeader(r.body, "x-correlation-id"), echoed);
  }
}

TEST_F(DataPathTest, MissingCorrelationIdIsGenerated) {
  startProxy();
  Response a = httpGet(port(), "/headers");
  Response b = httpGet(port(), "/headers");
  ASSERT_EQ(a.status, 200);
  ASSERT_EQ(b.status, 200);
  auto id_a = a.header("x-correlation-id");
  auto id_b = b.header("x-correlation-id");
  ASSERT_TRUE(id_a && id_b) << a.raw_head;
  EXPECT_TRUE(isUuidV4(*id_a)) << *id_a;
  EXPECT_TRUE(isUuidV4(*id_b)) << *id_b;
  EXPECT_NE(*id_a, *id_b);
  EXPECT_EQ(upstreamHeader(a.body, "x-correlation-id"), id_a);
}

TEST_F(DataPathTest, UnroutedPathIs404WithCorrelationId) {
  ProxyConfig config = defaultConfig();
  config.routes = {{"api", "/api/", "main", ""}};
  startProxy(config);
  Response routed = httpGet(port(), "/api/ok");
  EXPECT_EQ(routed.status, 200) << routed.reason;

  Response r = httpGet(port(), "/elsewhere", {{"X-Correlation-ID", "trace-me-404"}});
  EXPECT_TRUE(isProblem(r, 404));
  EXPECT_EQ(r.header("x-correlation-id"), std::optional<std::string>("trace-me-404"));
  EXPECT_EQ(jsonString(r.body, "correlation_id"), std::optional<std::string>("trace-me-404"))
      << r.body;

  Response generated = httpGet(port(), "/elsewhere");
  EXPECT_TRUE(isProblem(generated, 404));
  auto header = generated.header("x-correlation-id");
  ASSERT_TRUE(header.has_value()) << generated.raw_head;
  EXPECT_TRUE(isUuidV4(*header)) << *header;
  EXPECT_EQ(jsonString(generated.body, "correlation_id"), header) << generated.body;
  EXPECT_EQ(upstream().stats().requests, 1) << "an unrouted request reached the upstream";
}

TEST_F(DataPathTest, SlowReaderGetsBackpressureNotBuffering) {
  startProxy();
  constexpr size_t Total = 20'000'000;
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  // A small receive buffer so the client's kernel does not absorb the body for us.
  int rcvbuf = 64 * 1024;
  ::setsockopt(conn.fd(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  const int64_t rss_start = proxyRssBytes();
  ASSERT_GT(rss_start, 0);
  ASSERT_TRUE(conn.send(buildRequest("GET", "/bytes/" + std::to_string(Total))));

  const auto deadline = Clock::now() + 20s;
  int64_t rss_max = rss_start;
  std::string head;
  size_t body_bytes = 0;
  size_t mismatches = 0;
  char buf[16 * 1024];
  // Takes what arrives within `timeout_ms`; the body is checked against the upstream's pattern
  // as it arrives rather than kept. False on EOF or error.
  auto readSome = [&](int timeout_ms) -> bool {
    pollfd p{conn.fd(), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return true;
    ssize_t n = ::recv(conn.fd(), buf, sizeof(buf), 0);
    if (n <= 0) return false;
    std::string_view got(buf, static_cast<size_t>(n));
    if (head.find("\r\n\r\n") == std::string::npos) {
      head.append(got);
      size_t end = head.find("\r\n\r\n");
      if (end == std::string::npos) return true;
      got = std::string_view(head).substr(end + 4);
      std::string rest(got);
      head.resize(end + 4);
      for (char c : rest) mismatches += c != static_cast<char>('a' + body_bytes++ % 26);
      return true;
    }
    for (char c : got) mismatches += c != static_cast<char>('a' + body_bytes++ % 26);
    return true;
  };

  // The head first (bounded by the deadline).
  while (head.find("\r\n\r\n") == std::string::npos && Clock::now() < deadline) {
    if (!readSome(100)) break;
  }
  ASSERT_NE(head.find("\r\n\r\n"), std::string::npos) << "no response head";
  ASSERT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_NE(head.find("content-length: 20000000"), std::string::npos) << head;

  // Then nothing read for 500 ms: a proxy without backpressure pulls the whole body from the
  // (fast, local) upstream into its memory meanwhile.
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(50ms);
    rss_max = std::max(rss_max, proxyRssBytes());
  }

  // Then read in small pieces with short pauses (about 1 s of pauses in all), sampling RSS.
  size_t since_pause = 0;
  // Bounded by the deadline and by the body size.
  while (body_bytes < Total && Clock::now() < deadline) {
    const size_t before = body_bytes;
    if (!readSome(1000)) break;
    since_pause += body_bytes - before;
    if (since_pause >= 1024 * 1024) {
      since_pause = 0;
      rss_max = std::max(rss_max, proxyRssBytes());
      std::this_thread::sleep_for(50ms);
    }
  }
  rss_max = std::max(rss_max, proxyRssBytes());
  EXPECT_EQ(body_bytes, Total);
  EXPECT_EQ(mismatches, 0u) << "the body was corrupted";
  const int64_t growth = rss_max - rss_start;
  std::cerr << "proxy RSS: start " << rss_start / 1024 << " KiB, max " << rss_max / 1024
            << " KiB, growth " << growth / 1024 << " KiB\n";
  // The body is 19 MiB, so a 64 MiB bound could never fail; a proxy that applies backpressure
  // holds at most a few watermarks' worth (its socket buffers are the kernel's, not its RSS).
  // One that buffers the body grows by most of it (16+ MiB observed).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizers' allocators keep freed memory resident (quarantine), so RSS says nothing
  // about buffering in these builds; the release build checks the bound.
  (void)growth;
#else
  EXPECT_LT(growth, 10 * 1024 * 1024) << "the proxy buffered the body instead of pushing back";
#endif
  expectProxyServes();
}

}  // namespace
}  // namespace switchyard::test::integration
