#include "proxy/event/connection.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "proxy/common/time.h"

namespace switchyard::event {
namespace {

constexpr size_t kReadSize = 64 * 1024;
// With libevent's chain header a chain is 1 KiB, small enough for malloc's per-thread cache;
// a peer that sends more gets a larger reservation (see doRead).
constexpr size_t kChainSize = 1024 - 128;

// TLS: the most plaintext taken from the socket in one read event (the rest waits for the next
// turn of the loop, so one busy client cannot hold the others up), and the largest record.
constexpr size_t kTlsReadPerEvent = 256 * 1024;
constexpr size_t kTlsRecord = 16 * 1024;
// The first byte of every TLS record that can open a connection (a handshake record).
constexpr unsigned char kTlsHandshakeRecord = 0x16;
constexpr size_t kPlaintextLingerBytes = 64 * 1024;
constexpr std::string_view kPlaintextAnswer =
    "HTTP/1.1 400 Bad Request\r\n"
    "Content-Type: application/problem+json\r\n"
    "Content-Length: 97\r\n"
    "Connection: close\r\n"
    "\r\n"
    "{\"type\":\"about:blank\",\"title\":\"Bad Request\",\"status\":400,"
    "\"detail\":\"this port speaks HTTPS only\"}\n";

// Connections written to during the current read callback of this thread; null outside one.
thread_local std::vector<Connection*>* t_batch = nullptr;

}  // namespace

struct Connection::TlsState {
  SslPtr ssl;  // null once closed, or after a plaintext client was told off
  std::shared_ptr<const void> context;
  bool server = false;
  bool tcp_connected = false;     // client: the TCP connect has completed
  bool checked_first = false;     // server: the first byte was a TLS record
  bool read_wants_write = false;  // SSL_read() needs the socket writable (a key update)
  TlsFailure failure = TlsFailure::None;
  const char* reason = nullptr;  // client: the failure as a metric label
  std::string error;
  const char* version = nullptr;
  const char* cipher = nullptr;  // OpenSSL's name, static
  bool reused = false;
};

Connection::WriteBatch::WriteBatch() {
  if (t_batch == nullptr) {
    static thread_local std::vector<Connection*> pending;
    t_batch = &pending;
    owner_ = true;
  }
}

Connection::WriteBatch::~WriteBatch() {
  if (!owner_) return;
  // flush() may close connections (and their owners may write to others): take them one by one.
  std::vector<Connection*>& pending = *t_batch;
  while (!pending.empty()) {
    Connection* c = pending.back();
    pending.pop_back();
    c->in_batch_ = false;
    if (c->fd_ >= 0 && !c->write_armed_ && !c->connecting_) c->flush();
  }
  t_batch = nullptr;
}

Connection::Connection(event_base* base, int fd, bool connecting, ConnectionCallbacks& callbacks)
    : fd_(fd), callbacks_(&callbacks), connecting_(connecting), reserve_(kChainSize) {
  read_ev_.reset(event_new(base, fd, EV_READ | EV_PERSIST, &Connection::onReadEvent, this));
  if (read_ev_ == nullptr) abort();
  if (connecting_) {
    armWrite();
  } else {
    event_add(read_ev_.get(), nullptr);
  }
}

Connection::~Connection() {
  if (in_batch_ && t_batch != nullptr) {
    auto& v = *t_batch;
    v.erase(std::remove(v.begin(), v.end(), this), v.end());
  }
  closeSocket();
}

bool toSocketAddr(const std::string& host, uint16_t port, SocketAddr& out) {
  out = SocketAddr{};
  if (host.find(':') != std::string::npos) {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    out.length = sizeof(*a6);
    return inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1;
  }
  auto* a4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  a4->sin_family = AF_INET;
  a4->sin_port = htons(port);
  out.length = sizeof(*a4);
  return inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1;
}

int Connection::connectTo(const std::string& host, uint16_t port) {
  SocketAddr addr;
  if (!toSocketAddr(host, port, addr)) {
    errno = EINVAL;
    return -1;
  }
  int fd = socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, addr.get(), addr.length) != 0 && errno != EINPROGRESS) {
    int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

std::unique_ptr<Transport> LibeventConnector::connect(const std::string& host, uint16_t port,
                                                      ConnectionCallbacks& callbacks,
                                                      std::string& error) {
  const int fd = Connection::connectTo(host, port);
  if (fd < 0) {
    error = strerror(errno);
    return nullptr;
  }
  return std::make_unique<Connection>(base_, fd, true, callbacks);
}

std::unique_ptr<Transport> LibeventConnector::connectTls(
    const std::string& host, uint16_t port, ConnectionCallbacks& callbacks, std::string& error,
    const std::shared_ptr<const ClientTlsContext>& tls, SslSessionPtr* session) {
  const int fd = Connection::connectTo(host, port);
  if (fd < 0) {
    error = strerror(errno);
    return nullptr;
  }
  auto conn = std::make_unique<Connection>(base_, fd, true, callbacks);
  conn->startTls(tls->newSsl(host, session), tls);
  return conn;
}

void Connection::onReadEvent(int, short, void* arg) noexcept {
  common::CachedClockScope clock;
  static_cast<Connection*>(arg)->doRead();
}

void Connection::onWriteEvent(int, short, void* arg) noexcept {
  common::CachedClockScope clock;
  static_cast<Connection*>(arg)->doWrite();
}

void Connection::doRead() {
  if (fd_ < 0) return;
  if (linger_) {
    drainLingering();
    return;
  }
  if (tls_ != nullptr) {
    tlsRead();
    return;
  }
  // Read straight into a small reserved chain, with a per-thread overflow area for larger reads:
  // evbuffer_read() would first ask the kernel how much is readable (an ioctl per read), and
  // reserving a large chain per read costs a large allocation per request.
  thread_local char overflow[kReadSize];
  evbuffer_iovec vec[2];
  const int nvec = evbuffer_reserve_space(input_.raw(), reserve_, vec, 2);
  if (nvec < 1) abort();
  iovec iov[3];
  size_t reserved = 0;
  for (int i = 0; i < nvec; ++i) {
    iov[i].iov_base = vec[i].iov_base;
    iov[i].iov_len = vec[i].iov_len;
    reserved += vec[i].iov_len;
  }
  iov[nvec].iov_base = overflow;
  iov[nvec].iov_len = sizeof(overflow);
  const ssize_t n = readv(fd_, iov, nvec + 1);
  if (n > 0) {
    size_t left = static_cast<size_t>(n);
    for (int i = 0; i < nvec; ++i) {
      const size_t take = left < vec[i].iov_len ? left : vec[i].iov_len;
      vec[i].iov_len = take;
      left -= take;
    }
    evbuffer_commit_space(input_.raw(), vec, nvec);
    if (static_cast<size_t>(n) > reserved) {
      evbuffer_add(input_.raw(), overflow, n - reserved);
      // This peer sends more than we reserve: reserve what it sent next time (up to the
      // overflow size), so large bodies are read without a second copy.
      reserve_ = std::min(((static_cast<size_t>(n) + 4095) & ~size_t{4095}) - 64, kReadSize);
    } else if (static_cast<size_t>(n) < reserve_ / 4 && reserve_ > kChainSize) {
      reserve_ = std::max(reserve_ / 2, kChainSize);
    }
    WriteBatch batch;
    callbacks_->onReadReady(input_);
    return;
  }
  evbuffer_commit_space(input_.raw(), vec, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  const CloseReason reason = n == 0 ? CloseReason::RemoteClose : CloseReason::Reset;
  closeSocket();
  callbacks_->onClosed(reason);
}

void Connection::doWrite() {
  if (fd_ < 0) return;
  if (connecting_) {
    if (tls_ != nullptr && tls_->tcp_connected) {
      tlsHandshake();
      return;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      errno = err;
      closeSocket();
      callbacks_->onClosed(CloseReason::ConnectFailed);
      return;
    }
    event_add(read_ev_.get(), nullptr);
    if (tls_ != nullptr) {
      // Connected; the handshake is next, and reads and writes serve it whatever the owner set.
      tls_->tcp_connected = true;
      event_del(write_ev_.get());
      write_armed_ = false;
      tlsHandshake();
      return;
    }
    connecting_ = false;
    if (output_.empty()) {
      event_del(write_ev_.get());
      write_armed_ = false;
    }
    if (read_disable_count_ > 0) event_del(read_ev_.get());
    callbacks_->onConnected();
    if (fd_ < 0) return;
  }
  if (tls_ != nullptr && tls_->read_wants_write) {
    tls_->read_wants_write = false;
    tlsRead();
    if (fd_ < 0) return;
  }
  flush();
}

Connection::SendResult Connection::plainSendOutput() {
  size_t left = output_.length();
  while (left > 0) {
    const int n = evbuffer_write(output_.raw(), fd_);
    if (n > 0) {
      left -= static_cast<size_t>(n);  // evbuffer_write drained what it sent
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return SendResult::Blocked;
    return SendResult::Failed;
  }
  return SendResult::Done;
}

void Connection::flush() {
  const SendResult sent = sendOutput();
  if (sent == SendResult::Failed) {
    closeSocket();
    callbacks_->onClosed(CloseReason::Reset);
    return;
  }
  if (sent == SendResult::Done) {
    if (write_armed_) {
      event_del(write_ev_.get());
      write_armed_ = false;
    }
    if (flush_then_close_) {
      if (linger_) {
        startLinger();
        return;
      }
      if (tls_ != nullptr) tlsShutdown();
      closeSocket();
      callbacks_->onClosed(CloseReason::LocalClose);
      return;
    }
    updateWatermarks(0);
    return;
  }
  if (!write_armed_) armWrite();
  updateWatermarks(output_.length());
}

void Connection::updateWatermarks(size_t len) {
  if (!above_high_ && len > high_watermark_) {
    above_high_ = true;
    callbacks_->onAboveWriteBufferHighWatermark();
  } else if (above_high_ && len <= low_watermark_) {
    above_high_ = false;
    callbacks_->onBelowWriteBufferLowWatermark();
  }
}

void Connection::write(Buffer& data) {
  if (fd_ < 0 || flush_then_close_) {
    data.drain(data.length());
    return;
  }
  output_.move(data);
  afterWrite();
}

void Connection::afterWrite() {
  if (connecting_ || write_armed_) {
    updateWatermarks(output_.length());
    return;
  }
  if (t_batch != nullptr) {
    if (!in_batch_) {
      in_batch_ = true;
      t_batch->push_back(this);
    }
    // Only growth can cross the high mark before the batch sends.
    if (!above_high_) updateWatermarks(output_.length());
    return;
  }
  flush();
}

void Connection::write(std::string_view data) {
  if (fd_ < 0 || flush_then_close_) return;
  evbuffer_add(output_.raw(), data.data(), data.size());
  afterWrite();
}

void Connection::readDisable(bool disable) {
  if (fd_ < 0) return;
  if (disable) {
    if (read_disable_count_++ == 0 && !connecting_) event_del(read_ev_.get());
  } else if (read_disable_count_ > 0) {
    if (--read_disable_count_ == 0 && !connecting_) event_add(read_ev_.get(), nullptr);
  }
}

void Connection::close(CloseType type) {
  if (fd_ < 0) return;
  // Send what can go now; wait for the socket only if the kernel's buffer is full.
  if (type == CloseType::FlushWrite && !connecting_ && sendOutput() == SendResult::Blocked) {
    flush_then_close_ = true;
    event_del(read_ev_.get());
    if (!write_armed_) armWrite();
    return;
  }
  if (type == CloseType::Reset) {
    linger lg{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  } else if (tls_ != nullptr && !connecting_) {
    tlsShutdown();
  }
  closeSocket();
}

void Connection::lingerClose(size_t max_bytes) {
  if (fd_ < 0 || linger_) return;
  if (connecting_) {
    close(CloseType::NoFlush);
    return;
  }
  linger_ = true;
  linger_left_ = max_bytes;
  flush_then_close_ = true;
  input_.drain(input_.length());
  // Reading goes on whatever the owner had paused: a peer blocked on a full socket would never
  // read the answer.
  if (read_disable_count_ > 0) {
    read_disable_count_ = 0;
    event_add(read_ev_.get(), nullptr);
  }
  const SendResult sent = sendOutput();
  if (sent == SendResult::Failed) {
    closeSocket();
    return;
  }
  if (sent == SendResult::Blocked) {
    if (!write_armed_) armWrite();
    return;
  }
  startLinger();
}

void Connection::startLinger() {
  if (write_armed_) {
    event_del(write_ev_.get());
    write_armed_ = false;
  }
  write_shut_ = true;
  if (tls_ != nullptr) tlsShutdown();
  if (peer_eof_ || ::shutdown(fd_, SHUT_WR) != 0) {
    closeSocket();
    callbacks_->onClosed(CloseReason::LocalClose);
  }
}

void Connection::drainLingering() {
  thread_local char sink[kReadSize];
  const ssize_t n = ::read(fd_, sink, sizeof(sink));
  if (n > 0) {
    const size_t got = static_cast<size_t>(n);
    if (got < linger_left_) {
      linger_left_ -= got;
      return;
    }
    // Enough: whatever the peer still sends draws the reset lingering tried to spare it.
    closeSocket();
    callbacks_->onClosed(CloseReason::LocalClose);
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n == 0 && !write_shut_) {
    // The peer has sent all it will but may still read: finish sending the answer first.
    peer_eof_ = true;
    event_del(read_ev_.get());
    return;
  }
  closeSocket();
  callbacks_->onClosed(n == 0 ? CloseReason::LocalClose : CloseReason::Reset);
}

void Connection::closeSocket() {
  if (fd_ < 0) return;
  event_del(read_ev_.get());
  if (write_ev_) event_del(write_ev_.get());
  write_armed_ = false;
  if (tls_ != nullptr) tls_->ssl.reset();
  ::close(fd_);
  fd_ = -1;
}

void Connection::armWrite() {
  // Made on first need: most connections never find the kernel's buffer full, and an idle one
  // should cost as little as possible.
  if (!write_ev_) {
    write_ev_.reset(event_new(event_get_base(read_ev_.get()), fd_, EV_WRITE | EV_PERSIST,
                              &Connection::onWriteEvent, this));
    if (write_ev_ == nullptr) abort();
  }
  event_add(write_ev_.get(), nullptr);
  write_armed_ = true;
}

int Connection::releaseFd() {
  if (fd_ < 0 || linger_ || flush_then_close_ || tls_ != nullptr) return -1;
  event_del(read_ev_.get());
  if (write_ev_) event_del(write_ev_.get());
  write_armed_ = false;
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void Connection::startTls(SslPtr ssl, std::shared_ptr<const void> context) {
  tls_ = std::make_unique<TlsState>();
  tls_->server = SSL_is_server(ssl.get()) == 1;
  tls_->tcp_connected = tls_->server;
  SSL_set_fd(ssl.get(), fd_);
  tls_->ssl = std::move(ssl);
  tls_->context = std::move(context);
  // Output waits for the handshake, as it waits for a connect.
  connecting_ = true;
}

TlsFailure Connection::tlsFailure() const {
  return tls_ != nullptr ? tls_->failure : TlsFailure::None;
}

bool Connection::tlsSessionReused() const { return tls_ != nullptr && tls_->reused; }

const char* Connection::tlsFailureReason() const {
  if (tls_ == nullptr || tls_->failure == TlsFailure::None) return nullptr;
  return tls_->reason != nullptr ? tls_->reason : tlsFailureName(tls_->failure);
}

std::string_view Connection::tlsError() const {
  return tls_ != nullptr ? std::string_view(tls_->error) : std::string_view();
}

const char* Connection::tlsVersion() const { return tls_ != nullptr ? tls_->version : nullptr; }
const char* Connection::tlsCipher() const { return tls_ != nullptr ? tls_->cipher : nullptr; }

bool Connection::tlsHandshake() {
  TlsState& t = *tls_;
  if (t.server && !t.checked_first) {
    // Plain HTTP to a TLS port would otherwise end in an obscure protocol error: look at the
    // first byte before OpenSSL does.
    unsigned char first = 0;
    const ssize_t n = ::recv(fd_, &first, 1, MSG_PEEK);
    if (n == 1) {
      t.checked_first = true;
      if (first != kTlsHandshakeRecord) {
        rejectPlaintext();
        return false;
      }
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      return false;
    } else if (n == 0) {
      // Connected and gone without a byte (a port probe): no handshake was attempted.
      closeSocket();
      callbacks_->onClosed(CloseReason::RemoteClose);
      return false;
    }
  }
  ERR_clear_error();
  const int r = SSL_do_handshake(t.ssl.get());
  if (r == 1) {
    tlsEstablished();
    return fd_ >= 0 && !connecting_ && read_disable_count_ == 0 && !linger_ && !flush_then_close_;
  }
  const int err = SSL_get_error(t.ssl.get(), r);
  if (err == SSL_ERROR_WANT_READ) {
    if (write_armed_) {
      event_del(write_ev_.get());
      write_armed_ = false;
    }
    return false;
  }
  if (err == SSL_ERROR_WANT_WRITE) {
    if (!write_armed_) armWrite();
    return false;
  }
  const unsigned long e = ERR_peek_error();
  if (t.server) {
    t.failure = classifyServerFailure(err, e);
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    t.error = e != 0 ? buf : "the client closed the connection during the handshake";
  } else {
    TlsVerifyError v = describeClientFailure(t.ssl.get(), e);
    t.failure = TlsFailure::BadCertificate;
    t.reason = v.reason;
    t.error = std::move(v.detail);
  }
  ERR_clear_error();
  tlsFailed(t.failure);
  return false;
}

void Connection::tlsEstablished() {
  TlsState& t = *tls_;
  t.version = SSL_get_version(t.ssl.get());
  t.cipher = SSL_get_cipher_name(t.ssl.get());
  t.reused = SSL_session_reused(t.ssl.get()) == 1;
  connecting_ = false;
  if (write_armed_ && output_.empty()) {
    event_del(write_ev_.get());
    write_armed_ = false;
  }
  if (read_disable_count_ > 0) event_del(read_ev_.get());
  callbacks_->onConnected();
  if (fd_ < 0 || connecting_) return;
  if (!output_.empty() && !write_armed_) flush();
}

void Connection::tlsFailed(TlsFailure failure) {
  tls_->failure = failure;
  closeSocket();
  callbacks_->onClosed(tls_->server ? CloseReason::Reset : CloseReason::ConnectFailed);
}

void Connection::rejectPlaintext() {
  // The client is told in words it can read, and the connection closes the way any answered
  // but unread request does (see lingerClose()).
  tls_->failure = TlsFailure::Plaintext;
  tls_->error = "plain HTTP sent to a TLS port";
  tls_->ssl.reset();
  connecting_ = false;
  output_.drain(output_.length());
  evbuffer_add(output_.raw(), kPlaintextAnswer.data(), kPlaintextAnswer.size());
  lingerClose(kPlaintextLingerBytes);
  // Closed without a word when sending failed at once (a close after the answer went out has
  // reported itself).
  if (fd_ < 0 && !write_shut_) callbacks_->onClosed(CloseReason::Reset);
}

void Connection::tlsShutdown() {
  if (!tls_->ssl || connecting_) return;
  ERR_clear_error();
  SSL_shutdown(tls_->ssl.get());
  ERR_clear_error();
}

void Connection::tlsRead() {
  if (connecting_) {
    if (!tls_->tcp_connected || !tlsHandshake()) return;
  }
  SSL* ssl = tls_->ssl.get();
  if (ssl == nullptr) return;
  size_t total = 0;
  bool closed = false;
  CloseReason reason = CloseReason::RemoteClose;
  while (total < kTlsReadPerEvent) {
    evbuffer_iovec vec[1];
    if (evbuffer_reserve_space(input_.raw(), kTlsRecord, vec, 1) < 1) abort();
    ERR_clear_error();
    const int n = SSL_read(ssl, vec[0].iov_base, static_cast<int>(vec[0].iov_len));
    if (n > 0) {
      vec[0].iov_len = static_cast<size_t>(n);
      evbuffer_commit_space(input_.raw(), vec, 1);
      total += static_cast<size_t>(n);
      continue;
    }
    evbuffer_commit_space(input_.raw(), vec, 0);
    const int err = SSL_get_error(ssl, n);
    if (err == SSL_ERROR_WANT_READ) break;
    if (err == SSL_ERROR_WANT_WRITE) {
      tls_->read_wants_write = true;
      if (!write_armed_) armWrite();
      break;
    }
    if (err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EINTR)) break;
    closed = true;
    reason = err == SSL_ERROR_ZERO_RETURN ? CloseReason::RemoteClose : CloseReason::Reset;
    ERR_clear_error();
    break;
  }
  if (total > 0) {
    WriteBatch batch;
    callbacks_->onReadReady(input_);
  }
  // What arrived with the end of the stream was handed over first; a close the owner is waiting
  // out itself (lingering, flushing) sees the end on its own.
  if (closed && fd_ >= 0 && !linger_ && !flush_then_close_) {
    closeSocket();
    callbacks_->onClosed(reason);
  }
}

Connection::SendResult Connection::tlsSendOutput() {
  SSL* ssl = tls_->ssl.get();
  if (ssl == nullptr) return plainSendOutput();  // the plaintext client's answer
  while (!output_.empty()) {
    // One record per call: the buffer's first bytes made contiguous (a retry after WANT_WRITE
    // passes them again, at least as many, as OpenSSL requires).
    const size_t len = std::min(output_.length(), kTlsRecord);
    unsigned char* data = evbuffer_pullup(output_.raw(), static_cast<ssize_t>(len));
    ERR_clear_error();
    const int n = SSL_write(ssl, data, static_cast<int>(len));
    if (n > 0) {
      output_.drain(static_cast<size_t>(n));
      continue;
    }
    const int err = SSL_get_error(ssl, n);
    if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) return SendResult::Blocked;
    ERR_clear_error();
    return SendResult::Failed;
  }
  return SendResult::Done;
}

std::string peerAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof(buf));
  } else if (ss.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof(buf));
  }
  return buf;
}

}  // namespace switchyard::event
