#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/http/filter.h"
#include "proxy/router/route_table.h"
#include "proxy/router/upstream_policy.h"
#include "proxy/upstream/conn_pool.h"

namespace switchyard::router {

// What the router needs from its worker.
struct RouterContext {
  const common::TimeSource& time;
};

// The terminal filter: sends the request upstream through the pool of the cluster the route
// decision picked (made before the filter chain ran; a request without a route or with an
// unknown version gets its 404/400 here), and streams the response back through the encode side
// of the chain, naming the cluster in the route's upstream header. With the decision's
// UpstreamPolicy (upstream_policy.h; the `retry` and `circuit_breaker` filters provide it) it
// applies, per attempt: admission control (an open breaker is a 503 with Retry-After), the
// concurrent-request and retry slots, and retries after a connect failure, a reset, a timeout or
// a retriable status, with backoff, a deadline and a replay of the buffered body, on another
// endpoint when there is one. Timeouts:
// the route's timeout runs from the start of the upstream attempt to the response head (504).
// A request that fails on a reused keep-alive connection before any response byte (the server
// closed it while idle) is sent once more on a fresh connection if it has no body.
class Router final : public http::StreamFilter,
                     public upstream::PoolCallbacks,
                     public upstream::UpstreamStreamCallbacks,
                     public http::DownstreamWatermarkCallbacks {
 public:
  // `decision` belongs to the stream and outlives the router.
  Router(RouterContext& ctx, const RouteDecision& decision) : ctx_(ctx), decision_(decision) {}
  ~Router() override;

  // http::StreamFilter
  http::FilterHeadersStatus decodeHeaders(http::RequestHeaders& headers, bool end_stream) override;
  http::FilterDataStatus decodeData(http::Buffer& data, bool end_stream) override;
  void onDestroy() override;

  // upstream::PoolCallbacks
  void onPoolReady(upstream::UpstreamConnection& conn) override;
  void onPoolFailure(upstream::PoolFailure reason, const std::string& detail,
                     size_t endpoint) override;

  // upstream::UpstreamStreamCallbacks
  void onResponseHeaders(http::ResponseHeadersPtr headers, bool end_stream) override;
  void onBody(http::Buffer& data, bool end_stream) override;
  void onCodecError(const http::CodecError& error) override;
  void onUpstreamReset(event::CloseReason reason) override;
  void onUpstreamAboveWriteBufferHighWatermark() override;
  void onUpstreamBelowWriteBufferLowWatermark() override;

  // http::DownstreamWatermarkCallbacks
  void onAboveWriteBufferHighWatermark() override;
  void onBelowWriteBufferLowWatermark() override;

 private:
  void startAttempt(std::chrono::milliseconds attempt_timeout);
  // A target with a rewrite or a fallback (Target::extras): applies the rewrite of the picked
  // cluster and arms the fallback when the request may take it.
  void setUpExtras(http::RequestHeaders& headers);
  // After an attempt failed for good (retries done): schedules the one attempt on the fallback
  // version's cluster if the version has a fallback for this failure, the request is idempotent,
  // its body can be sent again and time is left. `observed` is the status the failing version's
  // observer records. True if scheduled.
  bool tryFallback(AttemptOutcome outcome, int upstream_status, int observed);
  // Why this version could not even be tried: nothing was sent, so the whole request (its body
  // included, which is still here) can go to the fallback.
  enum class Refusal { CircuitOpen, Overloaded, NoEndpoint };
  // As tryFallback() for a request refused here before reaching the version's upstream; the
  // version's observer records a 503.
  bool tryFallbackRefused(Refusal refusal);
  // What tryFallback() and tryFallbackRefused() share once the failure is one to fall back on.
  bool scheduleFallback(int observed, bool nothing_sent);
  void startFallback();
  // An attempt failed before any of its response reached the client: retried when the policy
  // says so, else the client gets `status`.
  void attemptFailed(AttemptOutcome outcome, int upstream_status, int status, const char* title,
                     std::string detail);
  // Asks the retry policy about a failed attempt; true if a retry was scheduled.
  bool tryRetry(AttemptOutcome outcome, int upstream_status, const http::ResponseHeaders* response);
  void breakerVerdict(bool success);
  void breakerCancel();
  // Closes the current attempt's books (duration, observer); a no-op when none is open.
  void endAttempt(int status, std::string_view error);
  void sendBody(http::Buffer& data, bool end_stream);
  void onTimeout();
  void finishAttempt(int code, bool reusable);
  void releaseConnection(bool reusable);
  void resumeHeldBody();
  void fail(int status, const char* title, std::string detail);

  RouterContext& ctx_;
  const RouteDecision& decision_;
  std::chrono::milliseconds timeout_{0};
  // onDestroy() runs twice per request (the stream's end, the destructor): the common case,
  // no slot held, costs no call.
  void releaseSlots() {
    if (holds_request_slot_ || holds_retry_slot_) releaseHeldSlots();
  }
  void releaseHeldSlots();

  AdmissionControl* admission_control_ = nullptr;
  RetryStateStorage retry_storage_;  // before retry_, which lives in it
  RetryStatePtr retry_;
  bool holds_request_slot_ = false;
  bool holds_retry_slot_ = false;
  Admission admission_;
  bool verdict_pending_ = false;  // the breaker admitted this attempt and awaits its result
  http::Buffer replay_;           // the body sent on this attempt, for a retry
  bool replayable_ = false;
  size_t last_endpoint_ = upstream::ConnPool::NoEndpoint;
  std::chrono::milliseconds next_timeout_{0};
  event::TimerPtr retry_timer_;
  upstream::ConnPool* pool_ = nullptr;
  const config::ClusterConfig* cluster_ = nullptr;  // pool_'s
  http::RequestHeaders* request_ = nullptr;
  upstream::PoolHandle* pending_ = nullptr;
  upstream::UpstreamConnection* conn_ = nullptr;
  event::TimerPtr timer_;
  http::Buffer body_;  // request body received before a connection was ready
  bool request_complete_ = false;
  bool request_sent_ = false;
  bool response_started_ = false;
  bool chunked_request_ = false;
  bool retried_ = false;
  bool attempt_active_ = false;
  bool response_keep_alive_ = false;
  int response_code_ = 0;
  bool downstream_above_high_ = false;
  bool upstream_above_high_ = false;  // the connection's send buffer is over its high mark
  bool body_held_ = false;            // body_ grew past its bound before a connection came
  bool destroyed_ = false;            // onDestroy() has run
  common::MonotonicTime attempt_start_{};
  // A request that may fall back (its target has a fallback, it is idempotent) carries this;
  // others carry a null pointer, so the fallback costs them no construction.
  struct Fallback {
    const Target* from = nullptr;           // the target whose fallback applies
    bool taken = false;                     // the fallback attempt is scheduled or under way
    std::string original_path;              // before any rewrite: the fallback rewrites it anew
    common::MonotonicTime request_start{};  // the fallback keeps to the first attempt's deadline
    RouteDecision pick;
    std::chrono::milliseconds timeout{0};
    event::TimerPtr timer;
  };
  bool fellBack() const { return fallback_ != nullptr && fallback_->taken; }
  std::unique_ptr<Fallback> fallback_;
};

}  // namespace switchyard::router
