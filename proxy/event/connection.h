#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>

#include "proxy/event/buffer.h"
#include "proxy/event/connector.h"
#include "proxy/event/dispatcher.h"
#include "proxy/event/libevent.h"
#include "proxy/event/tls.h"
#include "proxy/event/transport.h"

namespace switchyard::event {

// A non-blocking TCP socket on a libevent loop: reads into an input buffer, writes from an output
// buffer with an optimistic write first (the write event is armed only when the kernel's buffer
// is full), and flow control through watermarks on the output buffer.
//
// Optionally TLS (startTls()): the same object, with OpenSSL reading and writing the socket in
// place of readv() and writev(). The choice is made once per read or write event (one test of a
// pointer), never per request, so a plain connection pays nothing else for it. Until the
// handshake is done the connection counts as connecting (output is held); onConnected() then
// follows, on both sides.
class Connection final : public Transport {
 public:
  // Takes ownership of `fd`. `connecting` is true for an outbound socket whose connect() is in
  // progress; onConnected() or onClosed(ConnectFailed) follows.
  Connection(event_base* base, int fd, bool connecting, ConnectionCallbacks& callbacks);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Opens a non-blocking connection to host:port; returns -1 (and sets errno) on an immediate
  // failure.
  static int connectTo(const std::string& host, uint16_t port);

  // Transport
  void write(Buffer& data) override;
  void write(std::string_view data) override;
  void readDisable(bool disable) override;
  bool readEnabled() const override { return read_disable_count_ == 0; }
  void close(CloseType type) override;
  bool closed() const override { return fd_ < 0; }
  bool closing() const override { return fd_ >= 0 && flush_then_close_; }
  // A close for a peer that may still be sending (an answer given before the whole request was
  // read): what is buffered is sent, the write side is shut down (FIN), and input is read and
  // dropped until the peer closes or `max_bytes` more arrive; then onClosed(LocalClose). Had the
  // socket been closed with input unread, or input arrived after, the kernel would answer with a
  // reset, and the client might never read the answer. Input buffered so far is dropped at once.
  // The caller bounds the wait with its own timer, as for FlushWrite (closing() is true).
  void lingerClose(size_t max_bytes);
  void setWatermarks(size_t low, size_t high) override {
    low_watermark_ = low;
    high_watermark_ = high;
  }
  size_t outputLength() const override { return output_.length(); }
  Buffer& input() override { return input_; }
  void setCallbacks(ConnectionCallbacks& cb) override { callbacks_ = &cb; }

  // Transport::writeWith() without its two virtual calls, for owners that hold a Connection
  // (the compiler does not prove the dynamic type of a member and guards each call instead).
  template <class Fill>
  void writeWith(Fill&& fill) {
    if (fd_ < 0 || flush_then_close_) return;
    fill(output_);
    afterWrite();
  }

  int fd() const { return fd_; }

  // Makes this a TLS connection, before any I/O: an accepted socket (a server-side `ssl`) waits
  // for the client's hello; an outbound one (client-side) starts the handshake once connected.
  // `context` is kept alive as long as the SSL object may call back into it. A server-side
  // connection whose first byte is not a TLS record (plain HTTP to a TLS port) gets a plain
  // `400` answer and a lingering close; tlsFailure() then says Plaintext.
  void startTls(SslPtr ssl, std::shared_ptr<const void> context);
  bool tls() const { return tls_ != nullptr; }
  // Why the handshake failed (None while it goes on, or once it succeeded).
  TlsFailure tlsFailure() const;

  // Transport
  const char* tlsFailureReason() const override;
  std::string_view tlsError() const override;
  const char* tlsVersion() const override;
  const char* tlsCipher() const override;
  bool tlsSessionReused() const override;

  // Hands the socket over to the caller, open, with no event left on it; the connection is
  // closed() from then on. -1 while a FlushWrite or lingering close is under way, and for TLS.
  int releaseFd();

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
  SendResult sendOutput() {
    if (tls_ != nullptr) return tlsSendOutput();
    return plainSendOutput();
  }
  SendResult plainSendOutput();
  struct TlsState;
  SendResult tlsSendOutput();
  void tlsRead();
  // Drives the handshake; true once it is done and reading may go on.
  bool tlsHandshake();
  void tlsEstablished();
  void tlsFailed(TlsFailure failure);
  void rejectPlaintext();
  // Sends close_notify if it can go now (best effort: the socket closes either way).
  void tlsShutdown();
  void flush();
  void closeSocket();
  // Waits for the socket to take more output (makes the write event on first use).
  void armWrite();
  // The output is sent: shut the write side down and keep dropping input.
  void startLinger();
  // Reads and drops input while lingering.
  void drainLingering();
  void updateWatermarks(size_t output_length);
  void afterWrite();
  Buffer* beginWrite() override { return fd_ < 0 || flush_then_close_ ? nullptr : &output_; }
  void endWrite() override { afterWrite(); }

  int fd_;
  ConnectionCallbacks* callbacks_;
  EventPtr read_ev_;
  EventPtr write_ev_;  // null until a write first blocks (or a connect starts)
  Buffer input_;
  Buffer output_;
  bool connecting_;
  bool write_armed_ = false;
  bool flush_then_close_ = false;
  bool above_high_ = false;
  bool in_batch_ = false;
  bool linger_ = false;      // lingerClose(): input is dropped
  bool write_shut_ = false;  // lingering after shutdown(SHUT_WR)
  bool peer_eof_ = false;    // the peer closed its side while lingering
  size_t linger_left_ = 0;   // bytes still to drop before giving up
  int read_disable_count_ = 0;
  size_t low_watermark_ = 32 * 1024;
  size_t high_watermark_ = 64 * 1024;
  size_t reserve_;  // bytes of input chain reserved per read; adapts to what the peer sends
  std::unique_ptr<TlsState> tls_;  // null: plain TCP
};

// Outbound TCP connections (Connection) on one libevent loop. `host` is a numeric IPv4 or IPv6
// address; an immediate failure's `error` is strerror(errno).
class LibeventConnector final : public Connector {
 public:
  explicit LibeventConnector(event_base* base) : base_(base) {}

  std::unique_ptr<Transport> connect(const std::string& host, uint16_t port,
                                     ConnectionCallbacks& callbacks, std::string& error) override;
  std::unique_ptr<Transport> connectTls(const std::string& host, uint16_t port,
                                        ConnectionCallbacks& callbacks, std::string& error,
                                        const std::shared_ptr<const ClientTlsContext>& tls,
                                        SslSessionPtr* session) override;

 private:
  event_base* const base_;
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
