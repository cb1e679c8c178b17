#pragma once

#include <prometheus/registry.h>

#include <cstddef>
#include <deque>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/headers.h"
#include "proxy/stats/stats.h"
#include "proxy/upstream/conn_pool.h"

namespace switchyard::test {

class FakePool;

// An UpstreamConnection with no transport behind it, for unit tests of what uses a pool's
// connections (the router). The test plays the upstream: it delivers the response head, body,
// codec errors and resets, and the connection's watermark events, to the attached
// UpstreamStreamCallbacks, as ConnPoolImpl's connections do; the connection records what was
// written (the head, the body bytes), readDisable() nesting and how it was handed back.
//
// Owned by its FakePool, which keeps it after it was released or reset so the test can still
// look at it. A call the UpstreamConnection contract forbids (writing to a connection that was
// handed back or reset, releasing it twice, unbalanced readDisable) fails the test.
// Single-threaded.
class FakeUpstreamConnection final : public upstream::UpstreamConnection {
 public:
  enum class State { Busy, Released, Reset };

  FakeUpstreamConnection(FakePool& pool, size_t id, size_t endpoint, bool reused, bool fail_send);
  FakeUpstreamConnection(const FakeUpstreamConnection&) = delete;
  FakeUpstreamConnection& operator=(const FakeUpstreamConnection&) = delete;

  // The upstream's side, driven by the test. Each needs a busy connection with callbacks attached.

  // The response head: `status`, the `headers` (lower-case names), and whether the response allows
  // keep-alive.
  void respond(int status, bool end_stream,
               std::initializer_list<std::pair<std::string_view, std::string_view>> headers = {},
               bool keep_alive = true);
  void respondHeaders(http::ResponseHeadersPtr headers, bool end_stream);
  void respondBody(std::string_view data, bool end_stream);
  // Some bytes of a response head arrived, not yet a whole head: responseStarted() is true from
  // now.
  void receivePartialHead() { response_started_ = true; }
  // The response could not be parsed (a 502 from the codec).
  void codecError(std::string detail);
  // The pool closed the connection (the peer closed it, or it broke): the connection is Reset,
  // then the callbacks hear onUpstreamReset(reason). Nothing may touch it afterwards.
  void reset(event::CloseReason reason = event::CloseReason::RemoteClose);
  // The next sendHead()/sendData() fails as a write on a broken socket: nothing is recorded and
  // the connection is reset (onUpstreamReset(Reset)) from inside the call.
  void failNextSend() { fail_next_send_ = true; }
  // The connection's send buffer went over its high mark / came back under its low mark.
  void aboveHighWatermark();
  void belowLowWatermark();

  // What the test observes.

  size_t id() const { return id_; }  // index among the pool's connections
  State state() const { return state_; }
  bool busy() const { return state_ == State::Busy; }
  bool released() const { return state_ == State::Released; }
  // Released and kept for the next request; meaningful once released().
  bool releasedReusable() const { return released() && released_reusable_; }
  bool wasReset() const { return state_ == State::Reset; }
  bool attached() const { return callbacks_ != nullptr; }
  // A copy of the request head as written; null before sendHead().
  const http::RequestHeaders* head() const { return head_.get(); }
  // The value of request header `name` as written, or "" when absent (or no head yet).
  std::string headHeader(std::string_view name) const;
  int headsSent() const { return heads_sent_; }
  // Every body byte written, in order.
  const std::string& body() const { return body_; }
  // How many readDisable(true) are not yet undone: 0 means reading.
  int readDisableDepth() const { return read_disable_depth_; }
  bool expectNoBody() const { return expect_no_body_; }

  // upstream::UpstreamConnection
  void attach(upstream::UpstreamStreamCallbacks& cb) override;
  void sendHead(const http::RequestHeaders& headers) override;
  void sendData(http::Buffer& data) override;
  void readDisable(bool disable) override;
  void setExpectNoBody(bool no_body) override { expect_no_body_ = no_body; }
  bool reused() const override { return reused_; }
  bool responseStarted() const override { return response_started_; }
  size_t endpointIndex() const override { return endpoint_; }
  const config::SocketAddress& endpoint() const override;

 private:
  friend class FakePool;
  // Fails the test unless the connection is busy with callbacks attached; `what` names the call.
  bool checkDrivable(const char* what) const;
  bool failSend();

  FakePool& pool_;
  const size_t id_;
  const size_t endpoint_;
  const bool reused_;
  bool fail_next_send_;
  State state_ = State::Busy;
  bool released_reusable_ = false;
  upstream::UpstreamStreamCallbacks* callbacks_ = nullptr;
  std::unique_ptr<http::RequestHeaders> head_;
  int heads_sent_ = 0;
  std::string body_;
  int read_disable_depth_ = 0;
  bool expect_no_body_ = false;
  bool response_started_ = false;
};

// The connection a FakePool hands out when it answers a request.
struct FakeConnectionOptions {
  // Where it goes; NoEndpoint: the first endpoint of the cluster other than the request's `avoid`.
  size_t endpoint = upstream::ConnPool::NoEndpoint;
  bool reused = false;     // it served a request before (an idle keep-alive connection)
  bool fail_send = false;  // its first write fails (see FakeUpstreamConnection::failNextSend)
};

// A ConnPool whose answers the test decides, for unit tests of the router. Every newStream() is
// recorded as a StreamRequest (its `avoid` argument and what became of it). Unless scripted, a
// request is queued: newStream() returns a handle, and the test later completes the oldest
// queued request with ready() or fails it with fail(); the router may cancel() it meanwhile.
// answerNext*() script the next calls to be answered before newStream() returns, as the real
// pool does with an idle connection, a full queue or a connect that fails at once.
//
// Connections are made when a request is answered, to the endpoint the test names or, by
// default, the first endpoint of the cluster other than the request's `avoid`. release() calls are
// recorded in order. The pool's ClusterStats count into a registry of its own.
//
// The dispatcher is only handed out through dispatcher(); nothing here arms a timer. Destroying
// the pool drops whatever is queued without a callback. Single-threaded.
class FakePool final : public upstream::ConnPool {
 public:
  using ConnectionOptions = FakeConnectionOptions;

