// The compression filter in the real binary, in front of a real upstream: curl --compressed and a
// raw decode get the origin's bytes back for both algorithms and bodies from 1 byte to 10 MiB,
// every response it must leave alone is left alone, a slow body streams through compressed piece
// by piece, a slow reader holds the upstream back (nothing buffers), and with the cache each
// encoding is stored once and served without compressing again.

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <zlib.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/support/decompress.h"
#include "tests/upstream/random_body.h"

namespace switchyard::test::integration {
namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Text that compresses about as JSON does, not as the upstream's repeating alphabet.
std::string jsonBody(size_t n) {
  std::mt19937 rng(5);
  std::string out = "[";
  while (out.size() < n) {
    out += "{\"id\":" + std::to_string(rng() % 100000) + ",\"sku\":\"" + std::to_string(rng()) +
           "\",\"in_stock\":true},";
  }
  out.resize(n);
  return out;
}

class CompressionTest : public ProxyTest {
 protected:
  void start(const std::string& compression = "{}", const std::string& before = "",
             const std::string& route_extra = "") {
    ProxyConfig config = defaultConfig();
    config.filters += before + "  - compression: " + compression + "\n";
    config.routes.front().extra += route_extra;
    startProxy(config);
  }

  // `curl --compressed` (which decodes what it receives): the decoded body, and the
  // Content-Encoding it was sent with.
  struct CurlResult {
    int exit_code = -1;
    std::string body;
    std::string encoding;
  };
  CurlResult curl(const std::string& path, const std::string& accept_encoding) {
    const std::string body_path = tempDir() + "/curl-body";
    const std::string head_path = tempDir() + "/curl-head";
    std::vector<std::string> args = {"-sS",
                                     "--compressed",
                                     "--max-time",
                                     "60",
                                     "-o",
                                     body_path,
                                     "-D",
                                     head_path,
                                     "-H",
                                     "Accept-Encoding: " + accept_encoding,
                                     "http://127.0.0.1:" + std::to_string(port()) + path};
    Process p("/usr/bin/curl", args);
    CurlResult out;
    out.exit_code = p.waitExit(std::chrono::seconds(90)).value_or(-1);
    EXPECT_EQ(out.exit_code, 0) << p.output();
    out.body = readFile(body_path);
    std::istringstream head(readFile(head_path));
    for (std::string line; std::getline(head, line);) {
      if (line.size() > 17 &&
          (line.rfind("content-encoding:", 0) == 0 || line.rfind("Content-Encoding:", 0) == 0)) {
        out.encoding = line.substr(17);
        while (!out.encoding.empty() && (out.encoding.front() == ' ')) out.encoding.erase(0, 1);
        while (!out.encoding.empty() && (out.encoding.back() == '\r' || out.encoding.back() == ' '))
          out.encoding.pop_back();
      }
    }
    return out;
  }

  // A GET with Accept-Encoding, its body decoded by the Content-Encoding it came with.
  struct Decoded {
    Response response;
    std::string encoding;
    std::optional<std::string> body;
  };
  Decoded fetch(const std::string& path, const std::string& accept_encoding, Headers more = {},
                std::string_view method = "GET", std::string_view request_body = {}) {
    more.push_back({"Accept-Encoding", accept_encoding});
    Decoded d;
    d.response = httpRequest(port(), method, path, more, request_body, std::chrono::seconds(60));
    d.encoding = d.response.header("content-encoding").value_or("");
    d.body = decodeBody(d.encoding, d.response.body);
    return d;
  }

