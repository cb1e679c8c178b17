#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "proxy/event/dispatcher.h"
#include "proxy/event/libevent.h"
#include "proxy/http/buffer.h"

namespace switchyard::event {

enum class CloseReason {
  LocalClose,   // we closed it
  RemoteClose,  // the peer closed (EOF)
  Reset,        // read/write error, RST
  ConnectFailed,
};

// What a connection reports to its owner. All on the dispatcher's thread. The owner may close
// the connection (and schedule its own deferred deletion) from inside any of these.
class ConnectionCallbacks {
 public:
  virtual ~ConnectionCallbacks() = default;
  virtual void onReadReady(http::Buffer& input) = 0;
  virtual void onClosed(CloseReason reason) = 0;
  virtual void onConnected() {}
  virtual void onAboveWriteBufferHighWatermark() {}
  virtual void onBelowWriteBufferLowWatermark() {}
};

// A non-blocking TCP socket on a libevent loop: reads into an input buffer, writes from an output
// buffer with an optimistic write first (the write event is armed only when the kernel's buffer
// is full), and flow control through watermarks on the output buffer.
class Connection {
 public:
  // Takes ownership of `fd`. `connecting` is true for an outbound socket whose connect() is in
  // progress; onConnected() or onClosed(ConnectFailed) follows.
  Connection(event_base* base, int fd, bool connecting, ConnectionCallbacks& callbacks);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Opens a non-blocking connection to host:port; returns nullptr (and sets errno) on an
  // immediate failure.
  static int connectTo(const std::string& host, uint16_t port);

  // Moves `data` to the output buffer and tries to send it now.
  void write(http::Buffer& data);
  void write(std::string_view data);
  // Lets `fill` append to the output buffer in place (a head encoded straight into it), then
  // sends as write() does.
  template <class Fill>
  void writeWith(Fill&& fill) {
    if (fd_ < 0 || flush_then_close_) return;
    fill(output_);
    afterWrite();
  }
  // Stops/starts reading. Calls nest: reading resumes when every disable has been undone.
  void readDisable(bool disable);
  bool readEnabled() const { return read_disable_count_ == 0; }
  // NoFlush drops what is buffered and closes now, without a callback. FlushWrite closes now if
  // nothing is buffered (no callback); otherwise it stops reading, sends what is buffered and
  // then calls onClosed(LocalClose) (or onClosed(Reset) if the peer goes away first). The
  // caller bounds that wait with its own timer. Reset closes with an RST. Idempotent.
  enum class CloseType { FlushWrite, NoFlush, Reset };
  void close(CloseType type);
  bool closed() const { return fd_ < 0; }
  bool closing() const { return flush_then_close_; }

  void setWatermarks(size_t low, size_t high) {
    low_watermark_ = low;
    high_watermark_ = high;
  }
  size_t outputLength() const { return output_.length(); }
  http::Buffer& input() { return input_; }
  int fd() const { return fd_; }
  void setCallbacks(ConnectionCallbacks& cb) { callbacks_ = &cb; }

  // While a read callback runs, writes to any connection of the thread are collected and sent
  // once when it returns, so a response head and the body parsed in the same read leave in one
  // writev. Outside a read callback (timers, posted work) writes go out at once.
  class WriteBatch {
   public:
    WriteBatch();
    ~WriteBatch();
    WriteBatch(const WriteBatch&) = delete;
    WriteBatch& operator=(const WriteBatch&) = delete;

   private:
    bool owner_ = false;
  };

 private:
  friend class WriteBatch;
  static void onReadEvent(int fd, short what, void* arg) noexcept;
  static void onWriteEvent(int fd, short what, void* arg) noexcept;
  void doRead();
  void doWrite();
  enum class SendResult { Done, Blocked, Failed };
  SendResult sendOutput();
  void flush();
  void closeSocket();
  void updateWatermarks(size_t output_length);
  void afterWrite();

  int fd_;
  ConnectionCallbacks* callbacks_;
  EventPtr read_ev_;
  EventPtr write_ev_;
  http::Buffer input_;
  http::Buffer output_;
  bool connecting_;
  bool write_armed_ = false;
  bool flush_then_close_ = false;
  bool above_high_ = false;
  bool in_batch_ = false;
  int read_disable_count_ = 0;
  size_t low_watermark_ = 32 * 1024;
  size_t high_watermark_ = 64 * 1024;
  size_t reserve_;  // bytes of input chain reserved per read; adapts to what the peer sends
};

std::string peerAddress(int fd);

// A socket address for a numeric IPv4 or IPv6 host (no brackets). Returns false when `host` is
// neither.
struct SocketAddr {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};
bool toSocketAddr(const std::string& host, uint16_t port, SocketAddr& out);

}  // namespace switchyard::event
