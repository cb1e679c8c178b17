#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/common/time.h"
#include "proxy/http/filter_state.h"

namespace switchyard::config {
struct DeprecationPolicy;
}

namespace switchyard::http {

struct RequestHeaders;

// Told about each upstream attempt of a request (the connection manager traces them). Called by
// the router on the worker's thread; the stream owns the observer.
class AttemptObserver {
 public:
  virtual ~AttemptObserver() = default;
  // Before the attempt's request head goes out (or fails to): may rewrite headers, e.g. the
  // traceparent of the attempt's span. `endpoint` is empty when no connection was obtained.
  virtual void onAttemptStart(RequestHeaders& request, std::string_view cluster,
                              std::string_view endpoint) = 0;
  // The attempt is over: `status` is the upstream's response status, 0 without one; `error`
  // says what went wrong when it failed ("" on a response).
  virtual void onAttemptEnd(int status, std::string_view error) = 0;
};

// What is known about one request as it moves through the proxy. Owned by the stream; filters
// read and add to it; metrics, access logs and spans are made from it when the stream ends.
struct StreamInfo {
  common::MonotonicTime start{};
  std::string correlation_id;
  std::string_view listener;         // name of the listener that accepted the request
  std::string_view forwarded_proto;  // X-Forwarded-Proto to send upstream
  std::string route_name;            // empty until routed
  std::string version;               // resolved API version, empty for unversioned routes
  std::string cluster;               // the cluster chosen for the request
  // Set when the resolved route or version is deprecated; owned by the configuration snapshot
  // the stream runs under, which outlives the stream.
  const config::DeprecationPolicy* deprecation = nullptr;
  std::string downstream_address;
  int response_code = 0;
  // What the route version's RequestObserver records instead of response_code when not 0: the
  // failure of the version's own attempt when its fallback version answered the client.
  int observed_status = 0;
  bool local_reply = false;
  uint64_t request_body_bytes = 0;
  uint64_t response_body_bytes = 0;
  uint32_t upstream_attempts = 0;
  common::Duration upstream_duration{0};  // summed over the attempts
  std::string trace_id;                   // hex; empty when tracing is off
  AttemptObserver* attempt_observer = nullptr;
  // What filters recorded about the request (see filter_state.h); its log values go into the
  // access-log line and the server span.
  FilterState filter_state;
};

}  // namespace switchyard::http
