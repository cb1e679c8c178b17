#include "proxy/server/http_connection_manager.h"

#include "proxy/accesslog/format.h"
#include "proxy/accesslog/writer.h"
#include "proxy/common/logging.h"
#include "proxy/common/pooled.h"
#include "proxy/event/memory.h"
#include "proxy/http/verified_identity.h"
#include "proxy/server/worker.h"
#include "proxy/tracing/exporter.h"
#include "proxy/tracing/propagation.h"

namespace switchyard::server {
namespace {

// How long a keep-alive connection waits for its next request before it is parked (see
// IdleConnections), and how many connections a worker holds before it parks them at once.
constexpr std::chrono::milliseconds kParkAfter{1000};
constexpr uint32_t kParkAtOnceAbove = 512;

}  // namespace

class HttpConnectionManager::ActiveStream final : public http::FilterManagerCallbacks,
                                                  public http::AttemptObserver,
                                                  public event::DeferredDeletable,
                                                  public common::ThreadPooled {
 public:
  ActiveStream(HttpConnectionManager& parent)
      : parent_(parent),
        filter_manager_(*this, info_, parent.listener_.config.max_request_body_bytes) {
    const common::TimeSource& time = parent.worker_.dispatcher().timeSource();
    info_.start = time.monotonicNow();
    // The wall-clock start is only for spans and access-log lines.
    const Observability& obs = parent.worker_.observability();
    if (obs.sampler != nullptr || obs.access_log != nullptr) start_time_ = time.systemNow();
    info_.downstream_address = parent.peer_;
    info_.listener = parent.listener_.config.name;
    info_.forwarded_proto = parent.forwarded_proto_;
    Worker& w = parent.worker_;
    snapshot_ = w.snapshot();
    const auto& filters = snapshot_->stream_filters;
    filter_manager_.reserve(filters.size() + 1);
    for (const WorkerSnapshot::StreamFilter& f : filters) {
      if (http::StreamFilterPtr filter = f.factory->create(w.filterContext(), f.local)) {
        filter_manager_.addFilter(std::move(filter));
      } else {
        // A filter with nothing to do for this request: a pass-through keeps the positions that
        // route configurations are indexed by.
        filter_manager_.addFilter(std::make_unique<http::StreamFilter>());
      }
    }
    filter_manager_.setTerminalFilter(
        std::make_unique<router::Router>(w.routerContext(), decision_));
  }

  // Routes the request before the filters see it: they read the route, version, cluster and
  // deprecation policy from StreamInfo.
  void route(const http::RequestHeaders& request) {
    snapshot_->routes->resolve(request, info_.downstream_address, decision_);
    if (decision_.route == nullptr) return;
    info_.route_name = decision_.route->name;
    if (decision_.target == nullptr) {
      route_stats_ = decision_.route->unknown_stats;
      return;
    }
    route_stats_ = decision_.target->stats;
    if (!decision_.target->filter_configs.empty()) {
      filter_manager_.setRouteConfigs(decision_.target->filter_configs.data());
    }
    info_.version = decision_.target->version;
    info_.deprecation = decision_.target->deprecation;
    info_.cluster =
        decision_.cluster != nullptr ? decision_.cluster->name : decision_.pool->config().name;
  }

  // http::FilterManagerCallbacks: a filter verified the request's identity.
  void reselectCluster() override {
    const router::Target* target = decision_.target;
    if (target == nullptr || target->sticky_claim.empty() || target->pools.size() < 2) return;
    const std::string_view claim = http::verifiedClaim(info_.filter_state, target->sticky_claim);
    router::RouteTable::pickCluster(
        *target, claim.empty() ? std::string_view(info_.downstream_address) : claim, decision_);
    info_.cluster =
        decision_.cluster != nullptr ? decision_.cluster->name : decision_.pool->config().name;
  }

  // Continues the caller's trace (or starts one) when tracing is on; every upstream attempt then
  // gets its own span id in traceparent.
  void startTrace(const http::RequestHeaders& request) {
    const Observability& obs = parent_.worker_.observability();
    if (obs.sampler == nullptr) return;
    trace_ = tracing::extractServerContext(request.headers, *obs.sampler, random());
    tracing_ = true;
    info_.trace_id = tracing::toHex(trace_.trace_id);
    info_.attempt_observer = this;
  }

  // http::AttemptObserver
  void onAttemptStart(http::RequestHeaders& request, std::string_view cluster,
                      std::string_view endpoint) override {
    attempt_ = tracing::childContext(trace_, random());
    tracing::injectContext(attempt_, request.headers);
    attempt_start_ = parent_.worker_.dispatcher().timeSource().systemNow();
    attempt_cluster_ = cluster;
    attempt_endpoint_ = endpoint;
  }
  void onAttemptEnd(int status, std::string_view error) override {
    tracing::BatchSpanExporter* exporter = parent_.worker_.observability().exporter;
    if (!attempt_.sampled || exporter == nullptr) return;
    const http::RequestHeaders* request = filter_manager_.requestHeaders();
    const std::string method = request != nullptr ? request->method : "";
    tracing::Span span =
        tracing::makeSpan(attempt_, method, tracing::SpanKind::Client, attempt_start_);
    span.end = parent_.worker_.dispatcher().timeSource().systemNow();
    span.setAttribute("http.request.method", method);
    if (!attempt_endpoint_.empty()) {
      const size_t colon = attempt_endpoint_.rfind(':');
      span.setAttribute("server.address", attempt_endpoint_.substr(0, colon));
      if (colon != std::string::npos) {
        span.setAttribute("server.port",
                          static_cast<int64_t>(std::atoi(attempt_endpoint_.c_str() + colon + 1)));
      }
    }
    if (request != nullptr) span.setAttribute("url.path", request->pathWithoutQuery());
    if (status > 0) span.setAttribute("http.response.status_code", static_cast<int64_t>(status));
    span.setAttribute("switchyard.cluster", attempt_cluster_);
    span.setAttribute("switchyard.attempt", static_cast<int64_t>(++attempt_count_));
    if (!error.empty()) {
      span.setAttribute("error.type", status > 0 ? std::to_string(status) : "upstream_error");
      span.setError(std::string(error));
    } else if (status >= 500) {
      span.setAttribute("error.type", std::to_string(status));
      span.setError("upstream answered " + std::to_string(status));
    }
    exporter->submit(std::move(span));
  }

  // The request is over (answered, or abandoned by the client): its span and access-log line.
  void finish() {
    if (finished_) return;
    finished_ = true;
    const Observability& obs = parent_.worker_.observability();
    if (obs.access_log == nullptr && !(tracing_ && trace_.sampled && obs.exporter != nullptr)) {
      return;
    }
    const common::TimeSource& time = parent_.worker_.dispatcher().timeSource();
    const http::RequestHeaders* request = filter_manager_.requestHeaders();
    static const std::string none;
    const std::string& method = request != nullptr ? request->method : none;
    if (tracing_ && trace_.sampled && obs.exporter != nullptr) {
      const std::string route_prefix = decision_.route != nullptr ? decision_.route->prefix : "";
      tracing::Span span =
          tracing::makeSpan(trace_, route_prefix.empty() ? method : method + " " + route_prefix,
                            tracing::SpanKind::Server, start_time_);
      span.end = time.systemNow();
      span.setAttribute("http.request.method", method);
      if (request != nullptr) {
        span.setAttribute("url.path", request->pathWithoutQuery());
        span.setAttribute("network.protocol.version", request->http_minor == 0 ? "1.0" : "1.1");
        if (const std::string_view* ua = request->headers.get("user-agent")) {
          span.setAttribute("user_agent.original", *ua);
        }
      }
      if (!route_prefix.empty()) span.setAttribute("http.route", route_prefix);
      if (info_.response_code > 0) {
        span.setAttribute("http.response.status_code", static_cast<int64_t>(info_.response_code));
      }
      span.setAttribute("client.address", info_.downstream_address);
      span.setAttribute("switchyard.correlation_id", info_.correlation_id);
      span.setAttribute("switchyard.route", info_.route_name);
      span.setAttribute("switchyard.version", info_.version);
      span.setAttribute("switchyard.cluster", info_.cluster);
      span.setAttribute("switchyard.upstream_attempts",
                        static_cast<int64_t>(info_.upstream_attempts));
      span.setAttribute("switchyard.local_reply", info_.local_reply);
      info_.filter_state.forEachLogValue(
          [&span](std::string_view name, const common::FieldValue& value) {
            const std::string key = "switchyard." + std::string(name);
            std::visit([&](const auto& v) { span.setAttribute(key, v); }, value);
          });
      if (info_.response_code >= 500) {
        span.setAttribute("error.type", std::to_string(info_.response_code));
        span.setError("answered " + std::to_string(info_.response_code));
      } else if (info_.response_code == 0) {
        span.setAttribute("error.type", "aborted");
        span.setError("the client went away before the response was complete");
      }
      obs.exporter->submit(std::move(span));
    }
    if (obs.access_log != nullptr) {
      accesslog::AccessLogEntry e;
      e.time = start_time_;
      e.correlation_id = info_.correlation_id;
      e.trace_id = info_.trace_id;
      e.method = method;
      if (request != nullptr) {
        e.path = request->path;
        if (const std::string_view* ua = request->headers.get("user-agent")) e.user_agent = *ua;
      }
      e.route = info_.route_name;
      e.version = info_.version;
      e.cluster = info_.cluster;
      e.status = info_.response_code;
      e.request_bytes = info_.request_body_bytes;
      e.response_bytes = info_.response_body_bytes;
      e.duration = time.monotonicNow() - info_.start;
      if (info_.upstream_attempts > 0) e.upstream_duration = info_.upstream_duration;
      e.attempts = info_.upstream_attempts;
      info_.filter_state.forEachLogValue(
          [&e](std::string_view name, const common::FieldValue& value) {
            e.fields.emplace_back(std::string(name), value);
          });
      e.client = info_.downstream_address;
      obs.access_log->write(accesslog::formatAccessLogLine(e));
    }
  }

  void encodeHeadersToWire(http::ResponseHeaders& response, bool end_stream) override {
    auto& h = response.headers;
    const int status = response.status;
    const bool no_body = head_request_ || status < 200 || status == 204 || status == 304;
    bool close = parent_.draining_ || !keep_alive_ || !parent_.request_complete_ ||
                 parent_.worker_.draining();
    const uint32_t max_requests = parent_.listener_.config.max_requests_per_connection;
    if (max_requests > 0 && parent_.requests_ >= max_requests) close = true;
    if (!no_body && h.get("content-length") == nullptr) {
      if (http_minor_ >= 1) {
        h.add("transfer-encoding", "chunked");
        chunked_ = true;
      } else {
        close = true;  // an HTTP/1.0 client reads to the end of the connection
      }
    }
    if (close) {
      h.set("connection", "close");
    } else if (http_minor_ == 0) {
      h.set("connection", "keep-alive");
    }
    close_after_ = close;
    parent_.conn_.writeWith([&](http::Buffer& out) { http::encodeResponseHead(response, out); });
    if (end_stream) parent_.onStreamComplete();
  }

  void encodeDataToWire(http::Buffer& data, bool end_stream) override {
    if (head_request_) {
      data.drain(data.length());
    } else if (chunked_) {
      http::Buffer out;
      http::encodeChunk(data, out);
      if (end_stream) http::encodeLastChunk(out);
      parent_.conn_.write(out);
    } else {
      parent_.conn_.write(data);
    }
    if (end_stream) parent_.onStreamComplete();
  }

  void resetStream() override { parent_.closeNow(event::Connection::CloseType::Reset); }
  void readDisableDownstream(bool disable) override { parent_.conn_.readDisable(disable); }
  void sendContinue() override {
    if (!expect_continue_ || sent_continue_ || filter_manager_.responseStarted()) return;
    sent_continue_ = true;
    parent_.conn_.write(std::string_view("HTTP/1.1 100 Continue\r\n\r\n"));
  }
  event::Dispatcher& dispatcher() override { return parent_.worker_.dispatcher(); }
  common::Random& random() override { return parent_.worker_.random(); }

  HttpConnectionManager& parent_;
  WorkerSnapshotPtr snapshot_;  // first: the filters and the router use what it owns
  router::RouteDecision decision_;
  stats::RouteStats* route_stats_ = nullptr;  // null: the request never matched a route
  common::SystemTime start_time_{};           // set when tracing or the access log is on
  tracing::SpanContext trace_;                // the server span's (valid when tracing_)
  tracing::SpanContext attempt_;              // the current upstream attempt's client span
  common::SystemTime attempt_start_;
  std::string attempt_cluster_;
  std::string attempt_endpoint_;
  uint32_t attempt_count_ = 0;
  bool tracing_ = false;
  bool finished_ = false;
  http::StreamInfo info_;
  http::FilterManager filter_manager_;
  bool head_request_ = false;
  bool keep_alive_ = false;
  bool expect_continue_ = false;
  bool sent_continue_ = false;
  bool chunked_ = false;
  bool close_after_ = true;
  int http_minor_ = 1;
};

HttpConnectionManager::HttpConnectionManager(Worker& worker, ListenerShared& listener, int fd)
    : HttpConnectionManager(worker, listener, fd, event::peerAddress(fd), 0) {
  listener_.active_connections.Increment();
  if (listener_.config.tls) startTls();
}

void HttpConnectionManager::startTls() {
  const config::Config& cfg = *worker_.snapshot()->config;
  const size_t i = listener_.index;
  // The listeners cannot change on a reload, so the same index names the same listener.
  const config::ListenerTlsConfig& tls = i < cfg.listeners.size() && cfg.listeners[i].tls
                                             ? *cfg.listeners[i].tls
                                             : *listener_.config.tls;
  conn_.startTls(tls.context->newSsl(), tls.context);
  handshaking_ = true;
  forwarded_proto_ = "https";
  timer_mode_ = TimerMode::Handshake;
  timer_->enable(tls.handshake_timeout);
}

void HttpConnectionManager::onConnected() {
  if (!handshaking_) return;
  handshaking_ = false;
  // Once per handshake (a few hundred microseconds of CPU already): the family's lock and lookup
  // are nothing beside it. Both labels are bounded by the versions and suites OpenSSL offers.
  if (listener_.tls_handshakes != nullptr) {
    const char* version = conn_.tlsVersion();
    const char* cipher = conn_.tlsCipher();
    listener_.tls_handshakes
        ->Add({{"listener", listener_.config.name},
               {"version", version != nullptr ? version : "unknown"},
               {"cipher", cipher != nullptr ? cipher : "unknown"}})
        .Increment();
  }
  timer_mode_ = TimerMode::Headers;
  timer_->enable(listener_.config.request_headers_timeout);
}

void HttpConnectionManager::tlsHandshakeFailed(event::TlsFailure failure) {
  handshaking_ = false;
  if (failure == event::TlsFailure::None) return;
  SY_LOG(Debug, "listener %s: TLS handshake with %s failed (%s): %.*s",
         listener_.config.name.c_str(), peer_.c_str(), event::tlsFailureName(failure),
         static_cast<int>(conn_.tlsError().size()), conn_.tlsError().data());
  if (prometheus::Counter* c = listener_.tls_failures[static_cast<size_t>(failure)]) {
    c->Increment();
  }
}

HttpConnectionManager::HttpConnectionManager(Worker& worker, ListenerShared& listener, int fd,
                                             std::string peer, uint32_t requests)
    : worker_(worker),
      listener_(listener),
      conn_(worker.dispatcher().base(), fd, false, *this),
      parser_(http::Http1Parser::Kind::Request,
              http::CodecLimits{listener.config.max_request_headers_bytes,
                                listener.config.max_request_body_bytes}),
      peer_(std::move(peer)),
      forwarded_proto_(listener.config.forwarded_proto),
      requests_(requests) {
  parser_.setRequestCallbacks(this);
  timer_ = worker.dispatcher().createTimer([this] { onTimer(); });
  // A new connection must send its first request head in time, like any other.
  timer_mode_ = TimerMode::Headers;
  timer_->enable(listener_.config.request_headers_timeout);
}

HttpConnectionManager::~HttpConnectionManager() {
  if (stream_) {
    stream_->filter_manager_.destroy();
    stream_->finish();
  }
  if (parked_) return;  // the connection lives on in IdleConnections
  listener_.connectionClosed();
}

HttpConnectionManager::ActiveStream& HttpConnectionManager::newStream() {
  stream_ = std::make_unique<ActiveStream>(*this);
  ++requests_;
  request_complete_ = false;
  return *stream_;
}

void HttpConnectionManager::onReadReady(http::Buffer& input) {
  if (closed_) return;
  if (stream_ && parser_.messageComplete()) {
    // A pipelined request waits for the current response; bound what we hold for it.
    if (input.length() > listener_.config.max_request_headers_bytes && !pipeline_paused_) {
      pipeline_paused_ = true;
      conn_.readDisable(true);
    }
    return;
  }
  dispatchInput();
}

void HttpConnectionManager::dispatchInput() {
  const bool was_idle = parser_.idle();
  parser_.dispatch(conn_.input());
  // Closed, or closing after an answer: no timer for a next request.
  if (closed_ || conn_.closing()) return;
  if (was_idle && !stream_ && parser_.messageInProgress() && timer_mode_ != TimerMode::Headers) {
    // The first bytes of a new request: the head must now arrive in time.
    timer_mode_ = TimerMode::Headers;
    timer_->enable(listener_.config.request_headers_timeout);
  }
}

void HttpConnectionManager::onRequestHeaders(http::RequestHeadersPtr headers, bool end_stream) {
  ActiveStream& s = newStream();
  s.head_request_ = headers->isHead();
  s.keep_alive_ = headers->keep_alive;
  s.expect_continue_ = headers->expect_continue;
  s.http_minor_ = headers->http_minor;
  request_complete_ = end_stream;
  if (!end_stream && listener_.config.request_timeout.count() > 0) {
    timer_mode_ = TimerMode::Request;
    timer_->enable(listener_.config.request_timeout);
  } else if (timer_mode_ != TimerMode::None) {
    timer_mode_ = TimerMode::None;
    timer_->disable();
  }
  const uint64_t buffer_limit = listener_.overload.max_buffer_bytes_per_worker;
  if (buffer_limit != 0 && static_cast<uint64_t>(event::threadEventBytes()) > buffer_limit) {
    shed();
    return;
  }
  if (headers->hop_by_hop) http::stripHopByHop(headers->headers);
  if (headers->underscore_names && !underscoreNames(*headers)) return;
  s.route(*headers);
  s.startTrace(*headers);
  s.filter_manager_.decodeHeaders(std::move(headers), end_stream);
}

bool HttpConnectionManager::underscoreNames(http::RequestHeaders& headers) {
  // A backend that folds '_' into '-' (CGI, WSGI) would read `Transfer_Encoding` as a second
  // framing header, or `X_User_Id` as a header a filter had checked or set.
  listener_.underscore_headers.Increment();
  switch (listener_.config.headers_with_underscores) {
    case config::ListenerConfig::Underscores::Allow:
      return true;
    case config::ListenerConfig::Underscores::Drop:
      headers.headers.removeIf([](const http::HeaderMap::Entry& e) {
        return e.name.find('_') != std::string_view::npos;
      });
      return true;
    case config::ListenerConfig::Underscores::Reject:
      break;
  }
  worker_.rejectedStats(listener_.index, 400).Increment();
  stream_->keep_alive_ = false;
  draining_ = true;
  parser_.stop();
  timer_mode_ = TimerMode::None;
  timer_->disable();
  stream_->filter_manager_.sendLocalReply(
      {400, http::reasonPhrase(400), "header names with an underscore are not accepted", {}});
  return false;
}

void HttpConnectionManager::shed() {
  // Requests already admitted go on; new ones wait for the memory to come back, and the
  // connection closes so that its own buffers go too.
  listener_.shed.Increment();
  worker_.rejectedStats(listener_.index, 503).Increment();
  stream_->keep_alive_ = false;
  draining_ = true;
  parser_.stop();
  timer_mode_ = TimerMode::None;
  timer_->disable();
  http::HeaderMap headers;
  headers.add("retry-after", std::to_string(listener_.overload.retry_after.count() / 1000));
  stream_->filter_manager_.sendLocalReply(
      {503, http::reasonPhrase(503), "the proxy is overloaded; retry later", std::move(headers)});
}

void HttpConnectionManager::evict() {
  if (!waitingForRequest()) return;
  closeNow(event::Connection::CloseType::NoFlush);
}

void HttpConnectionManager::onBody(http::Buffer& data, bool end_stream) {
  if (!stream_) return;
  if (end_stream) {
    request_complete_ = true;
    if (timer_mode_ == TimerMode::Request) {
      timer_mode_ = TimerMode::None;
      timer_->disable();
    }
  }
  stream_->filter_manager_.decodeData(data, end_stream);
}

void HttpConnectionManager::onCodecError(const http::CodecError& error) {
  if (closed_) return;
  if (stream_ && stream_->filter_manager_.responseStarted()) {
    worker_.rejectedStats(listener_.index, error.status).Increment();
    closeNow(event::Connection::CloseType::Reset);
    return;
  }
  rejectRequest(error.status, error.detail);
}

void HttpConnectionManager::rejectRequest(int status, std::string_view detail) {
  worker_.rejectedStats(listener_.index, status).Increment();
  // Past a framing error or a timeout the connection cannot be trusted with another request.
  draining_ = true;
  parser_.stop();
  timer_mode_ = TimerMode::None;
  timer_->disable();
  ActiveStream& s = stream_ ? *stream_ : newStream();
  s.keep_alive_ = false;
  s.filter_manager_.sendLocalReply({status, http::reasonPhrase(status), std::string(detail), {}});
}

void HttpConnectionManager::onStreamComplete() {
  std::unique_ptr<ActiveStream> stream = std::move(stream_);
  const http::StreamInfo& info = stream->info_;
  auto& rs = stream->route_stats_ != nullptr ? *stream->route_stats_ : worker_.unmatchedStats();
  rs.requests.get(info.response_code).Increment();
  const common::MonotonicTime now = worker_.dispatcher().timeSource().monotonicNow();
  rs.duration.observe(now - info.start);
  const router::Target* target = stream->decision_.target;
  if (target != nullptr && (target->observer != nullptr || !target->cluster_observers.empty())) {
    const int status = info.observed_status != 0 ? info.observed_status : info.response_code;
    if (target->observer != nullptr) target->observer->record(now, status, now - info.start);
    const size_t slot = stream->decision_.cluster_slot;
    if (slot < target->cluster_observers.size() && target->cluster_observers[slot] != nullptr) {
      target->cluster_observers[slot]->record(now, status, now - info.start);
    }
  }
  const bool close = stream->close_after_;
  stream->filter_manager_.destroy();
  stream->finish();
  worker_.dispatcher().deferredDelete(std::move(stream));
  if (close || closed_) {
    // Answered before the whole request was read (an error, or an early upstream answer): the
    // client may still be sending.
    if (!request_complete_) {
      lingerClose();
    } else {
      closeNow(event::Connection::CloseType::FlushWrite);
    }
    return;
  }
  parser_.resumeNextMessage();
  if (pipeline_paused_) {
    pipeline_paused_ = false;
    conn_.readDisable(false);
  }
  if (!conn_.input().empty()) {
    // Parse the next pipelined request from the event loop, not from inside this response.
    timer_mode_ = TimerMode::Headers;
    timer_->enable(listener_.config.request_headers_timeout);
    if (!resume_timer_)
      resume_timer_ = worker_.dispatcher().createTimer([this] { dispatchInput(); });
    resume_timer_->enable(std::chrono::milliseconds(0));
    return;
  }
  // Idle. A connection waiting for its next request keeps little more than its socket once it
  // is parked: at once when this worker holds many connections (the memory matters more than
  // the few hundred instructions of making this object again), else after a second of silence,
  // so that clients sending back to back never pay for it.
  // (The response is usually still in this turn's write batch: parking waits for the next turn.)
  const std::chrono::milliseconds idle = listener_.config.idle_timeout;
  if (idle > kParkAfter) {
    timer_mode_ = TimerMode::IdlePark;
    park_delay_ =
        worker_.activeConnections() > kParkAtOnceAbove ? std::chrono::milliseconds(0) : kParkAfter;
    timer_->enable(park_delay_);
  } else {
    timer_mode_ = TimerMode::Idle;
    timer_->enable(idle);
  }
}

bool HttpConnectionManager::park(std::chrono::milliseconds idle_for) {
  if (closed_ || draining_ || stream_ || pipeline_paused_ || !parser_.idle() ||
      !conn_.input().empty() || conn_.outputLength() > 0) {
    return false;
  }
  const int fd = conn_.releaseFd();
  if (fd < 0) return false;
  closed_ = true;
  parked_ = true;
  timer_->disable();
  if (resume_timer_) resume_timer_->disable();
  worker_.parkConnection(*this, listener_, fd, std::move(peer_), requests_, idle_for);
  return true;
}

void HttpConnectionManager::onTimer() {
  switch (timer_mode_) {
    case TimerMode::IdlePark:
      // park_delay_ of the idle timeout has passed; the rest is counted from now.
      if (park(listener_.config.idle_timeout - park_delay_)) return;
      timer_mode_ = TimerMode::Idle;
      timer_->enable(listener_.config.idle_timeout - park_delay_);
      return;
    case TimerMode::Idle:
    case TimerMode::None:
      closeNow(event::Connection::CloseType::NoFlush);
      return;
    case TimerMode::Handshake:
      // A plaintext client still being told off counts as what it is.
      tlsHandshakeFailed(conn_.tlsFailure() == event::TlsFailure::Plaintext
                             ? event::TlsFailure::Plaintext
                             : event::TlsFailure::Timeout);
      closeNow(event::Connection::CloseType::NoFlush);
      return;
    case TimerMode::Headers:
      // A head that has started must finish in time (408); a connection that never sent one
      // is just closed.
      if (!stream_ && parser_.messageInProgress()) {
        rejectRequest(408, "the request head was not received in time");
      } else {
        closeNow(event::Connection::CloseType::NoFlush);
      }
      return;
    case TimerMode::Request:
      rejectRequest(408, "the request body was not received in time");
      return;
  }
}

void HttpConnectionManager::startDrain() {
  draining_ = true;
  if (!stream_) closeNow(event::Connection::CloseType::FlushWrite);
}

void HttpConnectionManager::closeNow(event::Connection::CloseType type) {
  if (closed_) return;
  parser_.stop();
  conn_.close(type);
  if (conn_.closing()) {
    // Waiting for the output to drain; onClosed() follows. Bound the wait.
    timer_mode_ = TimerMode::None;
    timer_->enable(listener_.config.idle_timeout);
    return;
  }
  closed();
}

void HttpConnectionManager::lingerClose() {
  if (closed_) return;
  const config::ListenerConfig& l = listener_.config;
  if (l.lingering_timeout.count() == 0) {
    closeNow(event::Connection::CloseType::FlushWrite);
    return;
  }
  parser_.stop();
  conn_.lingerClose(l.lingering_max_bytes);
  if (conn_.closing()) {
    // Sending the answer, then dropping input until the client closes; onClosed() follows.
    timer_mode_ = TimerMode::None;
    timer_->enable(l.lingering_timeout);
    return;
  }
  closed();
}

void HttpConnectionManager::closed() {
  closed_ = true;
  timer_->disable();
  if (resume_timer_) resume_timer_->disable();
  if (stream_) {
    stream_->filter_manager_.destroy();
    stream_->finish();
  }
  worker_.removeConnection(*this);
}

void HttpConnectionManager::onClosed(event::CloseReason) {
  if (closed_) return;
  if (handshaking_) tlsHandshakeFailed(conn_.tlsFailure());
  closed_ = true;
  parser_.stop();
  timer_->disable();
  if (resume_timer_) resume_timer_->disable();
  // The client went away: the stream's filters (and the router's upstream request) end here.
  if (stream_) {
    stream_->filter_manager_.destroy();
    stream_->finish();
  }
  worker_.removeConnection(*this);
}

void HttpConnectionManager::onAboveWriteBufferHighWatermark() {
  if (stream_) stream_->filter_manager_.onDownstreamAboveWriteBufferHighWatermark();
}

void HttpConnectionManager::onBelowWriteBufferLowWatermark() {
  if (stream_) stream_->filter_manager_.onDownstreamBelowWriteBufferLowWatermark();
}

}  // namespace switchyard::server
