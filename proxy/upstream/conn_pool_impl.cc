#include "proxy/upstream/conn_pool_impl.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "proxy/common/logging.h"
#include "proxy/upstream/cluster_endpoints.h"

namespace switchyard::upstream {

class ConnPoolImpl::Pending final : public PoolHandle {
 public:
  Pending(ConnPoolImpl& pool, PoolCallbacks& cb) : pool_(pool), cb_(cb) {}
  void cancel() override {
    auto& q = pool_.pending_;
    auto it = std::find_if(q.begin(), q.end(), [this](const auto& p) { return p.get() == this; });
    if (it != q.end()) q.erase(it);  // deletes this
  }
  ConnPoolImpl& pool_;
  PoolCallbacks& cb_;
};

// The pool's connection object: the transport, the response parser, and where the connection
// stands in the pool.
class ConnPoolImpl::ActiveConnection final : public UpstreamConnection,
                                             public event::ConnectionCallbacks,
                                             public http::ResponseCallbacks,
                                             public event::DeferredDeletable {
 public:
  ActiveConnection(ConnPoolImpl& pool, size_t endpoint, common::SocketAddress address);
  ~ActiveConnection() override;

  // Starts connecting; false (with why in `error`) if it failed at once.
  bool connect(std::string& error);

  // UpstreamConnection
  void attach(UpstreamStreamCallbacks& cb) override { stream_ = &cb; }
  void sendHead(const http::RequestHeaders& headers) override;
  void sendData(http::Buffer& data) override { transport_->write(data); }
  void readDisable(bool disable) override { transport_->readDisable(disable); }
  void setExpectNoBody(bool no_body) override { parser_.setExpectNoBody(no_body); }
  bool reused() const override { return requests_ > 1; }
  bool responseStarted() const override { return !parser_.idle(); }
  size_t endpointIndex() const override { return endpoint_; }
  const config::SocketAddress& endpoint() const override { return address_; }

  // event::ConnectionCallbacks
  void onReadReady(http::Buffer& input) override;
  void onClosed(event::CloseReason reason) override;
  void onConnected() override;
  void onAboveWriteBufferHighWatermark() override;
  void onBelowWriteBufferLowWatermark() override;

  // http::ResponseCallbacks (forwarded to the attached stream)
  void onResponseHeaders(http::ResponseHeadersPtr headers, bool end_stream) override;
  void onBody(http::Buffer& data, bool end_stream) override;
  void onCodecError(const http::CodecError& error) override;

 private:
  friend class ConnPoolImpl;
  enum class State { Connecting, Idle, Busy, Closed };

  ConnPoolImpl& pool_;
  size_t endpoint_;  // its index in the pool's endpoint list
  // Its address left the cluster's endpoints (DNS): closed instead of kept for another request.
  bool retired_ = false;
  const common::SocketAddress address_;
  std::unique_ptr<event::Transport> transport_;  // set by connect()
  http::Http1Parser parser_;
  UpstreamStreamCallbacks* stream_ = nullptr;
  State state_ = State::Connecting;
  event::TimerPtr timer_;  // connect timeout, then idle timeout
  uint64_t requests_ = 0;
  size_t idle_pos_ = 0;  // index in the pool's idle list of its endpoint
  bool in_idle_list_ = false;
};

ConnPoolImpl::ActiveConnection::ActiveConnection(ConnPoolImpl& pool, size_t endpoint,
                                                 common::SocketAddress address)
    : pool_(pool),
      endpoint_(endpoint),
      address_(std::move(address)),
      parser_(http::Http1Parser::Kind::Response, http::CodecLimits{}) {
  parser_.setResponseCallbacks(this);
  timer_ = pool.dispatcher_.createTimer([this] {
    if (state_ == State::Connecting) {
      pool_.onConnectionClosed(*this, event::CloseReason::ConnectFailed, true, true);
    } else if (state_ == State::Idle) {
      pool_.destroyConnection(*this);
    }
  });
}

bool ConnPoolImpl::ActiveConnection::connect(std::string& error) {
  const config::SocketAddress& ep = endpoint();
  if (pool_.config_.tls) {
    transport_ = pool_.connector_.connectTls(
        ep.host, ep.port, *this, error, pool_.config_.tls->context, &pool_.sessions_.slot(ep.text));
  } else {
    transport_ = pool_.connector_.connect(ep.host, ep.port, *this, error);
  }
  if (transport_ == nullptr) return false;
  timer_->enable(pool_.config_.connect_timeout);
  return true;
}

ConnPoolImpl::ActiveConnection::~ActiveConnection() = default;

void ConnPoolImpl::ActiveConnection::sendHead(const http::RequestHeaders& headers) {
  transport_->writeWith([&](http::Buffer& out) { http::encodeRequestHead(headers, out); });
}

void ConnPoolImpl::ActiveConnection::onReadReady(http::Buffer& input) {
  if (state_ != State::Busy || stream_ == nullptr) {
    // Bytes on an idle connection are not a response to anything: drop the connection.
    pool_.destroyConnection(*this);
    return;
  }
  parser_.dispatch(input);
}

void ConnPoolImpl::ActiveConnection::onClosed(event::CloseReason reason) {
  pool_.onConnectionClosed(*this, reason, state_ == State::Connecting, false);
}

void ConnPoolImpl::ActiveConnection::onConnected() { pool_.onConnectionReady(*this); }

void ConnPoolImpl::ActiveConnection::onAboveWriteBufferHighWatermark() {
  if (stream_ != nullptr) stream_->onUpstreamAboveWriteBufferHighWatermark();
}

void ConnPoolImpl::ActiveConnection::onBelowWriteBufferLowWatermark() {
  if (stream_ != nullptr) stream_->onUpstreamBelowWriteBufferLowWatermark();
}

void ConnPoolImpl::ActiveConnection::onResponseHeaders(http::ResponseHeadersPtr headers,
                                                       bool end_stream) {
  if (stream_ == nullptr) return;
  pool_.recordResponse(endpoint_, headers->status);
  stream_->onResponseHeaders(std::move(headers), end_stream);
}

void ConnPoolImpl::ActiveConnection::onBody(http::Buffer& data, bool end_stream) {
  if (stream_ == nullptr) return;
  stream_->onBody(data, end_stream);
}

void ConnPoolImpl::ActiveConnection::onCodecError(const http::CodecError& error) {
  if (stream_ == nullptr) return;
  stream_->onCodecError(error);
}

ConnPoolImpl::ConnPoolImpl(event::Dispatcher& dispatcher, event::Connector& connector,
                           const config::ClusterConfig& config, stats::ClusterStats& stats,
                           std::shared_ptr<ClusterEndpoints> endpoints)
    : dispatcher_(dispatcher),
      connector_(connector),
      config_(config),
      stats_(stats),
      endpoints_(endpoints != nullptr
                     ? std::move(endpoints)
                     : std::make_shared<ClusterEndpoints>(
                           config.name, staticEndpointList(config.endpoints, true))),
      version_(endpoints_->version()),
      list_(endpoints_->current()),
      health_(list_->health.get()),
      endpoint_count_(list_->addresses.size()),
      reports_outcomes_(list_->writer != nullptr),
      idle_(list_->addresses.size()) {}

ConnPoolImpl::~ConnPoolImpl() {
  pending_.clear();
  for (auto& c : conns_) {
    c->stream_ = nullptr;
    c->transport_->close(event::Transport::CloseType::NoFlush);
    stats_.connections.Decrement();
  }
}

void ConnPoolImpl::adoptEndpoints() {
  version_ = endpoints_->version();
  EndpointListPtr next = endpoints_->current();
  if (next == list_) return;
  list_ = std::move(next);
  health_ = list_->health.get();
  endpoint_count_ = list_->addresses.size();
  reports_outcomes_ = list_->writer != nullptr;
  const std::vector<common::SocketAddress>& addresses = list_->addresses;
  // Connections follow their address to its new index; those whose address left are retired:
  // idle ones close now, busy ones when their request is done.
  std::vector<ActiveConnection*> idle;
  for (auto& list : idle_) {
    for (ActiveConnection* c : list) {
      c->in_idle_list_ = false;
      idle.push_back(c);
    }
  }
  idle_.assign(addresses.size(), {});
  for (auto& c : conns_) {
    auto at = std::find(addresses.begin(), addresses.end(), c->address_);
    if (at == addresses.end()) {
      c->retired_ = true;
    } else {
      c->endpoint_ = static_cast<size_t>(at - addresses.begin());
    }
  }
  for (ActiveConnection* c : idle) {
    if (c->retired_) {
      destroyConnection(*c);
    } else {
      c->timer_->disable();
      makeIdle(*c);
    }
  }
  rr_ = addresses.empty() ? 0 : rr_ % addresses.size();
}

size_t ConnPoolImpl::nextUsableEndpoint(size_t first) {
  const size_t n = endpoint_count_;
  const EndpointHealth& health = *health_;
  rr_ = first;
  // Round robin over the endpoints health allows (all of them in panic); after a full turn
  // without one, any (a write of the health checker may land while this looks). The clock is
  // read only for an endpoint that has been ejected.
  std::optional<common::MonotonicTime> now;
  for (size_t tries = 0; tries < n; ++tries) {
    const size_t e = rr_;
    rr_ = rr_ + 1 == n ? 0 : rr_ + 1;
    if (health.clear(e)) return e;
    if (!now) now = dispatcher_.timeSource().monotonicNow();
    if (health.mayUse(e, *now)) return e;
  }
  const size_t e = rr_;
  rr_ = rr_ + 1 == n ? 0 : rr_ + 1;
  return e;
}

PoolHandle* ConnPoolImpl::newStream(PoolCallbacks& cb, size_t avoid) {
  if (endpoints_->version() != version_) adoptEndpoints();
  if (endpoint_count_ == 0) {
    cb.onPoolFailure(PoolFailure::NoEndpoint,
                     list_->resolved
                         ? "cluster " + config_.name + " has no endpoint"
                         : "the endpoints of cluster " + config_.name + " have not resolved yet",
                     NoEndpoint);
    return nullptr;
  }
  size_t e = nextEndpoint();
  if (e == avoid && endpoint_count_ > 1) e = nextEndpoint();
  ActiveConnection* conn = nullptr;
  if (!idle_[e].empty()) {
    conn = idle_[e].back();
  } else if (conns_.size() >= config_.max_connections) {
    // At the limit: any idle connection will do, one to an endpoint health keeps out of load
    // balancing only if there is no other, and one to the avoided endpoint last.
    const EndpointHealth& health = *list_->health;
    const common::MonotonicTime now = dispatcher_.timeSource().monotonicNow();
    for (size_t i = 0; i < idle_.size() && conn == nullptr; ++i) {
      if (i != avoid && !idle_[i].empty() && health.mayUse(i, now)) conn = idle_[i].back();
    }
    for (size_t i = 0; i < idle_.size() && conn == nullptr; ++i) {
      if (i != avoid && !idle_[i].empty()) conn = idle_[i].back();
    }
    if (conn == nullptr && avoid < idle_.size() && !idle_[avoid].empty()) {
      conn = idle_[avoid].back();
    }
  }
  if (conn != nullptr) {
    removeIdle(*conn);
    conn->state_ = ActiveConnection::State::Busy;
    ++conn->requests_;
    cb.onPoolReady(*conn);
    return nullptr;
  }
  if (pending_.size() >= config_.max_pending_requests) {
    stats_.overflow.Increment();
    cb.onPoolFailure(PoolFailure::Overflow,
                     "too many requests are waiting for a connection to " + config_.name,
                     NoEndpoint);
    return nullptr;
  }
  // Open a connection unless enough are already on their way for the requests waiting.
  if (conns_.size() < config_.max_connections && connecting_ <= pending_.size()) {
    std::string error;
    if (!createConnection(e, error)) {
      stats_.connect_failures.Increment();
      cb.onPoolFailure(PoolFailure::ConnectFailed, error, e);
      return nullptr;
    }
  }
  pending_.push_back(std::make_unique<Pending>(*this, cb));
  return pending_.back().get();
}

bool ConnPoolImpl::createConnection(size_t endpoint, std::string& error) {
  auto conn = std::make_unique<ActiveConnection>(*this, endpoint, list_->addresses[endpoint]);
  if (!conn->connect(error)) {
    error = "cannot connect to " + list_->addresses[endpoint].text + ": " + error;
    return false;
  }
  conns_.push_back(std::move(conn));
  ++connecting_;
  stats_.connections.Increment();
  return true;
}

void ConnPoolImpl::onConnectionReady(ActiveConnection& conn) {
  if (conn.state_ == ActiveConnection::State::Connecting) {
    --connecting_;
    conn.timer_->disable();
    if (const char* version = conn.transport_->tlsVersion()) {
      const char* cipher = conn.transport_->tlsCipher();
      stats_.tls_handshakes
          .Add({{"cluster", stats_.name},
                {"version", version},
                {"cipher", cipher != nullptr ? cipher : "unknown"}})
          .Increment();
      if (conn.transport_->tlsSessionReused()) stats_.tls_resumed.Increment();
    }
  }
  if (conn.retired_ && pending_.empty()) {
    destroyConnection(conn);
    return;
  }
  if (!pending_.empty()) {
    std::unique_ptr<Pending> p = std::move(pending_.front());
    pending_.pop_front();
    conn.state_ = ActiveConnection::State::Busy;
    ++conn.requests_;
    p->cb_.onPoolReady(conn);
    return;
  }
  makeIdle(conn);
}

void ConnPoolImpl::release(UpstreamConnection& upstream, bool reusable) {
  // Only this pool's connections are lent out, so only they come back.
  auto& conn = static_cast<ActiveConnection&>(upstream);
  conn.stream_ = nullptr;
  if (conn.state_ == ActiveConnection::State::Closed) return;
  const uint32_t max_requests = config_.max_requests_per_connection;
  if (!reusable || conn.retired_ || conn.transport_->closed() || !conn.parser_.messageComplete() ||
      (max_requests > 0 && conn.requests_ >= max_requests)) {
    destroyConnection(conn);
    openForWaiting();
    return;
  }
  conn.parser_.resumeNextMessage();
  onConnectionReady(conn);
}

void ConnPoolImpl::makeIdle(ActiveConnection& conn) {
  conn.state_ = ActiveConnection::State::Idle;
  auto& list = idle_[conn.endpoint_];
  conn.idle_pos_ = list.size();
  list.push_back(&conn);
  conn.in_idle_list_ = true;
  conn.timer_->enable(config_.idle_timeout);
}

void ConnPoolImpl::removeIdle(ActiveConnection& conn) {
  if (!conn.in_idle_list_) return;
  auto& list = idle_[conn.endpoint_];
  // Swap-remove: the order of idle connections does not matter beyond "recent ones last".
  ActiveConnection* last = list.back();
  list[conn.idle_pos_] = last;
  last->idle_pos_ = conn.idle_pos_;
  list.pop_back();
  conn.in_idle_list_ = false;
  conn.timer_->disable();
}

void ConnPoolImpl::onConnectionClosed(ActiveConnection& conn, event::CloseReason reason,
                                      bool was_connecting, bool connect_timeout) {
  if (was_connecting) {
    --connecting_;
    stats_.connect_failures.Increment();
    const auto& ep = conn.endpoint();
    std::string detail = connect_timeout ? "timed out connecting to " + ep.text
                                         : "cannot connect to " + ep.text + ": " +
                                               strerror(errno ? errno : ECONNREFUSED);
    if (const char* reason = connect_timeout ? nullptr : conn.transport_->tlsFailureReason()) {
      detail =
          "TLS handshake with " + ep.text + " failed: " + std::string(conn.transport_->tlsError());
      stats_.tls_errors.Add({{"cluster", stats_.name}, {"reason", reason}}).Increment();
      SY_LOG(Warn, "cluster %s: %s", config_.name.c_str(), detail.c_str());
    }
    conn.state_ = ActiveConnection::State::Closed;
    destroyConnection(conn);
    failOnePending(connect_timeout ? PoolFailure::ConnectTimeout : PoolFailure::ConnectFailed,
                   detail, conn.endpoint_);
    return;
  }
  if (conn.state_ == ActiveConnection::State::Busy && conn.stream_ != nullptr) {
    if (reason == event::CloseReason::RemoteClose) {
      // Completes a close-delimited body, or reports a truncated response.
      conn.parser_.onEof();
    }
    UpstreamStreamCallbacks* stream = conn.stream_;
    conn.state_ = ActiveConnection::State::Closed;
    destroyConnection(conn);
    if (stream != nullptr && conn.stream_ != nullptr) {
      conn.stream_ = nullptr;
      stream->onUpstreamReset(reason);
    }
    openForWaiting();
    return;
  }
  destroyConnection(conn);
  openForWaiting();
}

void ConnPoolImpl::openForWaiting() {
  // At max_connections a waiting request counts on a busy connection coming free; when one
  // closes instead, the room it leaves goes to the requests that have no connection on its way.
  if (endpoints_->version() != version_) adoptEndpoints();
  while (pending_.size() > connecting_ && conns_.size() < config_.max_connections &&
         !list_->addresses.empty()) {
    std::string error;
    const size_t endpoint = nextEndpoint();
    if (createConnection(endpoint, error)) continue;
    stats_.connect_failures.Increment();
    std::unique_ptr<Pending> p = std::move(pending_.front());
    pending_.pop_front();
    p->cb_.onPoolFailure(PoolFailure::ConnectFailed, error, endpoint);
  }
}

void ConnPoolImpl::failOnePending(PoolFailure reason, const std::string& detail, size_t endpoint) {
  // A connection failed before it could serve anyone: one waiting request hears about it
  // (the one it was opened for); the others keep waiting for their own connections.
  if (pending_.empty()) return;
  if (pending_.size() <= connecting_) return;
  std::unique_ptr<Pending> p = std::move(pending_.front());
  pending_.pop_front();
  p->cb_.onPoolFailure(reason, detail, endpoint);
}

void ConnPoolImpl::destroyConnection(ActiveConnection& conn) {
  removeIdle(conn);
  conn.timer_->disable();
  conn.state_ = ActiveConnection::State::Closed;
  conn.parser_.stop();
  conn.transport_->close(event::Transport::CloseType::NoFlush);
  auto it =
      std::find_if(conns_.begin(), conns_.end(), [&](const auto& c) { return c.get() == &conn; });
  if (it == conns_.end()) return;
  stats_.connections.Decrement();
  dispatcher_.deferredDelete(std::move(*it));
  conns_.erase(it);
}

void ConnPoolImpl::reportOutcome(size_t endpoint, UpstreamOutcome outcome) {
  ClusterEndpoints::report(*list_, endpoint, outcome);
}

void ConnPoolImpl::closeIdle() {
  for (auto& list : idle_) {
    while (!list.empty()) destroyConnection(*list.back());
  }
}

}  // namespace switchyard::upstream
