#include "proxy/server/http_connection_manager.h"

#include "proxy/server/worker.h"

namespace switchyard::server {

class HttpConnectionManager::ActiveStream final : public http::FilterManagerCallbacks,
                                                  public event::DeferredDeletable {
 public:
  ActiveStream(HttpConnectionManager& parent)
      : parent_(parent),
        filter_manager_(*this, info_, parent.listener_.config.max_request_body_bytes) {
    info_.start = parent.worker_.dispatcher().timeSource().monotonicNow();
    info_.downstream_address = parent.peer_;
    info_.listener = parent.listener_.config.name;
    info_.forwarded_proto = parent.listener_.config.forwarded_proto;
    Worker& w = parent.worker_;
    snapshot_ = w.snapshot();
    const auto& filters = snapshot_->config->filters;
    filter_manager_.reserve(filters.size() + 1);
    for (const auto& f : filters) {
      filter_manager_.addFilter(f.factory->create(w.filterContext()));
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
    info_.version = decision_.target->version;
    info_.deprecation = decision_.target->deprecation;
    info_.cluster = decision_.pool->config().name;
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
    parent_.conn_.write(http::encodeResponseHead(response));
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
    : worker_(worker),
      listener_(listener),
      conn_(worker.dispatcher().base(), fd, false, *this),
      parser_(http::Http1Parser::Kind::Request,
              http::CodecLimits{listener.config.max_request_headers_bytes,
                                listener.config.max_request_body_bytes}),
      peer_(event::peerAddress(fd)) {
  parser_.setRequestCallbacks(this);
  timer_ = worker.dispatcher().createTimer([this] { onTimer(); });
  listener_.active_connections.Increment();
  // A new connection must send its first request head in time, like any other.
  timer_mode_ = TimerMode::Headers;
  timer_->enable(listener_.config.request_headers_timeout);
}

HttpConnectionManager::~HttpConnectionManager() {
  if (stream_) stream_->filter_manager_.destroy();
  listener_.active_connections.Decrement();
  listener_.connections.fetch_sub(1, std::memory_order_relaxed);
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
  if (closed_) return;
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
  http::stripHopByHop(headers->headers);
  s.route(*headers);
  s.filter_manager_.decodeHeaders(std::move(headers), end_stream);
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
  rs.duration.Observe(
      common::toSeconds(worker_.dispatcher().timeSource().monotonicNow() - info.start));
  const bool close = stream->close_after_;
  stream->filter_manager_.destroy();
  worker_.dispatcher().deferredDelete(std::move(stream));
  if (close || closed_) {
    closeNow(event::Connection::CloseType::FlushWrite);
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
  timer_mode_ = TimerMode::Idle;
  timer_->enable(listener_.config.idle_timeout);
}

void HttpConnectionManager::onTimer() {
  switch (timer_mode_) {
    case TimerMode::Idle:
    case TimerMode::None:
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
  closed_ = true;
  timer_->disable();
  if (resume_timer_) resume_timer_->disable();
  if (stream_) stream_->filter_manager_.destroy();
  worker_.removeConnection(*this);
}

void HttpConnectionManager::onClosed(event::CloseReason) {
  if (closed_) return;
  closed_ = true;
  parser_.stop();
  timer_->disable();
  if (resume_timer_) resume_timer_->disable();
  // The client went away: the stream's filters (and the router's upstream request) end here.
  if (stream_) stream_->filter_manager_.destroy();
  worker_.removeConnection(*this);
}

void HttpConnectionManager::onAboveWriteBufferHighWatermark() {
  if (stream_) stream_->filter_manager_.onDownstreamAboveWriteBufferHighWatermark();
}

void HttpConnectionManager::onBelowWriteBufferLowWatermark() {
  if (stream_) stream_->filter_manager_.onDownstreamBelowWriteBufferLowWatermark();
}

}  // namespace switchyard::server
