#include "proxy/http/filter_manager.h"

#include <nlohmann/json.hpp>

namespace switchyard::http {

class FilterManager::ActiveFilter final : public StreamFilterCallbacks {
 public:
  ActiveFilter(FilterManager& parent, StreamFilterPtr filter, size_t index, bool terminal)
      : parent_(parent), filter_(std::move(filter)), index_(index), terminal_(terminal) {}

  event::Dispatcher& dispatcher() override { return parent_.callbacks_.dispatcher(); }
  common::Random& random() override { return parent_.callbacks_.random(); }
  StreamInfo& streamInfo() override { return parent_.info_; }
  RequestHeaders& requestHeaders() override {
    return parent_.request_headers_ ? *parent_.request_headers_ : parent_.empty_request_;
  }
  void continueDecoding() override { parent_.resumeDecoding(index_); }
  void continueEncoding() override { parent_.resumeEncoding(index_); }
  void sendLocalReply(LocalReply reply) override {
    // The replying filter's own encode hooks run too, as for any response it lets through.
    parent_.sendLocalReplyFrom(
        terminal_ ? static_cast<long>(index_) - 1 : static_cast<long>(index_), std::move(reply));
  }
  void encodeHeaders(ResponseHeadersPtr headers, bool end_stream) override {
    parent_.encodeHeadersFrom(static_cast<long>(index_) - 1, std::move(headers), end_stream);
  }
  void encodeData(Buffer& data, bool end_stream) override {
    parent_.encodeDataFrom(static_cast<long>(index_) - 1, data, end_stream);
  }
  void setDownstreamWatermarkCallbacks(DownstreamWatermarkCallbacks* cb) override {
    parent_.watermark_callbacks_ = cb;
    if (cb != nullptr && parent_.downstream_above_high_ && parent_.backpressure_holds_ == 0) {
      parent_.watermark_delivered_ = true;
      cb->onAboveWriteBufferHighWatermark();
    }
  }
  void holdDownstreamBackpressure(bool hold) override { parent_.holdBackpressure(hold); }
  void onUpstreamAboveWriteBufferHighWatermark() override {
    parent_.callbacks_.readDisableDownstream(true);
  }
  void onUpstreamBelowWriteBufferLowWatermark() override {
    parent_.callbacks_.readDisableDownstream(false);
  }
  void requestBody() override { parent_.callbacks_.sendContinue(); }
  void skipEncoding() override { encodes_ = false; }
  void reselectCluster() override { parent_.callbacks_.reselectCluster(); }
  const RouteFilterConfig* routeConfig() override {
    return parent_.route_configs_ != nullptr && !terminal_ ? parent_.route_configs_[index_]
                                                           : nullptr;
  }
  void replaceResponse(ResponseHeadersPtr headers, Buffer& body) override {
    parent_.replaceResponse(index_, std::move(headers), body);
  }

