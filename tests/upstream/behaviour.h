#pragma once

// What the test upstream does with one request, decided from its path and X-Test-* headers
// alone (pure functions, no I/O), plus the process-wide failure modes driven by /control/*.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "proxy/common/http_status.h"
#include "tests/upstream/request_parser.h"

namespace switchyard::test::upstream {

struct Behaviour {
  enum class Kind {
    Default,         // 200 + JSON describing the request (also /headers and /delay/MS)
    Status,          // /status/NNN or X-Test-Status
    Bytes,           // /bytes/N: Content-Length body
    RandomBytes,     // /random-bytes/N: Content-Length body of seeded pseudo-random bytes
    Chunked,         // /chunked/N: chunked body
    CloseDelimited,  // /close-delimited/N: body ended by closing the connection
    SlowBody,        // /slow-body/N/MS: Content-Length body in 10 pieces MS apart
    Garbage,         // /garbage: not HTTP at all, then close
    BadHeader,       // /bad-header: a response with a header line that has no colon
    Reset,           // /reset: RST without answering
    Hang,            // /hang: never answer
    Echo,            // /echo: request body back, Content-Type copied
    Control,         // /control/<action>
    BadRequest,      // unparsable parameters: 400 with `error`
  };

  Kind kind = Kind::Default;
  int status = 200;
  uint64_t bytes = 0;
  uint64_t interval_ms = 0;    // SlowBody
  uint64_t delay_ms = 0;       // /delay/MS plus X-Test-Delay-Ms, applied before answering
  std::string control_action;  // Control: "fail", "stats", ...
  std::string query;           // Control: the query string of the selecting target
  std::string error;
};

// The path is taken from X-Test-Behavior when present (so a test can pick a behaviour through a
// proxy that rewrites paths), else from the request target.
Behaviour selectBehaviour(const Request& request);

// Value of `key` in a query string like "status=503&count=2", if present.
std::optional<std::string_view> queryParam(std::string_view query, std::string_view key);

// The reason phrases are the proxy's (proxy/common/http_status.h).
using common::reasonPhrase;
// 1xx, 204 and 304 never carry a body.
bool statusAllowsBody(int status);

// A mode armed for the next `count` requests, or for all of them when count < 0, until cleared.
// Shared by all worker threads, hence atomic.
class CountedMode {
 public:
  void arm(int64_t count) { remaining_.store(count < 0 ? -1 : count); }
  void clear() { remaining_.store(0); }
  // Takes one use of the mode; false when it is not armed.
  bool consume();
  int64_t remaining() const { return remaining_.load(); }

 private:
  std::atomic<int64_t> remaining_{0};
};

// State shared by every worker: identity, counters and the failure modes.
struct SharedState {
  explicit SharedState(std::string service_name) : name(std::move(service_name)) {}

  const std::string name;
  std::atomic<uint64_t> requests{0};     // non-control requests
  std::atomic<uint64_t> connections{0};  // accepted connections
  CountedMode fail;
  std::atomic<int> fail_status{503};
  CountedMode reset;

  // The failure mode applies only to paths starting with this prefix (all when empty), so a test
  // can fail a health check path while the same endpoint keeps serving everything else.
  void setFailPath(std::string_view prefix);
  bool failApplies(std::string_view path) const;

 private:
  mutable std::mutex fail_path_mutex_;
  std::string fail_path_;  // under fail_path_mutex_
};

}  // namespace switchyard::test::upstream
