#include "proxy/router/router.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>

#include "proxy/stats/stats.h"

namespace switchyard::router {

namespace {

std::chrono::milliseconds ceilMs(common::Duration d) {
  return std::chrono::ceil<std::chrono::milliseconds>(d);
}

}  // namespace

Router::~Router() { onDestroy(); }

http::FilterHeadersStatus Router::decodeHeaders(http::RequestHeaders& headers, bool end_stream) {
  if (decision_.status != 0) {
    callbacks_->sendLocalReply(
        {decision_.status, http::reasonPhrase(decision_.status), decision_.detail, {}});
    return http::FilterHeadersStatus::StopIteration;
  }
  auto& info = callbacks_->streamInfo();
  pool_ = decision_.pool;
  // The cluster's settings, without asking the pool each time.
  cluster_ = decision_.cluster != nullptr ? decision_.cluster : &pool_->config();
  const RouteEntry& route = *decision_.route;
  timeout_ = route.timeout.count() > 0 ? route.timeout : cluster_->response_timeout;
  request_ = &headers;
  request_complete_ = end_stream;

  auto& h = headers.headers;
  // One pass finds what the forwarding headers depend on.
  size_t xff = h.size();
  bool has_xfp = false;
  bool has_host = false;
  for (size_t i = 0; i < h.size(); ++i) {
    const std::string_view name = h.entries()[i].name;
    if (name.size() == 4) {
      has_host = has_host || name == "host";
    } else if (name.size() == 15) {
      if (xff == h.size() && name == "x-forwarded-for") xff = i;
    } else if (name.size() == 17) {
      has_xfp = has_xfp || name == "x-forwarded-proto";
    }
  }
  const std::string& client = info.downstream_address;
  if (xff < h.size()) {
    std::string value(h.entries()[xff].value);
    value.append(", ").append(client);
    h.setValueAt(xff, value);
  } else {
    h.add("x-forwarded-for", client);
  }
  const std::string_view proto =
      info.forwarded_proto.empty() ? std::string_view("http") : info.forwarded_proto;
  if (has_xfp) {
    h.set("x-forwarded-proto", proto);
  } else {
    h.add("x-forwarded-proto", proto);
  }
  if (headers.chunked) {
    chunked_request_ = true;
    h.add("transfer-encoding", "chunked");
  }
  if (!has_host) h.add("host", cluster_->endpoints.front().text);
  if (!decision_.target->version.empty()) h.set("x-api-version", decision_.target->version);
  if (decision_.target->extras) setUpExtras(headers);

  callbacks_->setDownstreamWatermarkCallbacks(this);
  timer_ = callbacks_->dispatcher().createTimer([this] { onTimeout(); });
  const UpstreamPolicy& policy = *decision_.policy;
  admission_control_ = policy.admission;
  if (admission_control_ != nullptr) {
    if (!admission_control_->tryStartRequest()) {
      if (fallback_ != nullptr && tryFallbackRefused(Refusal::Overloaded)) {
        return http::FilterHeadersStatus::StopIteration;
      }
      fail(503, "Service Unavailable",
           "too many concurrent requests to cluster " + cluster_->name +
               " (max_concurrent_requests " +
               std::to_string(admission_control_->maxConcurrentRequests()) + ")");
      return http::FilterHeadersStatus::StopIteration;
    }
    holds_request_slot_ = true;
  }
  std::chrono::milliseconds first_timeout = timeout_;
  if (policy.retry != nullptr) {
    const auto now = ctx_.time.monotonicNow();
    retry_ = policy.retry->newRetryState(headers, now, timeout_, retry_storage_);
    replayable_ = retry_->bodyReplayable();
    first_timeout = ceilMs(retry_->attemptTimeout(now));
  }
  startAttempt(first_timeout);
  return http::FilterHeadersStatus::StopIteration;
}

namespace {

void rewritePath(const Target& target, size_t slot, http::RequestHeaders& headers) {
  if (target.rewrites.empty()) return;
  const config::PathRewrite* rewrite = target.rewrites[slot];
  std::string path;
  if (rewrite != nullptr && rewrite->apply(headers.path, path)) headers.path = std::move(path);
}

bool idempotent(const http::RequestHeaders& request) {
  const std::string& m = request.method;
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "PUT" || m == "DELETE" ||
         request.headers.get("idempotency-key") != nullptr ||
         request.headers.get("x-operation-id") != nullptr;
}

}  // namespace

void Router::setUpExtras(http::RequestHeaders& headers) {
  const Target& target = *decision_.target;
  if (target.fallback != nullptr && idempotent(headers)) {
    fallback_ = std::make_unique<Fallback>();
    fallback_->from = &target;
    fallback_->original_path = headers.path;
    fallback_->request_start = ctx_.time.monotonicNow();
  }
  rewritePath(target, decision_.cluster_slot, headers);
}

bool Router::tryFallback(AttemptOutcome outcome, int upstream_status, int observed) {
  if (fallback_ == nullptr || fallback_->taken || response_started_) return false;
  const config::FallbackConfig& fc = *fallback_->from->fallback_config;
  bool wanted = false;
  switch (outcome) {
    case AttemptOutcome::ConnectFailure:
      wanted = fc.on_connect_failure;
      break;
    case AttemptOutcome::Reset:
      wanted = fc.on_reset;
      break;
    case AttemptOutcome::Timeout:
      wanted = fc.on_timeout;
      break;
    case AttemptOutcome::Response:
      wanted = fc.onStatus(upstream_status);
      break;
  }
  return wanted && scheduleFallback(observed, false);
}

bool Router::tryFallbackRefused(Refusal refusal) {
  if (fallback_ == nullptr || fallback_->taken || response_started_) return false;
  const config::FallbackConfig& fc = *fallback_->from->fallback_config;
  bool wanted = false;
  switch (refusal) {
    case Refusal::CircuitOpen:
      wanted = fc.on_circuit_open;
      break;
    case Refusal::Overloaded:
      wanted = fc.on_overloaded;
      break;
    case Refusal::NoEndpoint:
      wanted = fc.on_no_endpoint;
      break;
  }
  return wanted && scheduleFallback(503, true);
}

bool Router::scheduleFallback(int observed, bool nothing_sent) {
  Fallback& fb = *fallback_;
  // A body goes again only from the retry path's replay buffer, and only if all of it is there;
  // a body never sent is all still here.
  const bool has_body = request_->content_length > 0 || request_->chunked;
  if (has_body && !nothing_sent && !(retry_ && replayable_)) return false;
  const auto now = ctx_.time.monotonicNow();
  // The retry policy's overall deadline (and per-try timeout) when there is one, else what is
  // left of the route's timeout since the first attempt.
  const std::chrono::milliseconds left =
      retry_ ? ceilMs(retry_->attemptTimeout(now))
             : timeout_ -
                   std::chrono::duration_cast<std::chrono::milliseconds>(now - fb.request_start);
  if (left.count() <= 0) return false;

  const Target& to = *fb.from->fallback;
  std::string_view key = callbacks_->streamInfo().downstream_address;
  if (to.pools.size() > 1 && !to.sticky_header.empty()) {
    const std::string_view* value = request_->headers.get(to.sticky_header);
    if (value != nullptr && !value->empty()) key = *value;
  }
  RouteTable::pickCluster(to, key, fb.pick);
  fb.pick.target = &to;
  fb.taken = true;
  fb.timeout = left;
  // The version's guard sees its own failure, not the fallback's answer.
  callbacks_->streamInfo().observed_status = observed;
  if (fb.from->stats != nullptr) {
    fb.from->stats->fallbacks
        .Add({{"route", decision_.route->name}, {"from", fb.from->version}, {"to", to.version}})
        .Increment();
  }
  if (timer_) timer_->disable();
  if (!replay_.empty()) {
    http::Buffer resend;
    resend.move(replay_);
    resend.move(body_);
    body_.move(resend);
  }
  request_sent_ = false;
  // Started from the loop, once the failed attempt's connection is handed back.
  fb.timer = callbacks_->dispatcher().createTimer([this] { startFallback(); });
  fb.timer->enable(std::chrono::milliseconds(0));
  return true;
}

void Router::startFallback() {
  // The failed cluster's slots go back; the fallback cluster's admission applies from here.
  releaseSlots();
  const Fallback& fb = *fallback_;
  const Target& to = *fb.pick.target;
  pool_ = fb.pick.pool;
  cluster_ = fb.pick.cluster != nullptr ? fb.pick.cluster : &pool_->config();
  last_endpoint_ = upstream::ConnPool::NoEndpoint;
  admission_control_ = fb.pick.policy->admission;
  if (admission_control_ != nullptr) {
    if (!admission_control_->tryStartRequest()) {
      fail(503, "Service Unavailable",
           "the fallback cluster " + cluster_->name + " has too many concurrent requests");
      return;
    }
    holds_request_slot_ = true;
  }
  request_->path = fb.original_path;
  rewritePath(to, fb.pick.cluster_slot, *request_);
  request_->headers.set("x-api-version", to.version);
  startAttempt(fb.timeout);
}

void Router::startAttempt(std::chrono::milliseconds attempt_timeout) {
  const auto now = ctx_.time.monotonicNow();
  if (admission_control_ != nullptr) {
    admission_ = admission_control_->admit(now);
    if (!admission_.allowed()) {
      if (fallback_ != nullptr && tryFallbackRefused(Refusal::CircuitOpen)) return;
      const auto seconds = std::max<int64_t>(
          1, std::chrono::ceil<std::chrono::seconds>(admission_.retry_after).count());
      if (timer_) timer_->disable();
      http::LocalReply reply{503,
                             "Service Unavailable",
                             "the circuit breaker of cluster " + cluster_->name +
                                 " is open; retry in " + std::to_string(seconds) + "s",
                             {}};
      reply.headers.add("retry-after", std::to_string(seconds));
      const std::string& upstream_header = decision_.route->upstream_header;
      if (!upstream_header.empty()) reply.headers.add(upstream_header, cluster_->name);
      callbacks_->sendLocalReply(std::move(reply));
      return;
    }
    verdict_pending_ = true;
  }
  attempt_start_ = now;
  attempt_active_ = true;
  timer_->enable(attempt_timeout);
  // An answer given before newStream() returns may already have started the next attempt (a
  // write failing on a reused connection is resent at once), whose handle this call's nullptr
  // must not overwrite.
  if (upstream::PoolHandle* handle = pool_->newStream(*this, last_endpoint_)) pending_ = handle;
}

void Router::breakerVerdict(bool success) {
  if (!verdict_pending_) return;
  verdict_pending_ = false;
  admission_control_->onResult(ctx_.time.monotonicNow(), success, admission_.probe());
}

void Router::breakerCancel() {
  if (!verdict_pending_) return;
  verdict_pending_ = false;
  admission_control_->onCancelled(admission_.probe());
}

void Router::releaseHeldSlots() {
  if (holds_retry_slot_) admission_control_->endRetry();
  if (holds_request_slot_) admission_control_->endRequest();
  holds_retry_slot_ = holds_request_slot_ = false;
}

bool Router::tryRetry(AttemptOutcome outcome, int upstream_status,
                      const http::ResponseHeaders* response) {
  if (!retry_ || response_started_ || fellBack()) return false;
  const RetryDecision decision =
      retry_->onAttemptFailed(outcome, upstream_status, response, ctx_.time.monotonicNow(),
                              ctx_.time.systemNow(), callbacks_->random());
  if (!decision.retry) return false;
  if (admission_control_ != nullptr) {
    // One retry slot per request at a time: the previous retry's is given back first.
    if (holds_retry_slot_) {
      admission_control_->endRetry();
      holds_retry_slot_ = false;
    }
    if (!admission_control_->tryStartRetry()) return false;
    holds_retry_slot_ = true;
  }
  if (timer_) timer_->disable();
  // The next attempt sends again what this one sent, then whatever arrived since.
  if (!replay_.empty()) {
    http::Buffer resend;
    resend.move(replay_);
    resend.move(body_);
    body_.move(resend);
  }
  request_sent_ = false;
  next_timeout_ = ceilMs(decision.attempt_timeout);
  if (!retry_timer_) {
    retry_timer_ = callbacks_->dispatcher().createTimer([this] { startAttempt(next_timeout_); });
  }
  retry_timer_->enable(ceilMs(decision.delay));
  return true;
}

void Router::attemptFailed(AttemptOutcome outcome, int upstream_status, int status,
                           const char* title, std::string detail) {
  if (tryRetry(outcome, upstream_status, nullptr)) return;
  if (fallback_ != nullptr && tryFallback(outcome, upstream_status, status)) return;
  fail(status, title, std::move(detail));
}

void Router::endAttempt(int status, std::string_view error) {
  if (!attempt_active_) return;
  attempt_active_ = false;
  auto& info = callbacks_->streamInfo();
  info.upstream_duration += ctx_.time.monotonicNow() - attempt_start_;
  if (info.attempt_observer == nullptr) return;
  // Still waiting for the pool (a timeout, the client gone): the start was never reported.
  if (pending_ != nullptr) {
    info.attempt_observer->onAttemptStart(*request_, cluster_->name, "");
  }
  info.attempt_observer->onAttemptEnd(status, error);
}

http::FilterDataStatus Router::decodeData(http::Buffer& data, bool end_stream) {
  if (end_stream) request_complete_ = true;
  if (conn_ != nullptr) {
    sendBody(data, end_stream);
  } else {
    body_.move(data);
    if (!body_held_ && body_.length() > 64 * 1024) {
      // No connection yet: stop reading the client rather than buffer its body without bound.
      body_held_ = true;
      callbacks_->onUpstreamAboveWriteBufferHighWatermark();
    }
  }
  return http::FilterDataStatus::Continue;
}

void Router::sendBody(http::Buffer& data, bool end_stream) {
  if (replayable_ && retry_) {
    if (replay_.length() + data.length() > retry_->maxReplayBodyBytes()) {
      // Too large to keep: the body streams, and this request will not be retried.
      replayable_ = false;
      retry_->markBodyNotReplayable();
      replay_.drain(replay_.length());
    } else {
      replay_.copyFrom(data);
    }
  }
  if (chunked_request_) {
    http::Buffer out;
    http::encodeChunk(data, out);
    if (end_stream) http::encodeLastChunk(out);
    conn_->sendData(out);
  } else {
    conn_->sendData(data);
  }
  if (end_stream) request_sent_ = true;
}

void Router::onPoolReady(upstream::UpstreamConnection& conn) {
  pending_ = nullptr;
  conn_ = &conn;
  conn.attach(*this);
  conn.setExpectNoBody(request_->isHead());
  auto& info = callbacks_->streamInfo();
  ++info.upstream_attempts;
  last_endpoint_ = conn.endpointIndex();
  if (info.attempt_observer != nullptr) {
    info.attempt_observer->onAttemptStart(*request_, cluster_->name, conn.endpoint().text);
  }
  conn.sendHead(*request_);
  if (conn_ == nullptr) return;
  if (!body_.empty() || request_complete_) {
    http::Buffer data;
    data.move(body_);
    sendBody(data, request_complete_);
    if (conn_ == nullptr) return;
  }
  resumeHeldBody();
  if (request_->expect_continue && !request_complete_) callbacks_->requestBody();
  if (downstream_above_high_) conn_->readDisable(true);
}

void Router::onPoolFailure(upstream::PoolFailure reason, const std::string& detail,
                           size_t endpoint) {
  pending_ = nullptr;
  // A retry goes to another endpoint than the one that could not be reached.
  if (endpoint != upstream::NoEndpoint) last_endpoint_ = endpoint;
  auto& info = callbacks_->streamInfo();
  if (info.attempt_observer != nullptr) {
    info.attempt_observer->onAttemptStart(*request_, cluster_->name, "");
  }
  endAttempt(0, detail);
  auto& stats = pool_->stats();
  stats.requests.get(0).Increment();
  switch (reason) {
    case upstream::PoolFailure::Overflow:
    case upstream::PoolFailure::NoEndpoint:
      // A local limit, or nowhere to send it: not an upstream's answer, so no verdict and no
      // retry; the fallback version may still take it.
      breakerCancel();
      if (fallback_ != nullptr &&
          tryFallbackRefused(reason == upstream::PoolFailure::Overflow ? Refusal::Overloaded
                                                                       : Refusal::NoEndpoint)) {
        break;
      }
      fail(503, "Service Unavailable", detail);
      break;
    case upstream::PoolFailure::ConnectTimeout:
      ++info.upstream_attempts;  // an attempt on the upstream that got no connection
      pool_->reportOutcome(endpoint, upstream::UpstreamOutcome::ConnectFailure);
      breakerVerdict(false);
      attemptFailed(AttemptOutcome::ConnectFailure, 0, 504, "Gateway Timeout", detail);
      break;
    case upstream::PoolFailure::ConnectFailed:
      ++info.upstream_attempts;
      pool_->reportOutcome(endpoint, upstream::UpstreamOutcome::ConnectFailure);
      breakerVerdict(false);
      attemptFailed(AttemptOutcome::ConnectFailure, 0, 502, "Bad Gateway", detail);
      break;
  }
}

void Router::onResponseHeaders(http::ResponseHeadersPtr headers, bool end_stream) {
  if (timer_) timer_->disable();
  const int code = headers->status;
  if (admission_control_ != nullptr) breakerVerdict(!admission_control_->isFailureStatus(code));
  if (retry_ && retry_->retriableStatus(code) &&
      tryRetry(AttemptOutcome::Response, code, headers.get())) {
    // This response is dropped (its connection with it) and the request tried again.
    endAttempt(code, "");
    auto& stats = pool_->stats();
    stats.requests.get(code).Increment();
    stats.duration.observe(ctx_.time.monotonicNow() - attempt_start_);
    releaseConnection(false);
    return;
  }
  if (fallback_ != nullptr) {
    if (fallback_->taken) {
      headers->headers.set("x-switchyard-fallback", fallback_->from->fallback->version);
    } else if (tryFallback(AttemptOutcome::Response, code, code)) {
      // As for a retry: this response is dropped with its connection.
      endAttempt(code, "");
      auto& stats = pool_->stats();
      stats.requests.get(code).Increment();
      stats.duration.observe(ctx_.time.monotonicNow() - attempt_start_);
      releaseConnection(false);
      return;
    }
  }
  response_started_ = true;
  const bool keep_alive = headers->keep_alive;
  if (headers->hop_by_hop) http::stripHopByHop(headers->headers);
  const std::string& upstream_header = decision_.route->upstream_header;
  if (!upstream_header.empty()) headers->headers.set(upstream_header, cluster_->name);
  response_code_ = code;
  response_keep_alive_ = keep_alive;
  // Hand the connection back before the response completes downstream: completing it ends the
  // stream, and a stream that ends holding a connection closes it.
  if (end_stream && conn_ != nullptr) finishAttempt(code, keep_alive);
  callbacks_->encodeHeaders(std::move(headers), end_stream);
}

void Router::onBody(http::Buffer& data, bool end_stream) {
  if (end_stream && conn_ != nullptr) finishAttempt(response_code_, response_keep_alive_);
  callbacks_->encodeData(data, end_stream);
}

void Router::finishAttempt(int code, bool reusable) {
  endAttempt(code, "");
  auto& stats = pool_->stats();
  stats.requests.get(code).Increment();
  stats.duration.observe(ctx_.time.monotonicNow() - attempt_start_);
  releaseConnection(reusable && request_sent_);
}

void Router::resumeHeldBody() {
  if (!body_held_) return;
  body_held_ = false;
  callbacks_->onUpstreamBelowWriteBufferLowWatermark();
}

void Router::releaseConnection(bool reusable) {
  // Whatever paused the client's reads on our account is undone, with or without a connection.
  // The two reasons (a body held while waiting for a connection, a connection that is not
  // taking the body fast enough) each paused once: client pauses nest.
  resumeHeldBody();
  onUpstreamBelowWriteBufferLowWatermark();
  upstream::UpstreamConnection* conn = conn_;
  conn_ = nullptr;
  if (conn == nullptr) return;
  if (downstream_above_high_) conn->readDisable(false);
  pool_->release(*conn, reusable);
}

void Router::onCodecError(const http::CodecError& error) {
  endAttempt(0, error.detail);
  pool_->stats().requests.get(0).Increment();
  releaseConnection(false);
  if (response_started_) {
    fail(502, "Bad Gateway", error.detail);
    return;
  }
  breakerVerdict(false);
  attemptFailed(AttemptOutcome::Reset, 0, 502, "Bad Gateway", error.detail);
}

void Router::onUpstreamReset(event::CloseReason) {
  endAttempt(0, "the upstream connection closed before a complete response");
  upstream::UpstreamConnection* conn = conn_;
  conn_ = nullptr;  // the pool has already closed it
  onUpstreamBelowWriteBufferLowWatermark();
  // A response byte, even short of a whole head, means the server took the request.
  const bool reused = conn != nullptr && conn->reused() && !conn->responseStarted();
  const std::string& m = request_->method;
  const bool idempotent = m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE";
  if (!response_started_ && reused && !retried_ && idempotent && request_->content_length <= 0 &&
      !request_->chunked) {
    // Most likely the server closed the keep-alive connection just as we reused it: not the
    // upstream's failure, and not a retry either.
    retried_ = true;
    breakerCancel();
    startAttempt(timeout_);
    return;
  }
  pool_->stats().requests.get(0).Increment();
  if (conn != nullptr) {
    pool_->reportOutcome(conn->endpointIndex(), upstream::UpstreamOutcome::ServerError);
  }
  if (response_started_) {
    fail(502, "Bad Gateway", "the upstream connection closed before a complete response");
    return;
  }
  breakerVerdict(false);
  attemptFailed(AttemptOutcome::Reset, 0, 502, "Bad Gateway",
                "the upstream connection closed before a complete response");
}

void Router::onTimeout() {
  endAttempt(0, "timed out waiting for the response");
  pool_->stats().timeouts.Increment();
  pool_->stats().requests.get(0).Increment();
  if (pending_ != nullptr) {
    pending_->cancel();
    pending_ = nullptr;
  }
  if (conn_ != nullptr) {
    pool_->reportOutcome(conn_->endpointIndex(), upstream::UpstreamOutcome::ServerError);
  }
  releaseConnection(false);
  breakerVerdict(false);
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
      ctx_.time.monotonicNow() - attempt_start_);
  attemptFailed(AttemptOutcome::Timeout, 0, 504, "Gateway Timeout",
                "the upstream did not respond within " + std::to_string(waited.count()) + "ms");
}

