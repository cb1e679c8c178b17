#pragma once

// compression: compresses response bodies with brotli or gzip, as the client's Accept-Encoding
// and the configured preference choose (accept_encoding.h), streaming: each piece of the body is
// compressed and flushed as it passes (encoder.h), so the filter never holds a body and the
// client's pace still reaches the upstream (backpressure works as without the filter).
//
// Only encodeHeaders and encodeData do anything. A response is left as it is when it is
// 1xx, 204, 206 or 304, already has a Content-Encoding, says Cache-Control: no-transform, or has
// a media type outside content_types; it is then not counted as compressible. A compressible one
// gets `Vary: Accept-Encoding` (the cache, and any cache after the proxy, must keep the variants
// apart) and is still sent as it is for HEAD, for a request with Range, when its Content-Length
// is under min_bytes, or when the client accepts none of the algorithms. Otherwise:
// Content-Encoding is set, Content-Length and Accept-Ranges go (the body is sent chunked, or
// close-delimited to an HTTP/1.0 client), a strong ETag becomes weak (the bytes differ from the
// upstream's), and the body is encoded. A 304 to a request that accepts an algorithm gets the
// Vary and a weak ETag too, as the 200 it revalidates had them.
//
// With the cache filter before it in the chain (`- cache`, then `- compression`), the cache
// stores what this filter produced, one variant per Accept-Encoding (Vary), and answers hits
// without passing them through this filter again.
//
// Metrics: switchyard_compression_responses_total{result} (br, gzip, or why not: status,
// encoded, no_transform, content_type, head, range, too_small, not_accepted, error) and
// switchyard_compression_{input,output}_bytes_total{algorithm}; the access-log field
// `compression` names the algorithm of a compressed response.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>

#include "filters/compression/config.h"
#include "filters/compression/encoder.h"
#include "filters/registry.h"
#include "proxy/http/filter.h"

namespace switchyard::filters::compression {

// Why a response was or was not compressed; the `result` label.
enum class Result : uint8_t {
  Brotli,
  Gzip,
  Status,
  Encoded,
  NoTransform,
  ContentType,
  Head,
  Range,
  TooSmall,
  NotAccepted,
  Error,
};
inline constexpr size_t ResultCount = 11;
std::string_view resultName(Result result);

// The counters, made once per registry and shared by every filter of the factory.
struct CompressionMetrics {
  explicit CompressionMetrics(prometheus::Registry& registry);
  std::array<prometheus::Counter*, ResultCount> responses{};
  std::array<prometheus::Counter*, CodingCount> input_bytes{};
  std::array<prometheus::Counter*, CodingCount> output_bytes{};
};

// A route's or version's `compression:` block, applied over the filter's configuration.
class CompressionRouteConfig final : public RouteFilterConfig {
 public:
  explicit CompressionRouteConfig(CompressionConfig config) : config_(std::move(config)) {}
  const CompressionConfig& config() const { return config_; }
  nlohmann::json toJson() const override;

 private:
  CompressionConfig config_;
};

class CompressionFilter final : public http::StreamFilter {
 public:
  CompressionFilter(const CompressionConfig& config, CompressionMetrics& metrics)
      : config_(config), metrics_(metrics) {}

  http::FilterHeadersStatus encodeHeaders(http::ResponseHeaders& response,
                                          bool end_stream) override;
  http::FilterDataStatus encodeData(http::Buffer& data, bool end_stream) override;
  void onDestroy() override;

 private:
  // Decides for this response; returns the result to count.
  Result decide(http::ResponseHeaders& response, bool end_stream, const CompressionConfig& config);
  void count(Result result) { metrics_.responses[static_cast<size_t>(result)]->Increment(); }
  // Adds the bytes of the body so far to the counters (once).
  void publishBytes();

  const CompressionConfig& config_;
  CompressionMetrics& metrics_;
  std::unique_ptr<Encoder> encoder_;
  Coding coding_ = Coding::Gzip;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
};

class CompressionFilterFactory final : public FilterFactory {
 public:
  CompressionFilterFactory(CompressionConfig config, prometheus::Registry& registry)
      : config_(std::move(config)), metrics_(std::make_unique<CompressionMetrics>(registry)) {}

  http::StreamFilterPtr create(WorkerContext& worker, WorkerLocal* local) const override;
  nlohmann::json toJson() const override;
  RouteFilterConfigPtr parseRouteConfig(const YAML::Node& node, const std::string& path,
                                        const RouteFilterConfig* parent) const override;
  const CompressionConfig& config() const { return config_; }

 private:
  const CompressionConfig config_;
  const std::unique_ptr<CompressionMetrics> metrics_;
};

nlohmann::json toJson(const CompressionConfig& config);

// The filter's FilterBuildFn: parses `node` (at ctx.path) and returns its factory.
FilterFactoryPtr buildCompressionFilter(const YAML::Node& node, BuildContext& ctx);

// Adds "compression" to `registry`.
void registerCompressionFilter(FilterRegistry& registry);

}  // namespace switchyard::filters::compression
