#include "filters/compression/compression_filter.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>

#include "tests/support/decompress.h"
#include "tests/support/fake_filter_callbacks.h"

namespace switchyard::filters::compression {
namespace {

using http::FilterDataStatus;
using http::FilterHeadersStatus;

std::string body(size_t n) {
  std::string out;
  while (out.size() < n) out += "{\"id\": " + std::to_string(out.size()) + ", \"ok\": true},";
  out.resize(n);
  return out;
}

class CompressionFilterTest : public ::testing::Test {
 protected:
  void SetUp() override { build("{}"); }

  void build(const std::string& yaml) {
    BuildContext ctx{"filters[0].compression", registry_, callbacks_.timeSource()};
    factory_ = std::static_pointer_cast<const CompressionFilterFactory>(
        buildCompressionFilter(YAML::Load(yaml), ctx));
  }

  // Runs one response through a new filter; returns its head as sent and the body (decoded with
  // the Content-Encoding it got).
  struct Outcome {
    http::ResponseHeadersPtr head;
    std::string raw_body;
    std::string body;
  };
  Outcome run(http::ResponseHeadersPtr head, const std::string& content, size_t piece = 4096) {
    auto filter = factory_->create(callbacks_.workerContext(), nullptr);
    callbacks_.attach(*filter);
    const bool headers_only = content.empty() && piece == 0;
    const bool encoded_before = head->headers.get("content-encoding") != nullptr;
    EXPECT_EQ(filter->encodeHeaders(*head, headers_only), FilterHeadersStatus::Continue);
    Outcome out;
    if (!headers_only) {
      size_t offset = 0;
      do {
        const size_t n = std::min(piece == 0 ? content.size() : piece, content.size() - offset);
        http::Buffer data(std::string_view(content).substr(offset, n));
        offset += n;
        EXPECT_EQ(filter->encodeData(data, offset == content.size()), FilterDataStatus::Continue);
        out.raw_body += data.toString();
      } while (offset < content.size());
    }
    filter->onDestroy();
    // Decoded when the filter encoded it.
    const std::string_view* coding = head->headers.get("content-encoding");
    const std::optional<std::string> decoded =
        test::decodeBody(coding == nullptr || encoded_before ? "" : *coding, out.raw_body);
    EXPECT_TRUE(decoded);
    out.body = decoded.value_or("");
    out.head = std::move(head);
    return out;
  }

  http::ResponseHeadersPtr response(int status, const std::string& type, int64_t length) {
    auto head = http::makeResponseHeaders();
    head->status = status;
    if (!type.empty()) head->headers.add("content-type", type);
    if (length >= 0) {
      head->headers.add("content-length", std::to_string(length));
      head->content_length = length;
    }
    return head;
  }

  void accept(const std::string& value) {
    callbacks_.requestHeaders().headers.remove("accept-encoding");
    callbacks_.requestHeaders().headers.add("accept-encoding", value);
  }

  static std::vector<std::string> values(const http::HeaderMap& headers, std::string_view name) {
    std::vector<std::string> out;
    for (const auto& e : headers.entries()) {
      if (e.name == name) out.emplace_back(e.value);
    }
    return out;
  }

  double counter(const std::string& name, const std::string& label, const std::string& value) {
    for (const auto& family : registry_.Collect()) {
      if (family.name != name) continue;
      for (const auto& m : family.metric) {
        for (const auto& l : m.label) {
          if (l.name == label && l.value == value) return m.counter.value;
        }
      }
    }
    return -1;
  }
  double result(const std::string& r) {
    return counter("switchyard_compression_responses_total", "result", r);
  }

