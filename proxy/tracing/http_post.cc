#include "proxy/tracing/http_post.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace switchyard::tracing {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds AbortCheckInterval{25};
constexpr size_t MaxHeadBytes = 16 * 1024;
constexpr size_t MaxErrorBodyChars = 200;

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

enum class Wait { Ready, Timeout, Aborted, Error };

// Waits for `events` on `fd` until `deadline`, waking every AbortCheckInterval to look at `abort`.
Wait waitFor(int fd, short events, common::MonotonicTime deadline, const common::TimeSource& time,
             const std::atomic<bool>& abort) {
  while (true) {
    if (abort.load(std::memory_order_relaxed)) return Wait::Aborted;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - time.monotonicNow());
    if (left <= milliseconds(0)) return Wait::Timeout;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min(left, AbortCheckInterval).count()));
    if (n > 0) return (p.revents & (events | POLLHUP | POLLERR)) != 0 ? Wait::Ready : Wait::Error;
    if (n < 0 && errno != EINTR) return Wait::Error;
  }
}

std::string errnoText(int err) { return std::strerror(err); }

std::string describe(Wait w, const char* what) {
  switch (w) {
    case Wait::Timeout:
      return std::string("timed out ") + what;
    case Wait::Aborted:
      return std::string("gave up ") + what + " (shutting down)";
    default:
      return std::string("poll failed ") + what;
  }
}

// "HTTP/1.1 200 OK" -> 200; 0 if the line is not a status line.
int parseStatus(std::string_view head) {
  if (head.substr(0, 7) != "HTTP/1." || head.size() < 12 || head[8] != ' ') return 0;
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (head[i] < '0' || head[i] > '9') return 0;
    status = status * 10 + (head[i] - '0');
  }
  return status;
}

std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, MaxErrorBodyChars)) {
    out += (c >= 0x20 && c < 0x7f) ? c : ' ';
  }
  return out;
}

}  // namespace

PostOutcome postJson(const CollectorEndpoint& endpoint, std::string_view body, milliseconds timeout,
                     const common::TimeSource& time, const std::atomic<bool>& abort) {
  PostOutcome out;
  const std::string where =
      (endpoint.host.find(':') != std::string::npos ? "[" + endpoint.host + "]" : endpoint.host) +
      ":" + std::to_string(endpoint.port);

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* resolved = nullptr;
  const std::string port = std::to_string(endpoint.port);
  if (const int rc = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &resolved);
      rc != 0) {
    out.error = "bad collector address " + where + ": " + gai_strerror(rc);
    return out;
  }
  Socket sock(::socket(resolved->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (sock.fd() < 0) {
    out.error = "socket: " + errnoText(errno);
    ::freeaddrinfo(resolved);
    return out;
  }
  const int rc = ::connect(sock.fd(), resolved->ai_addr, resolved->ai_addrlen);
  const int connect_errno = errno;
  ::freeaddrinfo(resolved);
  if (rc != 0) {
    if (connect_errno != EINPROGRESS) {
      out.error = "connect to " + where + ": " + errnoText(connect_errno);
      return out;
    }
    const Wait w = waitFor(sock.fd(), POLLOUT, time.monotonicNow() + timeout, time, abort);
    if (w != Wait::Ready) {
      out.error = describe(w, ("connecting to " + where).c_str());
      return out;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(sock.fd(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      out.error = "connect to " + where + ": " + errnoText(err);
      return out;
    }
  }

  std::string request;
  request.reserve(256 + body.size());
  request += "POST ";
  request += endpoint.path;
  request += " HTTP/1.1\r\nHost: ";
  request += where;
  request += "\r\nUser-Agent: switchyard\r\nContent-Type: application/json\r\nContent-Length: ";
  request += std::to_string(body.size());
  request += "\r\nConnection: close\r\n\r\n";
  request += body;

  const common::MonotonicTime send_deadline = time.monotonicNow() + timeout;
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(sock.fd(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const Wait w = waitFor(sock.fd(), POLLOUT, send_deadline, time, abort);
      if (w != Wait::Ready) {
        out.error = describe(w, ("sending to " + where).c_str());
        return out;
      }
      continue;
    }
    out.error = "send to " + where + ": " + errnoText(errno);
    return out;
  }

  const common::MonotonicTime receive_deadline = time.monotonicNow() + timeout;
  std::string response;
  char buf[4096];
  while (response.find("\r\n\r\n") == std::string::npos && response.size() < MaxHeadBytes) {
    const ssize_t n = ::recv(sock.fd(), buf, sizeof(buf), 0);
    if (n > 0) {
      response.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      const Wait w = waitFor(sock.fd(), POLLIN, receive_deadline, time, abort);
      if (w != Wait::Ready) {
        out.error = describe(w, ("waiting for the response from " + where).c_str());
        return out;
      }
      continue;
    }
    out.error = "receive from " + where + ": " + errnoText(errno);
    return out;
  }
  out.status = parseStatus(response);
  if (out.status == 0) {
    out.error = response.empty() ? "the collector at " + where + " closed without a response"
                                 : "malformed response from " + where;
    return out;
  }
  out.ok = out.status >= 200 && out.status < 300;
  if (!out.ok) {
    out.error = "the collector at " + where + " answered " + std::to_string(out.status);
    // Collectors explain a rejection in the body; keep the start of what already arrived.
    const size_t body_start = response.find("\r\n\r\n");
    if (body_start != std::string::npos && body_start + 4 < response.size()) {
      out.error += ": " + printable(std::string_view(response).substr(body_start + 4));
    }
  }
  return out;
}

}  // namespace switchyard::tracing
