#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/event/connection.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/codec.h"
#include "proxy/stats/stats.h"

namespace switchyard::upstream {

enum class PoolFailure { ConnectFailed, ConnectTimeout, Overflow };

class UpstreamConnection;

// The router's side of a pool request.
class PoolCallbacks {
 public:
  virtual ~PoolCallbacks() = default;
  virtual void onPoolReady(UpstreamConnection& conn) = 0;
  virtual void onPoolFailure(PoolFailure reason, const std::string& detail) = 0;
};

// The router's side of a connection it is using: the parsed response and connection events.
class UpstreamStreamCallbacks : public http::ResponseCallbacks {
 public:
  // The connection closed or failed while the request was on it.
  virtual void onUpstreamReset(event::CloseReason reason) = 0;
  virtual void onUpstreamAboveWriteBufferHighWatermark() = 0;
  virtual void onUpstreamBelowWriteBufferLowWatermark() = 0;
};

// A pending pool request; cancel() before the callbacks run withdraws it.
class PoolHandle {
 public:
  virtual ~PoolHandle() = default;
  virtual void cancel() = 0;
};

class ConnPool;

// One keep-alive connection to one endpoint. Owned by its pool; used by one request at a time.
class UpstreamConnection final : public event::ConnectionCallbacks,
                                 public http::ResponseCallbacks,
                                 public event::DeferredDeletable {
 public:
  UpstreamConnection(ConnPool& pool, size_t endpoint, int fd);
  ~UpstreamConnection() override;

  void attach(UpstreamStreamCallbacks& cb);
  void sendHead(const http::RequestHeaders& headers);
  void sendData(http::Buffer& data) { conn_.write(data); }
  void readDisable(bool disable) { conn_.readDisable(disable); }
  void setExpectNoBody(bool no_body) { parser_.setExpectNoBody(no_body); }
  // True once the connection has carried a request before this one: a failure before any
  // response byte may then be the server closing an idle connection, and is safe to retry.
  bool reused() const { return requests_ > 1; }
  bool responseStarted() const { return !parser_.idle(); }
  size_t endpointIndex() const { return endpoint_; }
  const config::SocketAddress& endpoint() const;

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
  friend class ConnPool;
  enum class State { Connecting, Idle, Busy, Closed };

  ConnPool& pool_;
  const size_t endpoint_;
  event::Connection conn_;
  http::Http1Parser parser_;
  UpstreamStreamCallbacks* stream_ = nullptr;
  State state_ = State::Connecting;
  event::TimerPtr timer_;  // connect timeout, then idle timeout
  uint64_t requests_ = 0;
  size_t idle_pos_ = 0;  // index in the pool's idle list of its endpoint
  bool in_idle_list_ = false;
};

// Connections to one cluster from one worker (the bulkhead): at most max_connections open, at
// most max_pending_requests waiting for one, round-robin over the endpoints for new
// connections and for picking an idle one.
class ConnPool {
 public:
  ConnPool(event_base* base, event::Dispatcher& dispatcher, const config::ClusterConfig& config,
           stats::ClusterStats& stats);
  ~ConnPool();
  ConnPool(const ConnPool&) = delete;
  ConnPool& operator=(const ConnPool&) = delete;

  // Either calls onPoolReady/onPoolFailure before returning (and returns nullptr), or queues the
  // request and returns a handle to cancel it. A retry passes the endpoint of the attempt that
  // failed as `avoid`: another endpoint is used when the cluster has one and the pool is not
  // saturated (a queued request takes whichever connection frees up first).
  static constexpr size_t NoEndpoint = static_cast<size_t>(-1);
  PoolHandle* newStream(PoolCallbacks& cb, size_t avoid = NoEndpoint);
  // The request is done with `conn`: keep it for the next one if `reusable`, else close it.
  void release(UpstreamConnection& conn, bool reusable);
  // Closes idle connections (drain, shutdown).
  void closeIdle();

  const config::ClusterConfig& config() const { return config_; }
  stats::ClusterStats& stats() { return stats_; }
  event::Dispatcher& dispatcher() { return dispatcher_; }
  size_t openConnections() const { return conns_.size(); }
  size_t pendingRequests() const { return pending_.size(); }

 private:
  friend class UpstreamConnection;
  class Pending;

  bool createConnection(size_t endpoint, std::string& error);
  void onConnectionReady(UpstreamConnection& conn);
  void onConnectionClosed(UpstreamConnection& conn, event::CloseReason reason, bool was_connecting,
                          bool connect_timeout);
  void makeIdle(UpstreamConnection& conn);
  void removeIdle(UpstreamConnection& conn);
  void destroyConnection(UpstreamConnection& conn);
  void failOnePending(PoolFailure reason, const std::string& detail);
  size_t nextEndpoint();

  event_base* base_;
  event::Dispatcher& dispatcher_;
  const config::ClusterConfig config_;
  stats::ClusterStats& stats_;
  std::list<std::unique_ptr<UpstreamConnection>> conns_;
  std::vector<std::vector<UpstreamConnection*>> idle_;  // per endpoint, most recent last
  std::deque<std::unique_ptr<Pending>> pending_;
  size_t connecting_ = 0;
  size_t rr_ = 0;
};

const char* poolFailureName(PoolFailure f);

}  // namespace switchyard::upstream
