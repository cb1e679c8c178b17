#include "filters/compression/compression_filter.h"

#include <charconv>

#include "proxy/http/filter_state.h"

namespace switchyard::filters::compression {
namespace {

// The access-log field `compression`: constants, so recording one allocates nothing.
inline constexpr http::FilterState::Key<http::StringFilterState> AlgorithmKey{"compression"};
const http::StringFilterState BrotliState{"br"};
const http::StringFilterState GzipState{"gzip"};

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// What decide() needs of a response head, in one pass over its fields.
struct HeadFacts {
  // By value: the view stays valid as fields are added (the map's arena does not move), a pointer
  // into the map's entries would not.
  std::optional<std::string_view> content_type;
  bool encoded = false;       // a Content-Encoding other than identity
  bool no_transform = false;  // Cache-Control: no-transform
  bool varies = false;        // Vary already names Accept-Encoding, or is "*"
};

HeadFacts scan(const http::HeaderMap& headers) {
  HeadFacts f;
  for (const http::HeaderMap::Entry& e : headers.entries()) {
    switch (e.name.size()) {
      case 4:
        if (e.name == "vary") {
          f.varies = f.varies || http::headerListContains(e.value, "accept-encoding") ||
                     http::headerListContains(e.value, "*");
        }
        break;
      case 12:
        if (!f.content_type && e.name == "content-type") f.content_type = e.value;
        break;
      case 13:
        if (e.name == "cache-control") {
          f.no_transform = f.no_transform || http::headerListContains(e.value, "no-transform");
        }
        break;
      case 16:
        if (e.name == "content-encoding") {
          const std::string_view v = trimOws(e.value);
          f.encoded = f.encoded || (!v.empty() && !http::equalsIgnoreCase(v, "identity"));
        }
        break;
      default:
        break;
    }
  }
  return f;
}

// A strong validator becomes weak: the encoded bytes are not the upstream's.
void weakenETag(http::HeaderMap& headers) {
  const auto& entries = headers.entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].name != "etag") continue;
    const std::string_view v = trimOws(entries[i].value);
    if (!v.empty() && v.front() == '"') headers.setValueAt(i, "W/" + std::string(v));
  }
}

// The declared body length, or -1 when unknown (absent or not a plain number).
int64_t declaredLength(const http::ResponseHeaders& response) {
  const std::string_view* v = response.headers.get("content-length");
  if (v == nullptr) return -1;
  const std::string_view s = trimOws(*v);
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || n < 0) return -1;
  return n;
}

std::optional<Coding> chosenFor(const http::RequestHeaders& request,
                                const CompressionConfig& config) {
  return chooseCoding(parseAcceptEncoding(request.headers), config.algorithms);
}

}  // namespace

std::string_view resultName(Result result) {
  switch (result) {
    case Result::Brotli:
      return "br";
    case Result::Gzip:
      return "gzip";
    case Result::Status:
      return "status";
    case Result::Encoded:
      return "encoded";
    case Result::NoTransform:
      return "no_transform";
    case Result::ContentType:
      return "content_type";
    case Result::Head:
      return "head";
    case Result::Range:
      return "range";
    case Result::TooSmall:
      return "too_small";
    case Result::NotAccepted:
      return "not_accepted";
    case Result::Error:
      return "error";
  }
  return "";
}

CompressionMetrics::CompressionMetrics(prometheus::Registry& registry) {
  auto& responses_family =
      prometheus::BuildCounter()
          .Name("switchyard_compression_responses_total")
          .Help(
              "Responses the compression filter saw, by result: the algorithm it compressed "
              "with (br, gzip), or why it did not (status, encoded, no_transform, "
              "content_type, head, range, too_small, not_accepted, error)")
          .Register(registry);
  for (size_t i = 0; i < ResultCount; ++i) {
    responses[i] =
        &responses_family.Add({{"result", std::string(resultName(static_cast<Result>(i)))}});
  }
  auto& in_family = prometheus::BuildCounter()
                        .Name("switchyard_compression_input_bytes_total")
                        .Help("Response body bytes compressed, before compression, by algorithm")
                        .Register(registry);
  auto& out_family = prometheus::BuildCounter()
                         .Name("switchyard_compression_output_bytes_total")
                         .Help("Compressed response body bytes sent, by algorithm")
                         .Register(registry);
  for (size_t i = 0; i < CodingCount; ++i) {
    const std::string name(codingName(static_cast<Coding>(i)));
    input_bytes[i] = &in_family.Add({{"algorithm", name}});
    output_bytes[i] = &out_family.Add({{"algorithm", name}});
  }
}

nlohmann::json CompressionRouteConfig::toJson() const { return compression::toJson(config_); }

http::FilterHeadersStatus CompressionFilter::encodeHeaders(http::ResponseHeaders& response,
                                                           bool end_stream) {
  const auto* route = static_cast<const CompressionRouteConfig*>(callbacks_->routeConfig());
  const CompressionConfig& config = route != nullptr ? route->config() : config_;
  if (!config.enabled) return http::FilterHeadersStatus::Continue;
  count(decide(response, end_stream, config));
  return http::FilterHeadersStatus::Continue;
}

