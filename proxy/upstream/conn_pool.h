#pragma once

#include <cstddef>
#include <string>

#include "config/config.h"
#include "proxy/event/dispatcher.h"
#include "proxy/event/transport.h"
#include "proxy/http/codec.h"
#include "proxy/stats/stats.h"
#include "proxy/upstream/endpoint_health.h"

namespace switchyard::upstream {

// NoEndpoint: the cluster has no address to connect to (its names have not resolved).
enum class PoolFailure { ConnectFailed, ConnectTimeout, Overflow, NoEndpoint };

class UpstreamConnection;
class ClusterEndpoints;

// "No endpoint": a first attempt avoids none; an overflow is no endpoint's fault.
inline constexpr size_t NoEndpoint = static_cast<size_t>(-1);

// The router's side of a pool request.
class PoolCallbacks {
 public:
  virtual ~PoolCallbacks() = default;
  virtual void onPoolReady(UpstreamConnection& conn) = 0;
  // `endpoint` is the index of the endpoint that could not be reached (a retry avoids it), or
  // NoEndpoint when no endpoint is at fault (Overflow).
  virtual void onPoolFailure(PoolFailure reason, const std::string& detail, size_t endpoint) = 0;
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

// One keep-alive connection to one endpoint, lent by its pool to one request at a time. The
// pool owns it: the request holds it from onPoolReady() until it calls ConnPool::release() or
// hears onUpstreamReset() (the pool has then closed it), and must not touch it afterwards. The
// response is parsed by the connection and delivered to the attached callbacks. On the pool's
// dispatcher thread.
class UpstreamConnection {
 public:
  // Where the response and connection events go; call first, from onPoolReady().
  virtual void attach(UpstreamStreamCallbacks& cb) = 0;
  // Encodes the request head straight into the connection's output. May report
  // onUpstreamReset() before it returns (the write failed).
  virtual void sendHead(const http::RequestHeaders& headers) = 0;
  // Moves `data` out to the connection. May report onUpstreamReset() before it returns.
  virtual void sendData(http::Buffer& data) = 0;
  // Pauses/resumes reading the response; calls nest.
  virtual void readDisable(bool disable) = 0;
  // The request is HEAD: the response has no body whatever it declares.
  virtual void setExpectNoBody(bool no_body) = 0;
  // True once the connection has carried a request before this one: a failure before any
  // response byte may then be the server closing an idle connection, and is safe to retry.
  virtual bool reused() const = 0;
  virtual bool responseStarted() const = 0;
  // The endpoint's index in the cluster's configuration, and the endpoint.
  virtual size_t endpointIndex() const = 0;
  virtual const config::SocketAddress& endpoint() const = 0;

 protected:
  // Never deleted through this interface: the pool owns its connections.
  ~UpstreamConnection() = default;
};

// Connections to one cluster, used by the requests of one worker. ConnPoolImpl is the one in
// production; it says how connections are chosen, limited and timed out.
//
// All methods and callbacks on the dispatcher's thread (dispatcher()). The pool owns its
// connections and the pending requests' handles; the caller owns its PoolCallbacks, which must
// stay valid until onPoolReady()/onPoolFailure() has run or the handle is cancelled.
class ConnPool {
 public:
  static constexpr size_t NoEndpoint = upstream::NoEndpoint;

  virtual ~ConnPool() = default;

  // Either calls onPoolReady/onPoolFailure before returning (and returns nullptr), or queues the
  // request and returns a handle to cancel it, valid until one of the callbacks runs. A retry
  // passes the endpoint of the attempt that failed as `avoid` (a first attempt NoEndpoint):
  // another endpoint is used when the cluster has one and the pool is not saturated (a queued
  // request takes whichever connection frees up first).
  virtual PoolHandle* newStream(PoolCallbacks& cb, size_t avoid) = 0;
  // The request is done with `conn`: keep it for the next one if `reusable`, else close it.
  virtual void release(UpstreamConnection& conn, bool reusable) = 0;
  // Closes idle connections (drain, shutdown).
  virtual void closeIdle() = 0;
  // How a request to `endpoint` went (passive ejection of failing endpoints), for attempts that
  // got no response: connect failures, resets and timeouts. A pool records the status of every
  // response it delivers by itself.
  virtual void reportOutcome(size_t /*endpoint*/, UpstreamOutcome /*outcome*/) {}
  // The cluster's endpoint list this pool follows; null for a pool without one.
  virtual const std::shared_ptr<ClusterEndpoints>& endpoints() const {
    static const std::shared_ptr<ClusterEndpoints> none;
    return none;
  }

  virtual const config::ClusterConfig& config() const = 0;
  virtual stats::ClusterStats& stats() = 0;
  virtual event::Dispatcher& dispatcher() = 0;
  virtual size_t openConnections() const = 0;
  virtual size_t pendingRequests() const = 0;
};

const char* poolFailureName(PoolFailure f);

}  // namespace switchyard::upstream
