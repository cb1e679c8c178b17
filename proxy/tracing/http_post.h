#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

#include "proxy/common/time.h"
#include "proxy/tracing/config.h"

namespace switchyard::tracing {

struct PostOutcome {
  bool ok = false;    // a 2xx status arrived
  int status = 0;     // 0 when no status line arrived
  std::string error;  // why it failed, for logs and the health page; "" when ok
};

// One `POST <path>` of `body` as application/json to `endpoint` over a new blocking-style TCP
// connection (Connection: close), returning once the status line has arrived. Meant for a
// background thread, never an event loop. Connecting, sending and receiving the response head
// each get `timeout`, measured with `time`. `abort` is checked at least every 25 ms while
// waiting: once it is true the call gives up at once, so a shutdown is not held up by a hung
// collector. The host must be a numeric address (no name lookup).
PostOutcome postJson(const CollectorEndpoint& endpoint, std::string_view body,
                     std::chrono::milliseconds timeout, const common::TimeSource& time,
                     const std::atomic<bool>& abort);

}  // namespace switchyard::tracing
