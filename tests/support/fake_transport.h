#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/event/connector.h"
#include "proxy/event/transport.h"
#include "proxy/http/buffer.h"

namespace switchyard::test {

class FakeConnector;

// A Transport with no socket behind it, for unit tests of whatever owns one. The test plays the
// peer and the event loop: it completes or fails the connect, delivers bytes, closes from the
// remote side and decides whether the peer takes what is written. The owner sees what it would
// see from event::Connection: the same callbacks in the same order, the same close semantics and
// watermarks, and nothing called back from inside close() or readDisable().
//
// Owned by whoever connect() returned it to; the FakeConnector that made it must outlive it or be
// destroyed first (it then forgets its transports). Single-threaded.
class FakeTransport final : public event::Transport {
 public:
  FakeTransport(FakeConnector* connector, std::string host, uint16_t port,
                event::ConnectionCallbacks& callbacks);
  ~FakeTransport() override;
  FakeTransport(const FakeTransport&) = delete;
  FakeTransport& operator=(const FakeTransport&) = delete;

  // The peer side, driven by the test.

  // The connect succeeds: onConnected(), then what was written meanwhile is sent.
  void completeConnect();
  // The connect fails: errno = `error`, then onClosed(ConnectFailed).
  void failConnect(int error = ECONNREFUSED);
  // The peer sends `bytes`: appended to input(), then onReadReady(input()). While reading is
  // disabled the bytes are held (as the kernel would) until deliverHeld(). Ignored once closed.
  void receive(std::string_view bytes);
  // Delivers what receive() held while reading was disabled (the loop's next read once it is
  // enabled again). Nothing happens if reading is still disabled or nothing is held.
  void deliverHeld();
  // The peer closes (RemoteClose: EOF) or the connection breaks (Reset): onClosed(reason).
  // Ignored once closed.
  void remoteClose(event::CloseReason reason = event::CloseReason::RemoteClose);
  // While blocked the peer takes nothing: writes stay in the output buffer (outputLength(),
  // the high watermark). Unblocking sends them (the low watermark, a pending FlushWrite close).
  void setWriteBlocked(bool blocked);
  // The next send fails, as a write on a broken socket: onClosed(Reset), from inside write().
  void failNextSend() { fail_next_send_ = true; }

  // What the test observes.

  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }
  bool connecting() const { return connecting_; }
  // Everything the peer has received, in order; takeWritten() also clears it.
  const std::string& written() const { return written_; }
  std::string takeWritten();
  // How the owner closed it; empty if it did not (still open, or closed by the peer).
  std::optional<CloseType> closeType() const { return close_type_; }
  // Bytes held by receive() while reading was disabled.
  size_t heldBytes() const { return held_.size(); }
  size_t lowWatermark() const { return low_watermark_; }
  size_t highWatermark() const { return high_watermark_; }

  // event::Transport
  void write(http::Buffer& data) override;
  void write(std::string_view data) override;
  void readDisable(bool disable) override;
  bool readEnabled() const override { return read_disable_count_ == 0; }
  void close(CloseType type) override;
  bool closed() const override { return closed_; }
  bool closing() const override { return flush_then_close_; }
  void setWatermarks(size_t low, size_t high) override;
  size_t outputLength() const override { return output_.length(); }
  http::Buffer& input() override { return input_; }
  void setCallbacks(event::ConnectionCallbacks& callbacks) override { callbacks_ = &callbacks; }

 private:
  friend class FakeConnector;
  http::Buffer* beginWrite() override;
  void endWrite() override;
  void afterWrite();
  void flush();
  void markClosed();
  void updateWatermarks(size_t length);

  FakeConnector* connector_;
  const std::string host_;
  const uint16_t port_;
  event::ConnectionCallbacks* callbacks_;
  http::Buffer input_;
  http::Buffer output_;
  std::string written_;
  std::string held_;
  std::optional<CloseType> close_type_;
  bool connecting_ = true;
  bool closed_ = false;
  bool flush_then_close_ = false;
  bool write_blocked_ = false;
  bool fail_next_send_ = false;
  bool above_high_ = false;
  int read_disable_count_ = 0;
  size_t low_watermark_ = 32 * 1024;
  size_t high_watermark_ = 64 * 1024;
};

// A Connector that hands out FakeTransports, connecting until the test says otherwise, and keeps
// track of them: how many connects were asked for, to where, and which transports are alive.
class FakeConnector final : public event::Connector {
 public:
  FakeConnector() = default;
  ~FakeConnector() override;
  FakeConnector(const FakeConnector&) = delete;
  FakeConnector& operator=(const FakeConnector&) = delete;

  // The next connect() fails at once, with `error` as the reason.
  void failNextConnect(std::string error = "Connection refused") { fail_next_ = std::move(error); }

  // Every connect() call, failed ones included, as "host:port".
  const std::vector<std::string>& connectCalls() const { return calls_; }
  // Transports returned so far, whether or not still alive.
  size_t created() const { return transports_.size(); }
  // The i-th transport returned (0-based); null once destroyed.
  FakeTransport* transport(size_t i) const { return transports_.at(i); }
  // The most recent transport returned; null if none, or if it has been destroyed.
  FakeTransport* last() const { return transports_.empty() ? nullptr : transports_.back(); }
  // Transports not yet destroyed, and of those, the ones not closed.
  size_t liveTransports() const;
  size_t openTransports() const;

  // event::Connector
  std::unique_ptr<event::Transport> connect(const std::string& host, uint16_t port,
                                            event::ConnectionCallbacks& callbacks,
                                            std::string& error) override;

 private:
  friend class FakeTransport;
  void forget(FakeTransport* t);

  std::optional<std::string> fail_next_;
  std::vector<std::string> calls_;
  std::vector<FakeTransport*> transports_;  // by creation; null once destroyed
};

}  // namespace switchyard::test
