#include "proxy/upstream/conn_pool.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "proxy/common/logging.h"

namespace switchyard::upstream {

const char* poolFailureName(PoolFailure f) {
  switch (f) {
    case PoolFailure::ConnectFailed:
      return "connect_failed";
    case PoolFailure::ConnectTimeout:
      return "connect_timeout";
    case PoolFailure::Overflow:
      return "overflow";
  }
  return "unknown";
}

class ConnPool::Pending final : public PoolHandle {
 public:
  Pending(ConnPool& pool, PoolCallbacks& cb) : pool_(pool), cb_(cb) {}
  void cancel() override {
    auto& q = pool_.pending_;
    auto it = std::find_if(q.begin(), q.end(), [this](const auto& p) { return p.get() == this; });
    if (it != q.end()) q.erase(it);  // deletes this
  }
  ConnPool& pool_;
  PoolCallbacks& cb_;
};

UpstreamConnection::UpstreamConnection(ConnPool& pool, size_t endpoint, int fd)
    : pool_(pool),
      endpoint_(endpoint),
      conn_(pool.base_, fd, true, *this),
      parser_(http::Http1Parser::Kind::Response, http::CodecLimits{}) {
  parser_.setResponseCallbacks(this);
  timer_ = pool.dispatcher_.createTimer([this] {
    if (state_ == State::Connecting) {
      pool_.onConnectionClosed(*this, event::CloseReason::ConnectFailed, true, true);
    } else if (state_ == State::Idle) {
      pool_.destroyConnection(*this);
    }
  });
  timer_->enable(pool.config_.connect_timeout);
}

UpstreamConnection::~UpstreamConnection() = default;

const config::SocketAddress& UpstreamConnection::endpoint() const {
  return pool_.config_.endpoints[endpoint_];
}

void UpstreamConnection::attach(UpstreamStreamCallbacks& cb) { stream_ = &cb; }

void UpstreamConnection::sendHead(const http::RequestHeaders& headers) {
  conn_.writeWith([&](http::Buffer& out) { http::encodeRequestHead(headers, out); });
}

void UpstreamConnection::onReadReady(http::Buffer& input) {
  if (state_ != State::Busy || stream_ == nullptr) {
    // Bytes on an idle connection are not a response to anything: drop the connection.
    pool_.destroyConnection(*this);
    return;
  }
  parser_.dispatch(input);
}

void UpstreamConnection::onClosed(event::CloseReason reason) {
  pool_.onConnectionClosed(*this, reason, state_ == State::Connecting, false);
}

void UpstreamConnection::onConnected() { pool_.onConnectionReady(*this); }

void UpstreamConnection::onAboveWriteBufferHighWatermark() {
  if (stream_ != nullptr) stream_->onUpstreamAboveWriteBufferHighWatermark();
}

void UpstreamConnection::onBelowWriteBufferLowWatermark() {
  if (stream_ != nullptr) stream_->onUpstreamBelowWriteBufferLowWatermark();
}

void UpstreamConnection::onResponseHeaders(http::ResponseHeadersPtr headers, bool end_stream) {
  if (stream_ == nullptr) return;
  stream_->onResponseHeaders(std::move(headers), end_stream);
}

void UpstreamConnection::onBody(http::Buffer& data, bool end_stream) {
  if (stream_ == nullptr) return;
  stream_->onBody(data, end_stream);
}

void UpstreamConnection::onCodecError(const http::CodecError& error) {
  if (stream_ == nullptr) return;
  stream_->onCodecError(error);
}

ConnPool::ConnPool(event_base* base, event::Dispatcher& dispatcher,
                   const config::ClusterConfig& config, stats::ClusterStats& stats)
    : base_(base),
      dispatcher_(dispatcher),
      config_(config),
      stats_(stats),
      idle_(config.endpoints.size()) {}

ConnPool::~ConnPool() {
  pending_.clear();
  for (auto& c : conns_) {
    c->stream_ = nullptr;
    c->conn_.close(event::Connection::CloseType::NoFlush);
    stats_.connections.Decrement();
  }
}

size_t ConnPool::nextEndpoint() {
  const size_t n = config_.endpoints.size();
  const size_t e = rr_ % n;
  rr_ = (rr_ + 1) % n;
  return e;
}

PoolHandle* ConnPool::newStream(PoolCallbacks& cb, size_t avoid) {
  size_t e = nextEndpoint();
  if (e == avoid && config_.endpoints.size() > 1) e = nextEndpoint();
  UpstreamConnection* conn = nullptr;
  if (!idle_[e].empty()) {
    conn = idle_[e].back();
  } else if (conns_.size() >= config_.max_connections) {
    // At the limit: any idle connection will do, one to the avoided endpoint last.
    for (size_t i = 0; i < idle_.size() && conn == nullptr; ++i) {
      if (i != avoid && !idle_[i].empty()) conn = idle_[i].back();
    }
    if (conn == nullptr && avoid < idle_.size() && !idle_[avoid].empty()) {
      conn = idle_[avoid].back();
    }
  }
  if (conn != nullptr) {
    removeIdle(*conn);
    conn->state_ = UpstreamConnection::State::Busy;
    ++conn->requests_;
    cb.onPoolReady(*conn);
    return nullptr;
  }
  if (pending_.size() >= config_.max_pending_requests) {
    stats_.overflow.Increment();
    cb.onPoolFailure(PoolFailure::Overflow,
                     "too many requests are waiting for a connection to " + config_.name);
    return nullptr;
  }
  // Open a connection unless enough are already on their way for the requests waiting.
  if (conns_.size() < config_.max_connections && connecting_ <= pending_.size()) {
    std::string error;
    if (!createConnection(e, error)) {
      stats_.connect_failures.Increment();
      cb.onPoolFailure(PoolFailure::ConnectFailed, error);
      return nullptr;
    }
  }
  pending_.push_back(std::make_unique<Pending>(*this, cb));
  return pending_.back().get();
}

bool ConnPool::createConnection(size_t endpoint, std::string& error) {
  const auto& ep = config_.endpoints[endpoint];
  const int fd = event::Connection::connectTo(ep.host, ep.port);
  if (fd < 0) {
    error = "cannot connect to " + ep.text + ": " + strerror(errno);
    return false;
  }
  conns_.push_back(std::make_unique<UpstreamConnection>(*this, endpoint, fd));
  ++connecting_;
  stats_.connections.Increment();
  return true;
}

void ConnPool::onConnectionReady(UpstreamConnection& conn) {
  if (conn.state_ == UpstreamConnection::State::Connecting) {
    --connecting_;
    conn.timer_->disable();
  }
  if (!pending_.empty()) {
    std::unique_ptr<Pending> p = std::move(pending_.front());
    pending_.pop_front();
    conn.state_ = UpstreamConnection::State::Busy;
    ++conn.requests_;
    p->cb_.onPoolReady(conn);
    return;
  }
  makeIdle(conn);
}

void ConnPool::release(UpstreamConnection& conn, bool reusable) {
  conn.stream_ = nullptr;
  if (conn.state_ == UpstreamConnection::State::Closed) return;
  const uint32_t max_requests = config_.max_requests_per_connection;
  if (!reusable || conn.conn_.closed() || !conn.parser_.messageComplete() ||
      (max_requests > 0 && conn.requests_ >= max_requests)) {
    destroyConnection(conn);
    return;
  }
  conn.parser_.resumeNextMessage();
  onConnectionReady(conn);
}

void ConnPool::makeIdle(UpstreamConnection& conn) {
  conn.state_ = UpstreamConnection::State::Idle;
  auto& list = idle_[conn.endpoint_];
  conn.idle_pos_ = list.size();
  list.push_back(&conn);
  conn.in_idle_list_ = true;
  conn.timer_->enable(config_.idle_timeout);
}

void ConnPool::removeIdle(UpstreamConnection& conn) {
  if (!conn.in_idle_list_) return;
  auto& list = idle_[conn.endpoint_];
  // Swap-remove: the order of idle connections does not matter beyond "recent ones last".
  UpstreamConnection* last = list.back();
  list[conn.idle_pos_] = last;
  last->idle_pos_ = conn.idle_pos_;
  list.pop_back();
  conn.in_idle_list_ = false;
  conn.timer_->disable();
}

void ConnPool::onConnectionClosed(UpstreamConnection& conn, event::CloseReason reason,
                                  bool was_connecting, bool connect_timeout) {
  if (was_connecting) {
    --connecting_;
    stats_.connect_failures.Increment();
    const auto& ep = conn.endpoint();
    const std::string detail = connect_timeout ? "timed out connecting to " + ep.text
                                               : "cannot connect to " + ep.text + ": " +
                                                     strerror(errno ? errno : ECONNREFUSED);
    conn.state_ = UpstreamConnection::State::Closed;
    destroyConnection(conn);
    failOnePending(connect_timeout ? PoolFailure::ConnectTimeout : PoolFailure::ConnectFailed,
                   detail);
    return;
  }
  if (conn.state_ == UpstreamConnection::State::Busy && conn.stream_ != nullptr) {
    if (reason == event::CloseReason::RemoteClose) {
      // Completes a close-delimited body, or reports a truncated response.
      conn.parser_.onEof();
    }
    UpstreamStreamCallbacks* stream = conn.stream_;
    conn.state_ = UpstreamConnection::State::Closed;
    destroyConnection(conn);
    if (stream != nullptr && conn.stream_ != nullptr) {
      conn.stream_ = nullptr;
      stream->onUpstreamReset(reason);
    }
    return;
  }
  destroyConnection(conn);
}

void ConnPool::failOnePending(PoolFailure reason, const std::string& detail) {
  // A connection failed before it could serve anyone: one waiting request hears about it
  // (the one it was opened for); the others keep waiting for their own connections.
  if (pending_.empty()) return;
  if (pending_.size() <= connecting_) return;
  std::unique_ptr<Pending> p = std::move(pending_.front());
  pending_.pop_front();
  p->cb_.onPoolFailure(reason, detail);
}

void ConnPool::destroyConnection(UpstreamConnection& conn) {
  removeIdle(conn);
  conn.timer_->disable();
  conn.state_ = UpstreamConnection::State::Closed;
  conn.parser_.stop();
  conn.conn_.close(event::Connection::CloseType::NoFlush);
  auto it =
      std::find_if(conns_.begin(), conns_.end(), [&](const auto& c) { return c.get() == &conn; });
  if (it == conns_.end()) return;
  stats_.connections.Decrement();
  dispatcher_.deferredDelete(std::move(*it));
  conns_.erase(it);
}

void ConnPool::closeIdle() {
  for (auto& list : idle_) {
    while (!list.empty()) destroyConnection(*list.back());
  }
}

}  // namespace switchyard::upstream