  struct StreamRequest {
    enum class State { Pending, Ready, Failed, Cancelled };
    size_t avoid = NoEndpoint;
    State state = State::Pending;
    FakeUpstreamConnection* conn = nullptr;        // Ready
    std::optional<upstream::PoolFailure> failure;  // Failed
  };

  struct Release {
    size_t conn;  // FakeUpstreamConnection::id()
    bool reusable;
  };

  FakePool(config::ClusterConfig config, event::Dispatcher& dispatcher);
  ~FakePool() override;
  FakePool(const FakePool&) = delete;
  FakePool& operator=(const FakePool&) = delete;

  // Scripts the next unscripted newStream() call to get a connection before it returns.
  void answerNextWithConnection(ConnectionOptions options = {});
  // Scripts the next unscripted newStream() call to fail before it returns; `endpoint` is the one
  // reported as unreachable.
  void answerNextWithFailure(upstream::PoolFailure reason, std::string detail = "",
                             size_t endpoint = NoEndpoint);

  // Completes the oldest queued request with a new connection (onPoolReady). Throws
  // std::logic_error (a failed test) when none is queued.
  FakeUpstreamConnection& ready(ConnectionOptions options = {});
  // Fails the oldest queued request (onPoolFailure); an empty detail gets the real pool's wording.
  // Throws std::logic_error when none is queued.
  void fail(upstream::PoolFailure reason, std::string detail = "", size_t endpoint = NoEndpoint);

  size_t newStreamCalls() const { return requests_.size(); }
  // The i-th newStream() call (0-based); references stay valid as more are made.
  const StreamRequest& request(size_t i) const { return requests_.at(i); }
  const StreamRequest& lastRequest() const { return requests_.back(); }
  bool hasPending() const { return pendingRequests() > 0; }
  size_t cancelled() const;

  // Connections made so far, in order; each stays valid for the life of the pool.
  size_t connectionCount() const { return connections_.size(); }
  FakeUpstreamConnection& connection(size_t i) const { return *connections_.at(i); }
  FakeUpstreamConnection& lastConnection() const { return *connections_.back(); }
  const std::vector<Release>& releases() const { return releases_; }
  int closeIdleCalls() const { return close_idle_calls_; }

  // Nothing queued and no connection lent out: what a request leaves behind when it is over.
  // Adds a test failure naming what is left, and returns whether all is clear.
  bool expectQuiescent() const;

  // Counter values of this pool's stats.
  double requestsWithCode(int code) { return stats_.requests.get(code).Value(); }
  double timeouts() const { return stats_.timeouts.Value(); }

  // upstream::ConnPool
  upstream::PoolHandle* newStream(upstream::PoolCallbacks& cb, size_t avoid) override;
  void release(upstream::UpstreamConnection& conn, bool reusable) override;
  void closeIdle() override { ++close_idle_calls_; }
  const config::ClusterConfig& config() const override { return config_; }
  stats::ClusterStats& stats() override { return stats_; }
  event::Dispatcher& dispatcher() override { return dispatcher_; }
  size_t openConnections() const override;
  size_t pendingRequests() const override;

 private:
  class Handle;
  struct Answer {
    bool connect = true;
    ConnectionOptions options;
    upstream::PoolFailure failure = upstream::PoolFailure::ConnectFailed;
    std::string detail;
    size_t failed_endpoint = NoEndpoint;
  };
  // What the test does not see of a request: whom to answer, and the handle handed out.
  struct Entry {
    upstream::PoolCallbacks* callbacks = nullptr;
    std::unique_ptr<Handle> handle;
  };

  void answer(size_t index, Answer answer);
  void cancel(size_t index);
  std::string defaultDetail(upstream::PoolFailure reason) const;

  const config::ClusterConfig config_;
  event::Dispatcher& dispatcher_;
  prometheus::Registry registry_;
  stats::ProxyStats proxy_stats_{registry_};
  stats::ClusterStats stats_;
  std::deque<Answer> script_;
  // One of each per newStream() call, in order; deques, so references stay valid as they grow
  // (a callback may call newStream() again).
  std::deque<StreamRequest> requests_;
  std::deque<Entry> entries_;
  std::vector<std::unique_ptr<FakeUpstreamConnection>> connections_;
  std::vector<Release> releases_;
  int close_idle_calls_ = 0;
};

}  // namespace switchyard::test