  prometheus::Registry registry_;
  test::FakeFilterCallbacks callbacks_;
  std::shared_ptr<const CompressionFilterFactory> factory_;
};

TEST_F(CompressionFilterTest, CompressesWithTheAlgorithmTheClientPrefers) {
  const std::string content = body(50000);
  accept("gzip, deflate, br");
  Outcome br = run(response(200, "application/json", 50000), content);
  EXPECT_EQ(*br.head->headers.get("content-encoding"), "br");
  EXPECT_EQ(br.head->headers.get("content-length"), nullptr);
  EXPECT_EQ(br.head->content_length, -1);
  EXPECT_EQ(*br.head->headers.get("vary"), "Accept-Encoding");
  EXPECT_EQ(br.body, content);
  EXPECT_LT(br.raw_body.size(), content.size() / 4);

  accept("gzip");
  Outcome gz = run(response(200, "application/json; charset=utf-8", 50000), content);
  EXPECT_EQ(*gz.head->headers.get("content-encoding"), "gzip");
  EXPECT_EQ(gz.body, content);

  EXPECT_EQ(result("br"), 1);
  EXPECT_EQ(result("gzip"), 1);
  EXPECT_EQ(counter("switchyard_compression_input_bytes_total", "algorithm", "br"), 50000);
  EXPECT_EQ(counter("switchyard_compression_output_bytes_total", "algorithm", "br"),
            static_cast<double>(br.raw_body.size()));
  EXPECT_EQ(counter("switchyard_compression_output_bytes_total", "algorithm", "gzip"),
            static_cast<double>(gz.raw_body.size()));
  bool logged = false;
  callbacks_.streamInfo().filter_state.forEachLogValue(
      [&](std::string_view name, const common::FieldValue&) { logged |= name == "compression"; });
  EXPECT_TRUE(logged);
}

TEST_F(CompressionFilterTest, UnknownLengthsAndOneBytePieces) {
  accept("br");
  const std::string content = body(3000);
  Outcome chunked = run(response(200, "text/plain", -1), content, 1);
  EXPECT_EQ(chunked.body, content);
  // Unknown length: even a tiny body is compressed (its size is not known in time).
  Outcome tiny = run(response(200, "text/plain", -1), "x", 1);
  EXPECT_EQ(*tiny.head->headers.get("content-encoding"), "br");
  EXPECT_EQ(tiny.body, "x");
}

TEST_F(CompressionFilterTest, ETagsBecomeWeakAndAcceptRangesGoes) {
  accept("gzip");
  auto head = response(200, "application/json", 5000);
  head->headers.add("etag", "\"v1\"");
  head->headers.add("accept-ranges", "bytes");
  Outcome out = run(std::move(head), body(5000));
  EXPECT_EQ(*out.head->headers.get("etag"), "W/\"v1\"");
  EXPECT_EQ(out.head->headers.get("accept-ranges"), nullptr);

  auto weak = response(200, "application/json", 5000);
  weak->headers.add("etag", "W/\"v2\"");
  EXPECT_EQ(*run(std::move(weak), body(5000)).head->headers.get("etag"), "W/\"v2\"");
}

TEST_F(CompressionFilterTest, AnExistingVaryIsKeptAndExtendedOnce) {
  accept("gzip");
  auto head = response(200, "application/json", 5000);
  head->headers.add("vary", "Accept-Language");
  Outcome out = run(std::move(head), body(5000));
  EXPECT_EQ(values(out.head->headers, "vary"),
            (std::vector<std::string>{"Accept-Language", "Accept-Encoding"}));

  auto already = response(200, "application/json", 5000);
  already->headers.add("vary", "accept-language, ACCEPT-ENCODING");
  EXPECT_EQ(values(run(std::move(already), body(5000)).head->headers, "vary").size(), 1u);
  auto star = response(200, "application/json", 5000);
  star->headers.add("vary", "*");
  EXPECT_EQ(values(run(std::move(star), body(5000)).head->headers, "vary"),
            std::vector<std::string>{"*"});
}

// Sent as it is, without Vary: the response is not a compressible representation.
TEST_F(CompressionFilterTest, LeavesAloneWhatIsNotCompressible) {
  accept("br, gzip");
  const std::string content = body(5000);
  struct Case {
    const char* name;
    int status;
    const char* header;
    const char* value;
    const char* type;
    const char* result;
  };
  const Case cases[] = {
      {"already encoded", 200, "content-encoding", "gzip", "application/json", "encoded"},
      {"no-transform", 200, "cache-control", "max-age=60, no-transform", "application/json",
       "no_transform"},
      {"other type", 200, nullptr, nullptr, "image/png", "content_type"},
      {"no type", 200, nullptr, nullptr, "", "content_type"},
      {"partial content", 206, "content-range", "bytes 0-4999/9000", "application/json", "status"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto head = response(c.status, c.type, 5000);
    if (c.header != nullptr) head->headers.add(c.header, c.value);
    head->headers.add("etag", "\"x\"");
    const double before = result(c.result);
    Outcome out = run(std::move(head), content);
    EXPECT_EQ(out.raw_body, content);
    EXPECT_EQ(out.head->headers.get("vary"), nullptr);
    EXPECT_EQ(*out.head->headers.get("content-length"), "5000");
    EXPECT_EQ(*out.head->headers.get("etag"), "\"x\"");
    EXPECT_EQ(result(c.result), before + 1);
  }
  for (int status : {100, 101, 204}) {
    auto head = response(status, "application/json", -1);
    Outcome out = run(std::move(head), "", 0);
    EXPECT_EQ(out.head->headers.get("content-encoding"), nullptr) << status;
    EXPECT_EQ(out.head->headers.get("vary"), nullptr) << status;
  }
  EXPECT_EQ(result("br"), 0);
  EXPECT_EQ(result("gzip"), 0);
}

// Sent as it is, with Vary: another request for it may get it compressed.
TEST_F(CompressionFilterTest, LeavesAloneWhatThisRequestCannotHaveCompressed) {
  const std::string content = body(5000);
  auto check = [&](const char* name, const char* want_result, auto&& setup, int64_t length,
                   const std::string& sent) {
    SCOPED_TRACE(name);
    callbacks_.requestHeaders() = http::RequestHeaders();
    callbacks_.requestHeaders().method = "GET";
    setup(callbacks_.requestHeaders());
    const double before = result(want_result);
    Outcome out = run(response(200, "text/html", length), sent, sent.empty() ? 0 : 4096);
    EXPECT_EQ(out.head->headers.get("content-encoding"), nullptr);
    EXPECT_EQ(out.raw_body, sent);
    EXPECT_EQ(values(out.head->headers, "vary"), std::vector<std::string>{"Accept-Encoding"});
    EXPECT_EQ(result(want_result), before + 1);
  };
  check(
      "HEAD", "head",
      [](http::RequestHeaders& r) {
        r.method = "HEAD";
        r.headers.add("accept-encoding", "gzip");
      },
      5000, "");
  check(
      "Range", "range",
      [](http::RequestHeaders& r) {
        r.headers.add("accept-encoding", "gzip");
        r.headers.add("range", "bytes=0-99");
      },
      5000, content);
  check(
      "small", "too_small",
      [](http::RequestHeaders& r) { r.headers.add("accept-encoding", "gzip"); }, 1023, body(1023));
  check(
      "no body", "too_small",
      [](http::RequestHeaders& r) { r.headers.add("accept-encoding", "gzip"); }, 0, "");
  check(
      "no Accept-Encoding", "not_accepted", [](http::RequestHeaders&) {}, 5000, content);
  check(
      "identity only", "not_accepted",
      [](http::RequestHeaders& r) { r.headers.add("accept-encoding", "gzip;q=0, br;q=0"); }, 5000,
      content);
  check(
      "deflate only", "not_accepted",
      [](http::RequestHeaders& r) { r.headers.add("accept-encoding", "deflate"); }, 5000, content);
}

TEST_F(CompressionFilterTest, MinBytesIsInclusiveAndConfigurable) {
  accept("gzip");
  EXPECT_EQ(
      *run(response(200, "text/plain", 1024), body(1024)).head->headers.get("content-encoding"),
      "gzip");
  build("{min_bytes: 0}");
  EXPECT_EQ(*run(response(200, "text/plain", 1), "x").head->headers.get("content-encoding"),
            "gzip");
}

TEST_F(CompressionFilterTest, IdentityContentEncodingIsNotAnEncoding) {
  accept("gzip");
  auto head = response(200, "text/plain", 5000);
  head->headers.add("content-encoding", "identity");
  Outcome out = run(std::move(head), body(5000));
  EXPECT_EQ(values(out.head->headers, "content-encoding"), std::vector<std::string>{"gzip"});
}

TEST_F(CompressionFilterTest, ANotModifiedGetsTheVaryAndValidatorOfWhatItRevalidates) {
  accept("gzip");
  auto head = response(304, "", -1);
  head->headers.add("etag", "\"v7\"");
  Outcome out = run(std::move(head), "", 0);
  EXPECT_EQ(*out.head->headers.get("etag"), "W/\"v7\"");
  EXPECT_EQ(*out.head->headers.get("vary"), "Accept-Encoding");
  EXPECT_EQ(out.head->headers.get("content-encoding"), nullptr);

  accept("identity");
  auto plain = response(304, "", -1);
  plain->headers.add("etag", "\"v7\"");
  Outcome out2 = run(std::move(plain), "", 0);
  EXPECT_EQ(*out2.head->headers.get("etag"), "\"v7\"");
  EXPECT_EQ(out2.head->headers.get("vary"), nullptr);
}

TEST_F(CompressionFilterTest, AlgorithmsAndLevelsFromTheConfiguration) {
  build("{algorithms: [gzip], gzip_level: 1}");
  accept("br, gzip");
  EXPECT_EQ(
      *run(response(200, "text/plain", 5000), body(5000)).head->headers.get("content-encoding"),
      "gzip");
  accept("br");
  EXPECT_EQ(
      run(response(200, "text/plain", 5000), body(5000)).head->headers.get("content-encoding"),
      nullptr);
}

TEST_F(CompressionFilterTest, ARouteMayTurnItOffOrChangeIt) {
  accept("br, gzip");
  RouteFilterConfigPtr off = factory_->parseRouteConfig(YAML::Load("{enabled: false}"),
                                                        "routes[0].filters.compression", nullptr);
  callbacks_.setRouteConfig(off.get());
  Outcome out = run(response(200, "application/json", 5000), body(5000));
  EXPECT_EQ(out.head->headers.get("content-encoding"), nullptr);
  EXPECT_EQ(out.head->headers.get("vary"), nullptr);

  RouteFilterConfigPtr route =
      factory_->parseRouteConfig(YAML::Load("{algorithms: [gzip], content_types: [image/svg+xml]}"),
                                 "routes[0].filters.compression", nullptr);
  RouteFilterConfigPtr version = factory_->parseRouteConfig(
      YAML::Load("{min_bytes: 10}"), "routes[0].versions.v2.filters.compression", route.get());
  callbacks_.setRouteConfig(version.get());
  Outcome svg = run(response(200, "image/svg+xml", 20), body(20));
  EXPECT_EQ(*svg.head->headers.get("content-encoding"), "gzip");
  Outcome json = run(response(200, "application/json", 5000), body(5000));
  EXPECT_EQ(json.head->headers.get("content-encoding"), nullptr);
  EXPECT_EQ(version->toJson()["min_bytes"], 10);
  EXPECT_EQ(version->toJson()["algorithms"], nlohmann::json::array({"gzip"}));
  callbacks_.setRouteConfig(nullptr);
}

TEST_F(CompressionFilterTest, AStreamThatEndsEarlyStillCountsItsBytes) {
  accept("gzip");
  auto filter = factory_->create(callbacks_.workerContext(), nullptr);
  callbacks_.attach(*filter);
  auto head = response(200, "text/plain", 100000);
  filter->encodeHeaders(*head, false);
  http::Buffer data(body(4000));
  filter->encodeData(data, false);
  filter->onDestroy();
  EXPECT_EQ(counter("switchyard_compression_input_bytes_total", "algorithm", "gzip"), 4000);
  EXPECT_GT(counter("switchyard_compression_output_bytes_total", "algorithm", "gzip"), 0);
}

TEST_F(CompressionFilterTest, ConfigDump) {
  build("{algorithms: [gzip, br], min_bytes: 2KiB, content_types: [text/*]}");
  EXPECT_EQ(factory_->toJson(), (nlohmann::json{{"enabled", true},
                                                {"algorithms", {"gzip", "br"}},
                                                {"min_bytes", 2048},
                                                {"content_types", {"text/*"}},
                                                {"gzip_level", 6},
                                                {"brotli_quality", 4}}));
}

}  // namespace
}  // namespace switchyard::filters::compression
