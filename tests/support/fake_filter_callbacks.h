#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "filters/registry.h"
#include "proxy/common/random.h"
#include "proxy/common/time.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/filter.h"

namespace switchyard::test {

// StreamFilterCallbacks for filter unit tests: a stream with no connection behind it. It records
// what the filter asked for (local replies, continue*() calls, the response of a terminal
// filter, flow-control calls) and owns the stream's request headers, StreamInfo, a
// SimulatedDispatcher over a SimulatedTimeSource, and a SeededRandom, so tests are deterministic:
// time moves only through advance().
//
// attach() stands in for the filter manager: it sets the callbacks of the filters under test and,
// like the manager, runs their onLocalReply() hooks (in attach order) before a local reply is
// recorded.
class FakeFilterCallbacks : public http::StreamFilterCallbacks {
 public:
  explicit FakeFilterCallbacks(uint64_t seed = 42);

  void attach(http::StreamFilter& filter);
  // What a filter factory's create() gets on this fake worker.
  filters::WorkerContext& workerContext() { return worker_context_; }

  // Moves simulated time forward, firing the timers that fall due.
  void advance(common::Duration d) { dispatcher_.advance(d); }
  common::SimulatedTimeSource& timeSource() { return time_; }
  event::SimulatedDispatcher& simulatedDispatcher() { return dispatcher_; }
  common::SeededRandom& seededRandom() { return random_; }

  // Run after the call has been recorded, e.g. to drive the next filter of a hand-built chain.
  void onContinueDecoding(std::function<void()> fn) { on_continue_decoding_ = std::move(fn); }
  void onContinueEncoding(std::function<void()> fn) { on_continue_encoding_ = std::move(fn); }

  const std::vector<http::LocalReply>& localReplies() const { return local_replies_; }
  // The last local reply; the test must have checked that there is one.
  const http::LocalReply& lastLocalReply() const { return local_replies_.back(); }
  int continueDecodingCalls() const { return continue_decoding_calls_; }
  int continueEncodingCalls() const { return continue_encoding_calls_; }
  // What a terminal filter sent downstream through encodeHeaders()/encodeData().
  const http::ResponseHeaders* encodedHeaders() const { return encoded_headers_.get(); }
  const std::string& encodedBody() const { return encoded_body_; }
  bool encodeEnded() const { return encode_ended_; }
  int requestBodyCalls() const { return request_body_calls_; }
  http::DownstreamWatermarkCallbacks* downstreamWatermarkCallbacks() const {
    return watermark_callbacks_;
  }
  int upstreamAboveHighWatermarkCalls() const { return upstream_above_high_watermark_calls_; }
  int upstreamBelowLowWatermarkCalls() const { return upstream_below_low_watermark_calls_; }

  // http::StreamFilterCallbacks
  event::Dispatcher& dispatcher() override { return dispatcher_; }
  common::Random& random() override { return random_; }
  http::StreamInfo& streamInfo() override { return stream_info_; }
  http::RequestHeaders& requestHeaders() override { return request_headers_; }
  void continueDecoding() override;
  void continueEncoding() override;
  void sendLocalReply(http::LocalReply reply) override;
  void encodeHeaders(http::ResponseHeadersPtr headers, bool end_stream) override;
  void encodeData(http::Buffer& data, bool end_stream) override;
  void setDownstreamWatermarkCallbacks(http::DownstreamWatermarkCallbacks* cb) override {
    watermark_callbacks_ = cb;
  }
  void onUpstreamAboveWriteBufferHighWatermark() override {
    ++upstream_above_high_watermark_calls_;
  }
  void onUpstreamBelowWriteBufferLowWatermark() override { ++upstream_below_low_watermark_calls_; }
  void requestBody() override { ++request_body_calls_; }
  const http::RouteFilterConfig* routeConfig() override { return route_config_; }
  // Records the replacement as the encoded response (headers and body).
  void replaceResponse(http::ResponseHeadersPtr headers, http::Buffer& body) override;

  // What routeConfig() returns (not owned).
  void setRouteConfig(const http::RouteFilterConfig* config) { route_config_ = config; }
  int replaceResponseCalls() const { return replace_response_calls_; }
  void reselectCluster() override { ++reselect_cluster_calls_; }
  int reselectClusterCalls() const { return reselect_cluster_calls_; }

 private:
  common::SimulatedTimeSource time_;
  event::SimulatedDispatcher dispatcher_;
  common::SeededRandom random_;
  filters::WorkerContext worker_context_;
  http::RequestHeaders request_headers_;
  http::StreamInfo stream_info_;

  std::vector<http::StreamFilter*> filters_;
  std::function<void()> on_continue_decoding_;
  std::function<void()> on_continue_encoding_;
  std::vector<http::LocalReply> local_replies_;
  int continue_decoding_calls_ = 0;
  int continue_encoding_calls_ = 0;
  http::ResponseHeadersPtr encoded_headers_;
  std::string encoded_body_;
  bool encode_ended_ = false;
  int request_body_calls_ = 0;
  http::DownstreamWatermarkCallbacks* watermark_callbacks_ = nullptr;
  int upstream_above_high_watermark_calls_ = 0;
  int upstream_below_low_watermark_calls_ = 0;
  const http::RouteFilterConfig* route_config_ = nullptr;
  int replace_response_calls_ = 0;
  int reselect_cluster_calls_ = 0;
};

}  // namespace switchyard::test