void Router::fail(int status, const char* title, std::string detail) {
  if (timer_) timer_->disable();
  http::LocalReply reply{status, title, std::move(detail), {}};
  const std::string& upstream_header = decision_.route->upstream_header;
  if (!upstream_header.empty()) reply.headers.add(upstream_header, cluster_->name);
  if (fellBack()) reply.headers.add("x-switchyard-fallback", fallback_->from->fallback->version);
  callbacks_->sendLocalReply(std::move(reply));
}

void Router::onUpstreamAboveWriteBufferHighWatermark() {
  if (upstream_above_high_) return;
  upstream_above_high_ = true;
  callbacks_->onUpstreamAboveWriteBufferHighWatermark();
}

void Router::onUpstreamBelowWriteBufferLowWatermark() {
  if (!upstream_above_high_) return;
  upstream_above_high_ = false;
  callbacks_->onUpstreamBelowWriteBufferLowWatermark();
}

void Router::onAboveWriteBufferHighWatermark() {
  if (downstream_above_high_) return;
  downstream_above_high_ = true;
  if (conn_ != nullptr) conn_->readDisable(true);
}

void Router::onBelowWriteBufferLowWatermark() {
  if (!downstream_above_high_) return;
  downstream_above_high_ = false;
  if (conn_ != nullptr) conn_->readDisable(false);
}

void Router::onDestroy() {
  // The stream's end calls it, and so does the destructor: once is enough.
  if (destroyed_) return;
  destroyed_ = true;
  timer_.reset();
  retry_timer_.reset();
  fallback_.reset();
  breakerCancel();
  releaseSlots();
  endAttempt(0, "the request ended before the response (client gone)");
  if (pending_ != nullptr) {
    pending_->cancel();
    pending_ = nullptr;
  }
  // The client went away or the stream ended early: an upstream exchange still open is
  // unfinished and its connection cannot be reused.
  releaseConnection(false);
}

}  // namespace switchyard::router
