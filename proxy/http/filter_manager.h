#pragma once

#include <memory>
#include <string>
#include <vector>

#include "proxy/common/pooled.h"
#include "proxy/http/filter.h"

namespace switchyard::http {

// Where the filter chain's output goes: implemented by the downstream stream.
class FilterManagerCallbacks {
 public:
  virtual ~FilterManagerCallbacks() = default;
  virtual void encodeHeadersToWire(ResponseHeaders& headers, bool end_stream) = 0;
  virtual void encodeDataToWire(Buffer& data, bool end_stream) = 0;
  // The response cannot be completed (a local reply after the response started, or the
  // terminal filter gave up mid-body): the downstream connection must be reset.
  virtual void resetStream() = 0;
  virtual void readDisableDownstream(bool disable) = 0;
  virtual void sendContinue() = 0;
  virtual event::Dispatcher& dispatcher() = 0;
  virtual common::Random& random() = 0;
  // See StreamFilterCallbacks::reselectCluster().
  virtual void reselectCluster() {}
};

// Runs one request through the configured filters and the terminal filter (the router):
// decode in configured order, encode in reverse. A filter that returns StopIteration holds the
// chain until it calls continueDecoding()/continueEncoding(); body data that arrives meanwhile
// is buffered here up to `max_buffered_bytes` (413 on the decode side, a reset on the encode
// side beyond it). Single-threaded: everything runs on the worker that owns the stream.
class FilterManager {
 public:
  FilterManager(FilterManagerCallbacks& callbacks, StreamInfo& info, uint64_t max_buffered_bytes);
  ~FilterManager();
  FilterManager(const FilterManager&) = delete;
  FilterManager& operator=(const FilterManager&) = delete;

  void reserve(size_t filters);
  void addFilter(StreamFilterPtr filter);
  void setTerminalFilter(StreamFilterPtr filter);
  // The route's configurations of the filters, one per added filter in the order added (null
  // entries for filters without one); null: none at all. Owned by the route table of the
  // stream's snapshot. Set once the request is routed.
  void setRouteConfigs(const RouteFilterConfig* const* configs) { route_configs_ = configs; }

  void decodeHeaders(RequestHeadersPtr headers, bool end_stream);
  void decodeData(Buffer& data, bool end_stream);

  // A reply made by the proxy itself (codec errors, timeouts). The filters see it through
  // onLocalReply(); the encode filters of those that have seen the request run on it.
  void sendLocalReply(LocalReply reply);

  void onDownstreamAboveWriteBufferHighWatermark();
  void onDownstreamBelowWriteBufferLowWatermark();
  // See StreamFilterCallbacks::holdDownstreamBackpressure().
  void holdBackpressure(bool hold);

  // Ends the stream: onDestroy() on every filter, once.
  void destroy();

  bool responseStarted() const { return response_started_; }
  bool responseComplete() const { return response_complete_; }
  bool localReplySent() const { return local_reply_sent_; }
  RequestHeaders* requestHeaders() { return request_headers_.get(); }

 private:
  class ActiveFilter;
  friend class ActiveFilter;

  void iterateDecodeHeaders(size_t start);
  void iterateDecodeData(size_t start, Buffer& data, bool end_stream);
  void resumeDecoding(size_t index);
  void encodeHeadersFrom(long start, ResponseHeadersPtr headers, bool end_stream);
  void iterateEncodeHeaders(long start);
  void iterateEncodeData(long start, Buffer& data, bool end_stream);
  void encodeDataFrom(long start, Buffer& data, bool end_stream);
  void resumeEncoding(size_t index);
  void sendLocalReplyFrom(long encode_start, LocalReply reply);
  void finishEncodeHeaders();
  void place(StreamFilterPtr filter, bool terminal);
  void replaceResponse(size_t index, ResponseHeadersPtr headers, Buffer& body);

  FilterManagerCallbacks& callbacks_;
  StreamInfo& info_;
  const uint64_t max_buffered_bytes_;
  // The terminal filter, if any, is last.
  std::vector<ActiveFilter, common::PoolAllocator<ActiveFilter>> filters_;
  bool has_terminal_ = false;
  const RouteFilterConfig* const* route_configs_ = nullptr;
  RequestHeadersPtr request_headers_;
  RequestHeaders empty_request_;
  ResponseHeadersPtr response_headers_;
  DownstreamWatermarkCallbacks* watermark_callbacks_ = nullptr;
  bool downstream_above_high_ = false;
  // The terminal filter heard "above high" (and not yet "below low"); holdDownstreamBackpressure()
  // holds it back while backpressure_holds_ > 0.
  bool watermark_delivered_ = false;
  uint32_t backpressure_holds_ = 0;

  // Decode state.
  bool headers_end_stream_ = false;
  bool decode_headers_done_ = false;
  bool decode_stopped_ = false;
  long decode_data_stopped_at_ = -1;
  long decoded_upto_ = -1;  // the last filter that has seen the request headers
  Buffer decode_buffer_;
  bool decode_buffer_end_ = false;

  // Encode state.
  long encode_start_ = -1;  // where the current response entered the encode chain
  bool encode_headers_end_stream_ = false;
  bool encode_headers_done_ = false;
  bool encode_stopped_ = false;
  long encode_headers_stopped_at_ = -1;
  long encode_data_stopped_at_ = -1;
  Buffer encode_buffer_;
  bool encode_buffer_end_ = false;

  bool response_started_ = false;
  bool response_complete_ = false;
  bool local_reply_sent_ = false;
  bool destroyed_ = false;
  uint32_t encode_generation_ = 0;  // bumped by a local reply, which supersedes any response
  // A filter replaced the response: body data of the old one, sent by this filter or one after
  // it, is dropped.
  long replaced_at_ = -1;
  long encoding_headers_at_ = -1;  // the filter whose encodeHeaders() is running
  ResponseHeadersPtr replaced_headers_;
};

// The problem+json body (RFC 9457) of a local reply.
std::string problemJson(int status, std::string_view title, std::string_view detail,
                        std::string_view correlation_id, std::string_view type = {},
                        const nlohmann::json& members = nullptr);

}  // namespace switchyard::http