Result CompressionFilter::decide(http::ResponseHeaders& response, bool end_stream,
                                 const CompressionConfig& config) {
  const int status = response.status;
  if (status < 200 || status == 204 || status == 206) return Result::Status;
  http::HeaderMap& headers = response.headers;
  const HeadFacts facts = scan(headers);
  if (status == 304) {
    // The 200 this revalidates was (or would have been) compressed for such a request: its
    // Vary and weak validator hold for the 304 too (RFC 9110 section 15.4.5).
    if (!facts.encoded && !facts.no_transform &&
        (!facts.content_type || config.content_types.matches(*facts.content_type)) &&
        chosenFor(callbacks_->requestHeaders(), config)) {
      if (!facts.varies) headers.add("vary", "Accept-Encoding");
      weakenETag(headers);
    }
    return Result::Status;
  }
  if (facts.encoded) return Result::Encoded;
  if (facts.no_transform) return Result::NoTransform;
  if (!facts.content_type || !config.content_types.matches(*facts.content_type)) {
    return Result::ContentType;
  }

  // The representation is compressible: what is sent now depends on Accept-Encoding.
  if (!facts.varies) headers.add("vary", "Accept-Encoding");
  const http::RequestHeaders& request = callbacks_->requestHeaders();
  if (request.isHead()) return Result::Head;
  if (request.headers.get("range") != nullptr) return Result::Range;
  const int64_t length = declaredLength(response);
  if (end_stream || (length >= 0 && static_cast<uint64_t>(length) < config.min_bytes)) {
    return Result::TooSmall;
  }
  const std::optional<Coding> coding = chosenFor(request, config);
  if (!coding) return Result::NotAccepted;
  encoder_ = makeEncoder(*coding, {config.gzip_level, config.brotli_quality});
  if (encoder_ == nullptr) return Result::Error;
  coding_ = *coding;

  headers.set("content-encoding", codingName(*coding));
  headers.remove("content-length");
  headers.remove("accept-ranges");
  response.content_length = -1;
  weakenETag(headers);
  callbacks_->streamInfo().filter_state.setConstant(
      AlgorithmKey, *coding == Coding::Brotli ? BrotliState : GzipState);
  return *coding == Coding::Brotli ? Result::Brotli : Result::Gzip;
}

http::FilterDataStatus CompressionFilter::encodeData(http::Buffer& data, bool end_stream) {
  if (encoder_ == nullptr) return http::FilterDataStatus::Continue;
  bytes_in_ += data.length();
  http::Buffer out;
  const bool ok = encoder_->encode(data, out, end_stream);
  data.move(out);
  bytes_out_ += data.length();
  if (!ok) {
    // The body cannot be completed: the client must see a broken response, not a short one.
    count(Result::Error);
    publishBytes();
    encoder_.reset();
    data.drain(data.length());
    callbacks_->sendLocalReply(
        {500, "Internal Server Error", "compressing the response failed", {}});
    return http::FilterDataStatus::Continue;
  }
  if (end_stream) {
    publishBytes();
    encoder_.reset();
  }
  return http::FilterDataStatus::Continue;
}

void CompressionFilter::onDestroy() {
  if (encoder_ != nullptr) {
    publishBytes();
    encoder_.reset();
  }
}

void CompressionFilter::publishBytes() {
  const size_t i = static_cast<size_t>(coding_);
  if (bytes_in_ > 0) metrics_.input_bytes[i]->Increment(static_cast<double>(bytes_in_));
  if (bytes_out_ > 0) metrics_.output_bytes[i]->Increment(static_cast<double>(bytes_out_));
  bytes_in_ = 0;
  bytes_out_ = 0;
}

http::StreamFilterPtr CompressionFilterFactory::create(WorkerContext& /*worker*/,
                                                       WorkerLocal* /*local*/) const {
  return std::make_unique<CompressionFilter>(config_, *metrics_);
}

nlohmann::json toJson(const CompressionConfig& config) {
  nlohmann::json algorithms = nlohmann::json::array();
  for (Coding c : config.algorithms) algorithms.push_back(std::string(codingName(c)));
  return {{"enabled", config.enabled},       {"algorithms", std::move(algorithms)},
          {"min_bytes", config.min_bytes},   {"content_types", config.content_types.patterns()},
          {"gzip_level", config.gzip_level}, {"brotli_quality", config.brotli_quality}};
}

nlohmann::json CompressionFilterFactory::toJson() const { return compression::toJson(config_); }

RouteFilterConfigPtr CompressionFilterFactory::parseRouteConfig(
    const YAML::Node& node, const std::string& path, const RouteFilterConfig* parent) const {
  const CompressionConfig& base =
      parent != nullptr ? static_cast<const CompressionRouteConfig*>(parent)->config() : config_;
  return std::make_shared<const CompressionRouteConfig>(parseCompressionConfig(node, path, base));
}

FilterFactoryPtr buildCompressionFilter(const YAML::Node& node, BuildContext& ctx) {
  return std::make_shared<const CompressionFilterFactory>(
      parseCompressionConfig(node, ctx.path, CompressionConfig{}), ctx.metrics);
}

void registerCompressionFilter(FilterRegistry& registry) {
  registry.add("compression", buildCompressionFilter);
}

}  // namespace switchyard::filters::compression
