#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "proxy/common/pooled.h"
#include "proxy/common/random.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/buffer.h"
#include "proxy/http/headers.h"
#include "proxy/http/stream_info.h"

namespace switchyard::http {

enum class FilterHeadersStatus {
  // Pass the headers to the next filter.
  Continue,
  // Hold the headers (and any body that follows, buffered by the filter manager up to the body
  // limit) until this filter calls continueDecoding() / continueEncoding().
  StopIteration,
};

enum class FilterDataStatus {
  Continue,
  // Keep this chunk in the filter manager's buffer; the filter resumes with continue*().
  StopIterationAndBuffer,
};

// Raised from a filter's decodeHeaders/encodeHeaders side through its callbacks. A local reply
// ends decoding: the reply runs back through the encode side of the filters that have already
// seen the request, in reverse.
struct LocalReply {
  int status;
  std::string title;   // short, human-readable, e.g. "Too Many Requests"
  std::string detail;  // one sentence for the problem+json body
  HeaderMap headers;   // extra response headers (Retry-After, RateLimit, ...)
  // The problem type URI (RFC 9457); empty: "about:blank".
  std::string type = {};
  // More members of the problem+json object, e.g. {"violated-policies": [...]}; null: none. The
  // members above win over these.
  nlohmann::json members = {};
};

// A filter's configuration for one route or one version of a route, parsed by the filter (see
// filters/registry.h); the stream finds it through StreamFilterCallbacks::routeConfig().
// Immutable, owned by the configuration snapshot the stream runs under.
class RouteFilterConfig {
 public:
  virtual ~RouteFilterConfig() = default;
  // For the admin /config dump.
  virtual nlohmann::json toJson() const = 0;
};

// Upstream-side flow control for the terminal filter: the connection manager tells the router
// when the client is not reading fast enough, so the router stops reading the upstream.
class DownstreamWatermarkCallbacks {
 public:
  virtual ~DownstreamWatermarkCallbacks() = default;
  virtual void onAboveWriteBufferHighWatermark() = 0;
  virtual void onBelowWriteBufferLowWatermark() = 0;
};

// What a filter may ask of its stream. All calls on the worker's thread. The callbacks object
// outlives the filter's use of it (until onDestroy()).
class StreamFilterCallbacks {
 public:
  virtual ~StreamFilterCallbacks() = default;
  virtual event::Dispatcher& dispatcher() = 0;
  virtual common::Random& random() = 0;
  virtual StreamInfo& streamInfo() = 0;
  virtual RequestHeaders& requestHeaders() = 0;

  // Resumes the decode chain after this filter's StopIteration, with the next filter.
  virtual void continueDecoding() = 0;
  // Resumes the encode chain after this filter's StopIteration, with the next filter.
  virtual void continueEncoding() = 0;
  // Ends the request with a reply made by the proxy (problem+json body carrying the
  // correlation id). Safe to call from decodeHeaders or later, including from a timer.
  virtual void sendLocalReply(LocalReply reply) = 0;

  // For the terminal filter (the router): start the response, which runs through the encode side
  // of every filter in reverse.
  virtual void encodeHeaders(ResponseHeadersPtr headers, bool end_stream) = 0;
  virtual void encodeData(Buffer& data, bool end_stream) = 0;
  // For the terminal filter: flow control in both directions.
  virtual void setDownstreamWatermarkCallbacks(DownstreamWatermarkCallbacks* cb) = 0;
  virtual void onUpstreamAboveWriteBufferHighWatermark() = 0;
  virtual void onUpstreamBelowWriteBufferLowWatermark() = 0;
  // Ask the client for the body (sends "100 Continue" when the client asked for it).
  virtual void requestBody() = 0;

  // This filter's configuration for the route (or version) the request was routed to; null when
  // the route has none for it (the filter's own configuration applies) or no route matched. The
  // filter knows the concrete type: it parsed it.
  virtual const RouteFilterConfig* routeConfig() = 0;
  // Decode side: this filter has nothing to do with the response of this stream, so its encode
  // hooks are not called for it (a filter that may reply itself must not call it: its reply
  // passes through its own encode hooks). Saves the calls on the way out; optional.
  virtual void skipEncoding() {}
  // Encode side: replaces the response this filter is encoding (a local reply from the router or
  // another filter, or an upstream response whose body has not gone out) with `headers` and
  // `body`, e.g. a cached copy instead of a 503. Only from encodeHeaders() or while this filter
  // holds the headers after returning StopIteration, before anything reached the client. The new
  // response continues with the filters before this one, as the old one would have (after a
  // StopIteration, once continueEncoding() is called); whatever body the old response still had
  // coming is dropped.
  virtual void replaceResponse(ResponseHeadersPtr headers, Buffer& body) = 0;
  // Encode side: while held, a client that reads slowly does not slow the upstream: its write
  // buffer's high watermark is not passed on to the terminal filter, so the response keeps being
  // read and buffers for the client instead (the caller bounds how much: the cache holds it only
  // while storing a response of at most max_object_bytes). Releasing passes on a watermark that
  // is still high. Holds nest; a stream that ends releases its holds.
  virtual void holdDownstreamBackpressure(bool /*hold*/) {}
  // Decode side, before the request went upstream: the filter state now holds what a split
  // sticky by a claim keys on (a VerifiedIdentity, see verified_identity.h), so the proxy picks
  // the request's cluster again (StreamInfo::cluster changes). Filters after this one see the new
  // cluster; nothing happens for a split that is not sticky by a claim.
  virtual void reselectCluster() {}
};

// One filter instance per request. A filter overrides only the hooks it needs; defaults pass
// everything through. Filters are created on the worker thread and never shared across threads.
class StreamFilter : public common::ThreadPooled {
 public:
  virtual ~StreamFilter() = default;
  virtual void setCallbacks(StreamFilterCallbacks& callbacks) { callbacks_ = &callbacks; }

  virtual FilterHeadersStatus decodeHeaders(RequestHeaders&, bool /*end_stream*/) {
    return FilterHeadersStatus::Continue;
  }
  virtual FilterDataStatus decodeData(Buffer&, bool /*end_stream*/) {
    return FilterDataStatus::Continue;
  }
  virtual FilterHeadersStatus encodeHeaders(ResponseHeaders&, bool /*end_stream*/) {
    return FilterHeadersStatus::Continue;
  }
  virtual FilterDataStatus encodeData(Buffer&, bool /*end_stream*/) {
    return FilterDataStatus::Continue;
  }
  // Called on every filter of the chain before the proxy replies locally (also for requests
  // the codec rejected before any filter saw them), so a filter can stamp its headers.
  virtual void onLocalReply(LocalReply&) {}
  // The stream is ending (completed, reset or the client went away). Cancel timers and any
  // outstanding asynchronous work; callbacks must not be used after this returns.
  virtual void onDestroy() {}

 protected:
  StreamFilterCallbacks* callbacks_ = nullptr;
};
using StreamFilterPtr = std::unique_ptr<StreamFilter>;

}  // namespace switchyard::http