  std::string metrics() { return httpGet(adminPort(), "/metrics").body; }
  bool metricsHave(const std::string& line) { return metrics().find(line) != std::string::npos; }
};

TEST_F(CompressionTest, CurlAndARawDecodeGetTheOriginsBytesForBothAlgorithms) {
  start("{min_bytes: 1}");
  for (size_t n :
       {size_t{1}, size_t{100}, size_t{1024}, size_t{65537}, size_t{1} << 20, size_t{10} << 20}) {
    const std::string origin = upstreamPattern(n);
    for (const std::string coding : {"br", "gzip"}) {
      SCOPED_TRACE(coding + " " + std::to_string(n));
      for (const std::string framing : {"/bytes/", "/chunked/"}) {
        const CurlResult c = curl(framing + std::to_string(n), coding);
        EXPECT_EQ(c.encoding, coding) << framing;
        EXPECT_TRUE(c.body == origin) << framing << " got " << c.body.size() << " bytes";
      }
      const Decoded raw = fetch("/bytes/" + std::to_string(n), coding);
      ASSERT_EQ(raw.response.status, 200);
      EXPECT_EQ(raw.encoding, coding);
      EXPECT_TRUE(raw.response.chunked);
      EXPECT_FALSE(raw.response.header("content-length"));
      EXPECT_EQ(raw.response.header("vary").value_or(""), "Accept-Encoding");
      ASSERT_TRUE(raw.body);
      EXPECT_TRUE(*raw.body == origin);
      if (n >= 65537) {
        EXPECT_LT(raw.response.body.size(), n / 20);
      }
    }
  }
}

TEST_F(CompressionTest, JsonAndIncompressibleBodiesRoundTrip) {
  start();
  std::mt19937 rng(3);
  std::string random(300 * 1024, '\0');
  for (char& c : random) c = static_cast<char>(rng());
  const std::string json = jsonBody(2 << 20);
  for (const std::string coding : {"br", "gzip"}) {
    for (const std::string* body : std::vector<const std::string*>{&json, &random}) {
      const Decoded d =
          fetch("/echo", coding, {{"Content-Type", "application/json"}}, "POST", *body);
      ASSERT_EQ(d.response.status, 200);
      EXPECT_EQ(d.encoding, coding);
      ASSERT_TRUE(d.body);
      EXPECT_TRUE(*d.body == *body) << coding << " " << body->size();
      if (body == &json) {
        EXPECT_LT(d.response.body.size(), json.size() / 3);
      }
    }
  }
  EXPECT_TRUE(metricsHave("switchyard_compression_responses_total{result=\"br\"} 2")) << metrics();
  EXPECT_TRUE(metricsHave("switchyard_compression_input_bytes_total{algorithm=\"gzip\"} " +
                          std::to_string(json.size() + random.size())));
  EXPECT_TRUE(metricsHave("switchyard_compression_output_bytes_total{algorithm=\"br\"}"));
}

TEST_F(CompressionTest, TheClientsWeightsDecide) {
  start();
  EXPECT_EQ(fetch("/bytes/5000", "gzip, deflate, br").encoding, "br");
  EXPECT_EQ(fetch("/bytes/5000", "br;q=0.5, gzip").encoding, "gzip");
  EXPECT_EQ(fetch("/bytes/5000", "*").encoding, "br");
  EXPECT_EQ(fetch("/bytes/5000", "gzip;q=0.2, identity").encoding, "");
  EXPECT_EQ(fetch("/bytes/5000", "identity;q=0, deflate").encoding, "");
  const Response none = httpGet(port(), "/bytes/5000");
  EXPECT_EQ(none.body, upstreamPattern(5000));
  EXPECT_EQ(none.header("content-length").value_or(""), "5000");
  EXPECT_EQ(none.header("vary").value_or(""), "Accept-Encoding");
}

TEST_F(CompressionTest, LeavesAloneWhatItMust) {
  start("{content_types: [text/*, application/json]}");
  const std::string origin = upstreamPattern(5000);
  auto expectUntouched = [&](const Decoded& d, const std::string& why, bool vary) {
    SCOPED_TRACE(why);
    EXPECT_EQ(d.response.header("content-encoding").value_or(""), d.encoding);
    EXPECT_NE(d.encoding, "br");
    EXPECT_NE(d.encoding, "gzip");
    EXPECT_EQ(d.response.header("vary").has_value(), vary);
  };
  // Already encoded by the upstream: passed as it is (the test upstream labels it only).
  Decoded encoded =
      fetch("/bytes/5000", "br, gzip", {{"X-Test-Response-Header", "Content-Encoding: zstd"}});
  EXPECT_EQ(encoded.response.header("content-encoding").value_or(""), "zstd");
  EXPECT_EQ(encoded.response.body, origin);
  EXPECT_EQ(encoded.response.header("content-length").value_or(""), "5000");
  EXPECT_FALSE(encoded.response.header("vary"));

  Decoded no_transform =
      fetch("/bytes/5000", "br", {{"X-Test-Response-Header", "Cache-Control: no-transform"}});
  expectUntouched(no_transform, "no-transform", false);
  EXPECT_EQ(no_transform.response.body, origin);

  const Response head = httpRequest(port(), "HEAD", "/bytes/5000", {{"Accept-Encoding", "br"}});
  EXPECT_EQ(head.status, 200);
  EXPECT_FALSE(head.header("content-encoding"));
  EXPECT_EQ(head.header("content-length").value_or(""), "5000");
  EXPECT_EQ(head.header("vary").value_or(""), "Accept-Encoding");

  EXPECT_EQ(fetch("/status/204", "br").response.status, 204);
  expectUntouched(fetch("/status/204", "br"), "204", false);
  const Decoded partial = fetch("/status/206", "br");
  EXPECT_EQ(partial.response.status, 206);
  expectUntouched(partial, "206", false);

  const Decoded ranged = fetch("/bytes/5000", "br", {{"Range", "bytes=0-99"}});
  expectUntouched(ranged, "Range", true);
  EXPECT_EQ(ranged.response.body, origin);

  const Decoded small = fetch("/bytes/1023", "br");
  expectUntouched(small, "small", true);
  EXPECT_EQ(small.response.body, upstreamPattern(1023));
  EXPECT_EQ(fetch("/bytes/1024", "br").encoding, "br");

  // A 304: no body, but the Vary and the weak validator of the 200 it revalidates.
  const Decoded not_modified = fetch(
      "/etag", "br", {{"X-Test-Response-Header", "ETag: \"v1\""}, {"If-None-Match", "W/\"v1\""}});
  EXPECT_EQ(not_modified.response.status, 304);
  EXPECT_EQ(not_modified.response.header("etag").value_or(""), "W/\"v1\"");
  const Decoded full = fetch("/etag-full?pad=" + std::string(2000, 'x'), "br",
                             {{"X-Test-Response-Header", "ETag: \"v1\""}});
  EXPECT_EQ(full.encoding, "br");
  EXPECT_EQ(full.response.header("etag").value_or(""), "W/\"v1\"");

  for (const std::string result :
       {"encoded", "no_transform", "head", "status", "range", "too_small"}) {
    EXPECT_TRUE(metricsHave("switchyard_compression_responses_total{result=\"" + result + "\"}"))
        << result;
  }
  EXPECT_FALSE(metricsHave("switchyard_compression_responses_total{result=\"encoded\"} 0"));
}

TEST_F(CompressionTest, OtherContentTypesPass) {
  start("{content_types: [application/json]}");
  const Decoded text = fetch("/bytes/5000", "gzip");
  EXPECT_EQ(text.encoding, "");
  EXPECT_FALSE(text.response.header("vary"));
  EXPECT_EQ(text.response.body, upstreamPattern(5000));
  // The upstream's JSON description of the request is compressed.
  const Decoded json = fetch("/json?pad=" + std::string(2000, 'x'), "gzip");
  EXPECT_EQ(json.encoding, "gzip");
  ASSERT_TRUE(json.body);
  EXPECT_NE(json.body->find("\"service\""), std::string::npos);
}

TEST_F(CompressionTest, ARouteCanTurnItOff) {
  ProxyConfig config = defaultConfig();
  config.routes.insert(
      config.routes.begin(),
      ProxyConfig::Route{"raw", "/raw/", "main", "    filters: {compression: {enabled: false}}\n"});
  config.filters += "  - compression: {}\n";
  startProxy(config);
  const Decoded off = fetch("/raw/bytes", "gzip", {{"X-Test-Behavior", "/bytes/5000"}});
  EXPECT_EQ(off.encoding, "");
  EXPECT_FALSE(off.response.header("vary"));
  EXPECT_EQ(fetch("/bytes/5000", "gzip").encoding, "gzip");
}

TEST_F(CompressionTest, ASlowBodyStreamsThroughPieceByPiece) {
  start();
  // Ten pieces, 300 ms apart: the first must be readable, compressed, long before the last left.
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  ASSERT_TRUE(conn.send(rawHead("GET", "/slow-body/20000/300", "Accept-Encoding: gzip\r\n")));
  // Read the head and what comes within the first second.
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < deadline && got.find("\r\n\r\n") == std::string::npos) {
    got += conn.readAll(std::chrono::milliseconds(100));
  }
  got += conn.readAll(std::chrono::milliseconds(400));
  const size_t head_end = got.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << got;
  EXPECT_NE(got.find("content-encoding: gzip"), std::string::npos) << got.substr(0, head_end);
  // De-chunk what arrived so far and decode it as the start of a gzip stream.
  std::string chunks = got.substr(head_end + 4);
  std::string encoded;
  while (true) {
    const size_t line_end = chunks.find("\r\n");
    if (line_end == std::string::npos) break;
    const size_t size = std::stoul(chunks.substr(0, line_end), nullptr, 16);
    if (size == 0 || chunks.size() < line_end + 2 + size + 2) break;
    encoded += chunks.substr(line_end + 2, size);
    chunks.erase(0, line_end + 2 + size + 2);
  }
  const std::optional<std::string> so_far = gunzipPrefix(encoded);
  ASSERT_TRUE(so_far);
  EXPECT_GE(so_far->size(), 2000u);
  EXPECT_LT(so_far->size(), 20000u);
  EXPECT_EQ(*so_far, upstreamPattern(so_far->size()));
}

