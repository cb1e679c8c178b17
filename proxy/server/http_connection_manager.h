#pragma once

#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/event/connection.h"
#include "proxy/http/codec.h"
#include "proxy/http/filter_manager.h"

namespace switchyard::server {

class Worker;
struct ListenerShared;

// One client connection: parses requests strictly, runs each through the filter chain and the
// router, writes responses in order (one request at a time; pipelined requests wait in the input
// buffer, which is bounded), and enforces the listener's timeouts:
//   - a new connection, or one whose request head has started, must complete the head within
//     request_headers_timeout (408 if bytes had arrived, else a silent close);
//   - a keep-alive connection between requests is closed after idle_timeout;
//   - a whole request must be received within request_timeout when that is set.
// Lives on its worker's thread; destroyed deferred through the worker.
class HttpConnectionManager final : public event::ConnectionCallbacks,
                                    public http::RequestCallbacks,
                                    public event::DeferredDeletable {
 public:
  // A new client connection; or, with `peer`, one taken back from IdleConnections after
  // `requests` requests (already counted as open).
  HttpConnectionManager(Worker& worker, ListenerShared& listener, int fd);
  HttpConnectionManager(Worker& worker, ListenerShared& listener, int fd, std::string peer,
                        uint32_t requests);
  ~HttpConnectionManager() override;

  // Closes the connection once the current response (if any) is done.
  void startDrain();
  // No request is being answered: the connection is idle or a request head is still arriving.
  bool waitingForRequest() const { return !stream_ && !closed_; }
  // Closes a connection that waitingForRequest(), at once, to make room at a connection limit.
  void evict();
  const ListenerShared& listener() const { return listener_; }

  // event::ConnectionCallbacks
  void onReadReady(http::Buffer& input) override;
  void onClosed(event::CloseReason reason) override;
  // TLS: the handshake is done.
  void onConnected() override;
  void onAboveWriteBufferHighWatermark() override;
  void onBelowWriteBufferLowWatermark() override;

  // http::RequestCallbacks
  void onRequestHeaders(http::RequestHeadersPtr headers, bool end_stream) override;
  void onBody(http::Buffer& data, bool end_stream) override;
  void onCodecError(const http::CodecError& error) override;

  std::list<std::unique_ptr<HttpConnectionManager>>::iterator self_;

 private:
  class ActiveStream;

  ActiveStream& newStream();
  void onStreamComplete();
  void onTimer();
  // Counts and answers a request the proxy refuses (codec error, timeout) and closes after.
  void rejectRequest(int status, std::string_view detail);
  void closeNow(event::Connection::CloseType type);
  // Closes after the answer while the client may still be sending (Connection::lingerClose()),
  // for at most the listener's lingering_timeout.
  void lingerClose();
  // Applies the listener's headers_with_underscores to a head that has such names; false when
  // the request was refused (400 sent).
  bool underscoreNames(http::RequestHeaders& headers);
  // Refuses a new request while the worker's buffers are over their limit (503, Retry-After).
  void shed();
  // The socket is closed: the stream ends and the worker forgets the connection.
  void closed();
  void armTimer();
  // TLS listeners: the connection takes the listener's context of the configuration in effect
  // (certificates re-read by a reload serve new connections) and has handshake_timeout to finish
  // the handshake.
  void startTls();
  void tlsHandshakeFailed(event::TlsFailure failure);
  // Hands an idle keep-alive connection's socket to the worker's IdleConnections, which keeps
  // it for a fraction of this object's memory, for `idle_for` more; false when it cannot go
  // (output still being sent, input waiting, draining).
  bool park(std::chrono::milliseconds idle_for);
  void dispatchInput();

  Worker& worker_;
  ListenerShared& listener_;
  event::Connection conn_;
  http::Http1Parser parser_;
  std::string peer_;
  std::string_view forwarded_proto_;  // X-Forwarded-Proto for this connection's requests
  std::unique_ptr<ActiveStream> stream_;
  event::TimerPtr timer_;
  event::TimerPtr resume_timer_;  // parses a pipelined request after the previous one ends
  uint32_t requests_ = 0;
  bool request_complete_ = false;
  bool draining_ = false;
  bool closed_ = false;
  bool pipeline_paused_ = false;
  bool handshaking_ = false;                 // TLS: the handshake has not finished
  std::chrono::milliseconds park_delay_{0};  // TimerMode::IdlePark: how long it waited
  bool parked_ = false;  // the socket went to IdleConnections: still open, counted there
  enum class TimerMode {
    None,
    IdlePark,
    Idle,
    Handshake,
    Headers,
    Request
  } timer_mode_ = TimerMode::None;
};

}  // namespace switchyard::server