  FilterManager& parent_;
  StreamFilterPtr filter_;
  const size_t index_;
  const bool terminal_;
  bool encodes_ = true;  // false after skipEncoding()
};

FilterManager::FilterManager(FilterManagerCallbacks& callbacks, StreamInfo& info,
                             uint64_t max_buffered_bytes)
    : callbacks_(callbacks), info_(info), max_buffered_bytes_(max_buffered_bytes) {}

FilterManager::~FilterManager() { destroy(); }

void FilterManager::reserve(size_t filters) { filters_.reserve(filters); }

void FilterManager::addFilter(StreamFilterPtr filter) { place(std::move(filter), false); }

void FilterManager::setTerminalFilter(StreamFilterPtr filter) {
  place(std::move(filter), true);
  has_terminal_ = true;
}

void FilterManager::place(StreamFilterPtr filter, bool terminal) {
  // The wrappers live in the vector itself (one allocation per stream, with reserve()). Filters
  // are only placed before the stream runs, so when the vector grows it is enough to point every
  // filter at its wrapper's new address.
  const bool grows = filters_.size() == filters_.capacity();
  ActiveFilter& active = filters_.emplace_back(*this, std::move(filter), filters_.size(), terminal);
  if (grows) {
    for (ActiveFilter& f : filters_) f.filter_->setCallbacks(f);
  } else {
    active.filter_->setCallbacks(active);
  }
}

void FilterManager::decodeHeaders(RequestHeadersPtr headers, bool end_stream) {
  request_headers_ = std::move(headers);
  headers_end_stream_ = end_stream;
  decode_buffer_end_ = end_stream;
  iterateDecodeHeaders(0);
}

void FilterManager::iterateDecodeHeaders(size_t start) {
  for (size_t i = start; i < filters_.size(); ++i) {
    decoded_upto_ = static_cast<long>(i);
    const auto status = filters_[i].filter_->decodeHeaders(*request_headers_, headers_end_stream_);
    if (local_reply_sent_ || destroyed_) return;
    // The terminal filter has no filter after it to hold back: its StopIteration only says it
    // has taken the request over, and the body goes straight to it.
    if (status == FilterHeadersStatus::StopIteration && !filters_[i].terminal_) {
      decode_stopped_ = true;
      return;
    }
  }
  decode_headers_done_ = true;
  if (!headers_end_stream_ && (!decode_buffer_.empty() || decode_buffer_end_)) {
    Buffer data;
    data.move(decode_buffer_);
    iterateDecodeData(0, data, decode_buffer_end_);
  }
}

void FilterManager::decodeData(Buffer& data, bool end_stream) {
  if (local_reply_sent_ || destroyed_) {
    data.drain(data.length());
    return;
  }
  info_.request_body_bytes += data.length();
  if (!decode_headers_done_) {
    decode_buffer_.move(data);
    decode_buffer_end_ = end_stream;
    if (decode_buffer_.length() > max_buffered_bytes_) {
      sendLocalReply({413,
                      "Content Too Large",
                      "the request body is larger than the configured buffer limit",
                      {}});
    }
    return;
  }
  iterateDecodeData(0, data, end_stream);
}

void FilterManager::iterateDecodeData(size_t start, Buffer& data, bool end_stream) {
  for (size_t i = start; i < filters_.size(); ++i) {
    const bool stopped_here = decode_data_stopped_at_ == static_cast<long>(i);
    const auto status = filters_[i].filter_->decodeData(data, end_stream);
    if (local_reply_sent_ || destroyed_) return;
    if (status == FilterDataStatus::StopIterationAndBuffer) {
      decode_data_stopped_at_ = static_cast<long>(i);
      decode_buffer_.move(data);
      decode_buffer_end_ = end_stream;
      if (decode_buffer_.length() > max_buffered_bytes_) {
        sendLocalReplyFrom(static_cast<long>(i),
                           {413,
                            "Content Too Large",
                            "the request body is larger than the configured buffer limit",
                            {}});
      }
      return;
    }
    if (stopped_here) {
      // The filter that was holding data lets it go: everything it held goes on, in order.
      decode_data_stopped_at_ = -1;
      decode_buffer_.move(data);
      data.move(decode_buffer_);
    }
  }
}

void FilterManager::resumeDecoding(size_t index) {
  if (local_reply_sent_ || destroyed_) return;
  if (!decode_headers_done_) {
    if (!decode_stopped_ || decoded_upto_ != static_cast<long>(index)) return;
    decode_stopped_ = false;
    iterateDecodeHeaders(index + 1);
    return;
  }
  if (decode_data_stopped_at_ == static_cast<long>(index)) {
    decode_data_stopped_at_ = -1;
    Buffer data;
    data.move(decode_buffer_);
    iterateDecodeData(index + 1, data, decode_buffer_end_);
  }
}

void FilterManager::encodeHeadersFrom(long start, ResponseHeadersPtr headers, bool end_stream) {
  if (destroyed_ || response_started_ || (local_reply_sent_ && encode_start_ != start)) return;
  response_headers_ = std::move(headers);
  encode_start_ = start;
  encode_headers_end_stream_ = end_stream;
  encode_buffer_end_ = end_stream;
  iterateEncodeHeaders(start);
}

void FilterManager::iterateEncodeHeaders(long start) {
  const uint32_t generation = encode_generation_;
  for (long i = start; i >= 0; --i) {
    if (filters_[i].terminal_ || !filters_[i].encodes_) continue;
    encoding_headers_at_ = i;
    const auto status =
        filters_[i].filter_->encodeHeaders(*response_headers_, encode_headers_end_stream_);
    encoding_headers_at_ = -1;
    // A local reply made from inside the call has already been encoded in its place.
    if (destroyed_ || generation != encode_generation_) return;
    if (status == FilterHeadersStatus::StopIteration) {
      encode_stopped_ = true;
      encode_headers_stopped_at_ = i;
      return;
    }
  }
  finishEncodeHeaders();
}

void FilterManager::finishEncodeHeaders() {
  encode_headers_done_ = true;
  response_started_ = true;
  info_.response_code = response_headers_->status;
  encode_stopped_ = false;
  callbacks_.encodeHeadersToWire(*response_headers_, encode_headers_end_stream_);
  if (encode_headers_end_stream_) {
    response_complete_ = true;
    return;
  }
  if (!encode_buffer_.empty() || encode_buffer_end_) {
    // Data that arrived while the headers were held has not been through any filter yet.
    Buffer data;
    data.move(encode_buffer_);
    iterateEncodeData(encode_start_, data, encode_buffer_end_);
  }
}

void FilterManager::encodeDataFrom(long start, Buffer& data, bool end_stream) {
  if (destroyed_ || response_complete_ || (replaced_at_ >= 0 && start >= replaced_at_)) {
    data.drain(data.length());
    return;
  }
  if (!encode_headers_done_) {
    encode_buffer_.move(data);
    encode_buffer_end_ = end_stream;
    if (encode_buffer_.length() > max_buffered_bytes_) callbacks_.resetStream();
    return;
  }
  iterateEncodeData(start, data, end_stream);
}

void FilterManager::iterateEncodeData(long start, Buffer& data, bool end_stream) {
  const uint32_t generation = encode_generation_;
  for (long i = start; i >= 0; --i) {
    if (filters_[i].terminal_ || !filters_[i].encodes_) continue;
    const bool stopped_here = encode_data_stopped_at_ == i;
    const auto status = filters_[i].filter_->encodeData(data, end_stream);
    if (destroyed_ || generation != encode_generation_) return;
    if (status == FilterDataStatus::StopIterationAndBuffer) {
      encode_data_stopped_at_ = i;
      encode_buffer_.move(data);
      encode_buffer_end_ = end_stream;
      if (encode_buffer_.length() > max_buffered_bytes_) callbacks_.resetStream();
      return;
    }
    if (stopped_here) {
      encode_data_stopped_at_ = -1;
      encode_buffer_.move(data);
      data.move(encode_buffer_);
    }
  }
  info_.response_body_bytes += data.length();
  if (end_stream) response_complete_ = true;
  callbacks_.encodeDataToWire(data, end_stream);
}

void FilterManager::resumeEncoding(size_t index) {
  if (destroyed_) return;
  const long i = static_cast<long>(index);
  if (!encode_headers_done_) {
    if (!encode_stopped_ || encode_headers_stopped_at_ != i) return;
    encode_stopped_ = false;
    iterateEncodeHeaders(i - 1);
    return;
  }
  if (encode_data_stopped_at_ == i) {
    encode_data_stopped_at_ = -1;
    Buffer data;
    data.move(encode_buffer_);
    iterateEncodeData(i - 1, data, encode_buffer_end_);
  }
}

void FilterManager::replaceResponse(size_t index, ResponseHeadersPtr headers, Buffer& body) {
  const long i = static_cast<long>(index);
  // Only the filter holding the response head may replace it, and only before it went out.
  if (destroyed_ || response_started_ || encode_headers_done_ || !response_headers_) return;
  if (encode_stopped_ ? encode_headers_stopped_at_ != i : encoding_headers_at_ != i) return;
  replaced_at_ = i;
  info_.local_reply = false;
  // The replacing filter may still hold a reference to the old head (encodeHeaders' argument).
  replaced_headers_ = std::move(response_headers_);
  response_headers_ = std::move(headers);
  encode_buffer_.drain(encode_buffer_.length());
  encode_data_stopped_at_ = -1;
  encode_buffer_.move(body);
  encode_headers_end_stream_ = encode_buffer_.empty();
  encode_buffer_end_ = true;
  // The filters after this one (toward the upstream) have seen the old response; encoding goes on
  // from the filter before this one.
  encode_start_ = i - 1;
}

void FilterManager::sendLocalReply(LocalReply reply) {
  sendLocalReplyFrom(decoded_upto_, std::move(reply));
}

void FilterManager::sendLocalReplyFrom(long encode_start, LocalReply reply) {
  if (destroyed_) return;
  if (response_started_ || local_reply_sent_) {
    if (!response_complete_) callbacks_.resetStream();
    return;
  }
  local_reply_sent_ = true;
  ++encode_generation_;
  info_.local_reply = true;
  for (auto& f : filters_) f.filter_->onLocalReply(reply);
  if (destroyed_) return;

  auto headers = makeResponseHeaders();
  headers->status = reply.status;
  std::string body = problemJson(reply.status, reply.title, reply.detail, info_.correlation_id,
                                 reply.type, reply.members);
  headers->headers.add("content-type", "application/problem+json");
  headers->headers.add("content-length", std::to_string(body.size()));
  for (auto& e : reply.headers.entries()) headers->headers.add(e.name, e.value);
  const bool head = request_headers_ && request_headers_->isHead();

  // Encode filters that have not seen the request (after decoded_upto_) are skipped.
  long start = std::min(encode_start, decoded_upto_);
  if (start >= static_cast<long>(filters_.size())) start = static_cast<long>(filters_.size()) - 1;
  encode_buffer_.drain(encode_buffer_.length());
  encode_stopped_ = false;
  encode_headers_done_ = false;
  encode_start_ = start;
  response_headers_ = std::move(headers);
  encode_headers_end_stream_ = head;
  encode_buffer_end_ = true;
  if (!head) encode_buffer_.add(body);
  iterateEncodeHeaders(start);
}

void FilterManager::onDownstreamAboveWriteBufferHighWatermark() {
  downstream_above_high_ = true;
  if (watermark_callbacks_ != nullptr && !destroyed_ && backpressure_holds_ == 0 &&
      !watermark_delivered_) {
    watermark_delivered_ = true;
    watermark_callbacks_->onAboveWriteBufferHighWatermark();
  }
}

void FilterManager::onDownstreamBelowWriteBufferLowWatermark() {
  downstream_above_high_ = false;
  if (watermark_callbacks_ != nullptr && !destroyed_ && watermark_delivered_) {
    watermark_delivered_ = false;
    watermark_callbacks_->onBelowWriteBufferLowWatermark();
  }
}

void FilterManager::holdBackpressure(bool hold) {
  if (hold) {
    ++backpressure_holds_;
    return;
  }
  if (backpressure_holds_ == 0) return;
  // A watermark that went high meanwhile reaches the upstream side now.
  if (--backpressure_holds_ == 0 && downstream_above_high_)
    onDownstreamAboveWriteBufferHighWatermark();
}

void FilterManager::destroy() {
  if (destroyed_) return;
  destroyed_ = true;
  for (auto& f : filters_) f.filter_->onDestroy();
}

std::string problemJson(int status, std::string_view title, std::string_view detail,
                        std::string_view correlation_id, std::string_view type,
                        const nlohmann::json& members) {
  nlohmann::json j = members.is_object() ? members : nlohmann::json::object();
  j["type"] = type.empty() ? std::string("about:blank") : std::string(type);
  j["title"] = title.empty() ? std::string(reasonPhrase(status)) : std::string(title);
  j["status"] = status;
  if (!detail.empty()) j["detail"] = std::string(detail);
  if (!correlation_id.empty()) j["correlation_id"] = std::string(correlation_id);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace switchyard::http
