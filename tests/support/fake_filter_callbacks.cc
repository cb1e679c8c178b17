#include "tests/support/fake_filter_callbacks.h"

namespace switchyard::test {

FakeFilterCallbacks::FakeFilterCallbacks(uint64_t seed)
    : dispatcher_(time_), random_(seed), worker_context_{dispatcher_, random_, time_,
                                                         0,           nullptr, nullptr} {
  stream_info_.start = time_.monotonicNow();
}

void FakeFilterCallbacks::attach(http::StreamFilter& filter) {
  filter.setCallbacks(*this);
  filters_.push_back(&filter);
}

void FakeFilterCallbacks::continueDecoding() {
  ++continue_decoding_calls_;
  if (on_continue_decoding_) on_continue_decoding_();
}

void FakeFilterCallbacks::continueEncoding() {
  ++continue_encoding_calls_;
  if (on_continue_encoding_) on_continue_encoding_();
}

void FakeFilterCallbacks::sendLocalReply(http::LocalReply reply) {
  for (http::StreamFilter* filter : filters_) filter->onLocalReply(reply);
  stream_info_.local_reply = true;
  stream_info_.response_code = reply.status;
  local_replies_.push_back(std::move(reply));
}

void FakeFilterCallbacks::encodeHeaders(http::ResponseHeadersPtr headers, bool end_stream) {
  stream_info_.response_code = headers->status;
  encoded_headers_ = std::move(headers);
  encode_ended_ = end_stream;
}

void FakeFilterCallbacks::encodeData(http::Buffer& data, bool end_stream) {
  encoded_body_ += data.toString();
  stream_info_.response_body_bytes += data.length();
  data.drain(data.length());
  encode_ended_ = end_stream;
}

void FakeFilterCallbacks::replaceResponse(http::ResponseHeadersPtr headers, http::Buffer& body) {
  ++replace_response_calls_;
  encoded_headers_ = std::move(headers);
  encoded_body_ = body.toString();
  body.drain(body.length());
  encode_ended_ = true;
}

}  // namespace switchyard::test
