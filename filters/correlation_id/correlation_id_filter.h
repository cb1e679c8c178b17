#pragma once

// correlation_id: gives every request one id that the upstream, the client, the logs, the spans
// and every local reply agree on.
//
// decodeHeaders: the id is the first well-formed value (1..max_length characters of
//   [A-Za-z0-9._:-], surrounding blanks ignored) of the configured header, then of each `accept`
//   header in order; failing that, a UUIDv4 from the worker's Random when `generate` is on. It is
//   stored in StreamInfo::correlation_id and set on the request under the configured header (one
//   value, replacing whatever was there). With no id (generate off), a malformed value of the
//   configured header is removed rather than forwarded.
// encodeHeaders: with `echo`, sets the configured header on the response.
// onLocalReply: the request may not have reached decodeHeaders (rejected by the codec), so the id
//   is found or made the same way from callbacks().requestHeaders() when StreamInfo has none yet;
//   with `echo` the header is added to the reply. The proxy writes the id into the reply body.
// Never stops iteration. Allocates nothing but the id string and the header entries it adds.

#include <memory>
#include <string_view>

#include "filters/correlation_id/config.h"
#include "filters/registry.h"
#include "proxy/http/filter.h"

namespace switchyard::filters::correlation_id {

using CorrelationIdConfigConstSharedPtr = std::shared_ptr<const CorrelationIdConfig>;

// True if `id` is 1..max_length characters, each of [A-Za-z0-9._:-].
bool isWellFormedId(std::string_view id, size_t max_length);

class CorrelationIdFilter final : public http::StreamFilter {
 public:
  // `config` belongs to the factory, which the configuration snapshot a stream runs under keeps
  // alive for as long as the stream: no reference count is touched per request.
  explicit CorrelationIdFilter(const CorrelationIdConfig& config) : config_(&config) {}

  http::FilterHeadersStatus decodeHeaders(http::RequestHeaders& request, bool end_stream) override;
  http::FilterHeadersStatus encodeHeaders(http::ResponseHeaders& response,
                                          bool end_stream) override;
  void onLocalReply(http::LocalReply& reply) override;

 private:
  // The first well-formed incoming id in `headers`, trimmed of blanks; empty if there is none.
  std::string_view findIncoming(const http::HeaderMap& headers) const;
  // Fills StreamInfo::correlation_id from `headers`, else generates one when configured.
  // Returns false when the stream is left without an id.
  bool resolveId(const http::HeaderMap& headers);

  const CorrelationIdConfig* config_;
};

class CorrelationIdFilterFactory final : public FilterFactory {
 public:
  explicit CorrelationIdFilterFactory(CorrelationIdConfig config)
      : config_(std::make_shared<const CorrelationIdConfig>(std::move(config))) {}

  http::StreamFilterPtr create(WorkerContext& ctx, WorkerLocal* local) const override;
  nlohmann::json toJson() const override;
  const CorrelationIdConfig& config() const { return *config_; }

 private:
  const CorrelationIdConfigConstSharedPtr config_;
};

// The filter's FilterBuildFn: parses `node` (at ctx.path) and returns its factory.
FilterFactoryPtr buildCorrelationIdFilter(const YAML::Node& node, BuildContext& ctx);

// Adds "correlation_id" to `registry`.
void registerCorrelationIdFilter(FilterRegistry& registry);

}  // namespace switchyard::filters::correlation_id