TEST_F(CompressionTest, ASlowReaderGetsBackpressureNotBuffering) {
  start("{}");
  // Bytes that do not compress, so what the proxy would buffer is as large as the body.
  constexpr size_t Total = 20'000'000;
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  int rcvbuf = 64 * 1024;
  ::setsockopt(conn.fd(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  const int64_t rss_start = proxyRssBytes();
  ASSERT_GT(rss_start, 0);
  ASSERT_TRUE(conn.send(
      rawHead("GET", "/random-bytes/" + std::to_string(Total), "Accept-Encoding: gzip\r\n")));

  // The body is de-chunked and inflated as it arrives, and checked against the upstream's bytes.
  z_stream zs{};
  ASSERT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  std::string head;
  std::string pending;  // chunked framing not yet parsed
  size_t chunk_left = 0;
  size_t decoded = 0;
  size_t mismatches = 0;
  bool inflate_failed = false;
  auto inflateSome = [&](std::string_view in) {
    char out[64 * 1024];
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    while (zs.avail_in > 0 && !inflate_failed) {
      zs.next_out = reinterpret_cast<Bytef*>(out);
      zs.avail_out = sizeof(out);
      const int r = inflate(&zs, Z_NO_FLUSH);
      const size_t n = sizeof(out) - zs.avail_out;
      for (size_t i = 0; i < n; ++i) {
        mismatches += out[i] != upstream::randomBodyByte(decoded + i);
      }
      decoded += n;
      if (r == Z_STREAM_END) break;
      if (r != Z_OK && r != Z_BUF_ERROR) inflate_failed = true;
    }
  };
  auto takeBody = [&](std::string_view got) {
    pending.append(got);
    // Bounded by the bytes pending: each pass consumes some or stops.
    while (!pending.empty()) {
      if (chunk_left == SIZE_MAX) {
        if (pending.size() < 2) return;
        pending.erase(0, 2);
        chunk_left = 0;
        continue;
      }
      if (chunk_left > 0) {
        const size_t n = std::min(chunk_left, pending.size());
        inflateSome(std::string_view(pending).substr(0, n));
        pending.erase(0, n);
        chunk_left -= n;
        if (chunk_left == 0) chunk_left = SIZE_MAX;  // its CRLF comes next
        continue;
      }
      const size_t eol = pending.find("\r\n");
      if (eol == std::string::npos) return;
      chunk_left = std::stoul(pending.substr(0, eol), nullptr, 16);
      pending.erase(0, eol + 2);
      if (chunk_left == 0) return;  // the last chunk
    }
  };
  char buf[16 * 1024];
  auto readSome = [&](int timeout_ms) -> bool {
    pollfd p{conn.fd(), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return true;
    const ssize_t n = ::recv(conn.fd(), buf, sizeof(buf), 0);
    if (n <= 0) return false;
    std::string_view got(buf, static_cast<size_t>(n));
    if (head.find("\r\n\r\n") == std::string::npos) {
      head.append(got);
      const size_t end = head.find("\r\n\r\n");
      if (end == std::string::npos) return true;
      const std::string rest = head.substr(end + 4);
      head.resize(end + 4);
      takeBody(rest);
      return true;
    }
    takeBody(got);
    return true;
  };

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (head.find("\r\n\r\n") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    if (!readSome(100)) break;
  }
  ASSERT_NE(head.find("\r\n\r\n"), std::string::npos) << "no response head";
  EXPECT_NE(head.find("content-encoding: gzip"), std::string::npos) << head;
  // Nothing read for 500 ms: a proxy that does not push back would read the whole body from the
  // (fast, local) upstream meanwhile, and hold it compressed.
  int64_t rss_max = rss_start;
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    rss_max = std::max(rss_max, proxyRssBytes());
  }
  // Then everything, sampling RSS now and then; bounded by the deadline and the body size.
  size_t since_sample = 0;
  while (decoded < Total && std::chrono::steady_clock::now() < deadline && !inflate_failed) {
    const size_t before = decoded;
    if (!readSome(1000)) break;
    since_sample += decoded - before;
    if (since_sample >= 2 * 1024 * 1024) {
      since_sample = 0;
      rss_max = std::max(rss_max, proxyRssBytes());
    }
  }
  inflateEnd(&zs);
  EXPECT_FALSE(inflate_failed);
  EXPECT_EQ(decoded, Total);
  EXPECT_EQ(mismatches, 0u);
  const int64_t growth = rss_max - rss_start;
  std::cerr << "proxy RSS: start " << rss_start / 1024 << " KiB, max " << rss_max / 1024
            << " KiB, growth " << growth / 1024 << " KiB\n";
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizers' allocators keep freed memory resident; the release build checks the bound.
  (void)growth;
#else
  // A proxy that buffered the compressed body would grow by about 19 MiB.
  EXPECT_LT(growth, 10 * 1024 * 1024) << "the proxy buffered the body instead of pushing back";
#endif
}

TEST_F(CompressionTest, WithTheCacheEachEncodingIsStoredOnceAndHitsAreNotCompressedAgain) {
  start("{}", "  - cache: {}\n");
  const Headers fresh = {{"X-Test-Response-Header", "Cache-Control: max-age=60"}};
  const std::string origin = upstreamPattern(50000);
  auto requests = [&] { return upstream().stats().requests; };

  const int64_t before = requests();
  for (const std::string coding : {"br", "gzip", "identity"}) {
    SCOPED_TRACE(coding);
    for (int i = 0; i < 3; ++i) {
      const Decoded d = fetch("/bytes/50000", coding, fresh);
      ASSERT_EQ(d.response.status, 200);
      EXPECT_EQ(d.encoding, coding == "identity" ? "" : coding);
      ASSERT_TRUE(d.body);
      EXPECT_TRUE(*d.body == origin);
      const std::string status = d.response.header("cache-status").value_or("");
      if (i == 0) {
        EXPECT_NE(status.find("stored"), std::string::npos) << status;
      } else {
        EXPECT_EQ(status.rfind("Switchyard; hit", 0), 0u) << status;
      }
    }
  }
  // One upstream request per encoding; the hits were not compressed again.
  EXPECT_EQ(requests() - before, 3);
  EXPECT_TRUE(metricsHave("switchyard_compression_responses_total{result=\"br\"} 1")) << metrics();
  EXPECT_TRUE(metricsHave("switchyard_compression_responses_total{result=\"gzip\"} 1"));
  EXPECT_TRUE(metricsHave("switchyard_compression_responses_total{result=\"not_accepted\"} 1"));
}

TEST_F(CompressionTest, BadConfigurationIsRefusedWithItsPath) {
  ProxyConfig config = defaultConfig();
  config.filters += "  - compression: {algorithms: [br, zstd]}\n";
  const std::string path = writeFile("bad.yaml", config.render(freePort(), freePort()));
  Process validate(SWITCHYARD_BIN, {"--validate", "--config", path});
  EXPECT_NE(validate.waitExit(std::chrono::seconds(10)).value_or(0), 0);
  EXPECT_NE(validate.output().find("filters[1].compression.algorithms[1]"), std::string::npos)
      << validate.output();
  EXPECT_NE(validate.output().find("zstd"), std::string::npos);
}

}  // namespace
}  // namespace switchyard::test::integration
