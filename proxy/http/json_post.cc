#include "proxy/http/json_post.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "proxy/common/socket_address.h"
#include "proxy/common/url.h"

namespace switchyard::http {
namespace {

constexpr size_t PostBodyKept = 4096;

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

// Milliseconds left before `deadline`, at least 0, for poll().
int remainingMs(common::MonotonicTime deadline, const common::TimeSource& time) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - time.monotonicNow());
  if (left.count() <= 0) return 0;
  return left.count() > 60'000 ? 60'000 : static_cast<int>(left.count());
}

constexpr int AbortCheckMs = 25;

// Waits for `events` on `fd`; false on timeout, abort or error (`error` says which).
bool waitFor(int fd, short events, common::MonotonicTime deadline, const common::TimeSource& time,
             const std::atomic<bool>* abort, std::string& error) {
  for (;;) {
    if (abort != nullptr && abort->load(std::memory_order_relaxed)) {
      error = "gave up (shutting down)";
      return false;
    }
    int wait = remainingMs(deadline, time);
    if (wait == 0) {
      error = "timed out";
      return false;
    }
    const int slice = abort != nullptr && wait > AbortCheckMs ? AbortCheckMs : wait;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, slice);
    if (n > 0) return true;
    // poll() waited the whole remaining time: done, whatever the clock says meanwhile.
    if (n == 0 && slice == wait && wait < 60'000) {
      error = "timed out";
      return false;
    }
    if (n < 0 && errno != EINTR) {
      error = std::string("poll: ") + std::strerror(errno);
      return false;
    }
  }
}

struct ResponseState {
  int status = 0;
  bool head_done = false;
  bool message_done = false;
  bool truncated = false;
  size_t max_body = 0;
  std::string body;
};

int onHeadersComplete(http_parser* parser) {
  auto* state = static_cast<ResponseState*>(parser->data);
  state->status = static_cast<int>(parser->status_code);
  state->head_done = true;
  return 0;
}

int onBody(http_parser* parser, const char* at, size_t length) {
  auto* state = static_cast<ResponseState*>(parser->data);
  size_t room = state->max_body - std::min(state->max_body, state->body.size());
  if (length > room) state->truncated = true;
  state->body.append(at, std::min(room, length));
  return 0;
}

int onMessageComplete(http_parser* parser) {
  static_cast<ResponseState*>(parser->data)->message_done = true;
  return 0;
}

}  // namespace

bool parseHttpUrl(std::string_view text, HttpUrl& out, std::string& error) {
  common::UrlParts parts;
  if (!common::splitHttpUrl(text, parts) || parts.https || parts.authority.empty()) {
    error = "expected an http:// URL (plain HTTP to a numeric address or localhost), got \"" +
            std::string(text) + "\"";
    return false;
  }
  std::string authority(parts.authority);
  // Built by appending: GCC 12 at -O3 reports a false -Wrestrict overlap for insert(0, "/").
  std::string path;
  if (parts.target.empty() || parts.target.front() == '?') path.push_back('/');
  path.append(parts.target);
  if (authority.find('@') != std::string::npos) {
    error = "user information in the URL is not supported (use headers)";
    return false;
  }
  if (parts.has_fragment) {
    error = "a URL fragment is not sent over HTTP; remove it";
    return false;
  }
  for (char c : path) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      error = "the URL path contains a space or control character";
      return false;
    }
  }
  const bool has_port = authority.starts_with('[') ? authority.find("]:") != std::string::npos
                                                   : authority.find(':') != std::string::npos;
  if (!has_port) authority += ":80";
  common::SocketAddress address;
  if (!common::parseSocketAddress(authority, address)) {
    error =
        "the URL's host must be a numeric IPv4 address, a bracketed IPv6 address or "
        "localhost, with an optional port from 1 to 65535: \"" +
        std::string(text) + "\"";
    return false;
  }
  out.host = address.host;
  out.port = address.port;
  out.path = std::move(path);
  out.text = std::string(text);
  return true;
}

HttpPostResult httpPostJson(const HttpUrl& url,
                            const std::vector<std::pair<std::string, std::string>>& headers,
                            std::string_view body, std::chrono::milliseconds timeout,
                            const common::TimeSource& time, const std::atomic<bool>* abort) {
  return httpRequest("POST", url, headers, body, PostBodyKept, timeout, time, abort);
}

HttpPostResult httpGet(const HttpUrl& url, size_t max_body, std::chrono::milliseconds timeout,
                       const common::TimeSource& time, const std::atomic<bool>* abort) {
  return httpRequest("GET", url, {{"Accept", "application/json"}}, {}, max_body, timeout, time,
                     abort);
}

HttpPostResult httpRequest(std::string_view method, const HttpUrl& url,
                           const std::vector<std::pair<std::string, std::string>>& headers,
                           std::string_view body, size_t max_body,
                           std::chrono::milliseconds timeout, const common::TimeSource& time,
                           const std::atomic<bool>* abort) {
  HttpPostResult result;
  const common::MonotonicTime deadline = time.monotonicNow() + timeout;

  sockaddr_storage storage{};
  socklen_t length = 0;
  const bool v6 = url.host.find(':') != std::string::npos;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&storage);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(url.port);
    if (inet_pton(AF_INET6, url.host.c_str(), &a->sin6_addr) != 1) {
      result.error = "bad address " + url.host;
      return result;
    }
    length = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&storage);
    a->sin_family = AF_INET;
    a->sin_port = htons(url.port);
    if (inet_pton(AF_INET, url.host.c_str(), &a->sin_addr) != 1) {
      result.error = "bad address " + url.host;
      return result;
    }
    length = sizeof(sockaddr_in);
  }

  Socket sock(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (sock.fd() < 0) {
    result.error = std::string("socket: ") + std::strerror(errno);
    return result;
  }
  if (::connect(sock.fd(), reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    if (errno != EINPROGRESS) {
      result.error = std::string("connect: ") + std::strerror(errno);
      return result;
    }
    std::string error;
    if (!waitFor(sock.fd(), POLLOUT, deadline, time, abort, error)) {
      result.error = "connect: " + error;
      return result;
    }
    int so_error = 0;
    socklen_t len = sizeof(so_error);
    ::getsockopt(sock.fd(), SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error != 0) {
      result.error = std::string("connect: ") + std::strerror(so_error);
      return result;
    }
  }

  std::string request = std::string(method) + " " + url.path +
                        " HTTP/1.1\r\nHost: " + (v6 ? "[" + url.host + "]" : url.host) + ":" +
                        std::to_string(url.port) +
                        "\r\nUser-Agent: switchyard\r\nConnection: close\r\n";
  if (method == "POST") request += "Content-Type: application/json\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  if (method == "POST") request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n";
  request += body;
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(sock.fd(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      std::string error;
      if (!waitFor(sock.fd(), POLLOUT, deadline, time, abort, error)) {
        result.error = "send: " + error;
        return result;
      }
      continue;
    }
    result.error = std::string("send: ") + std::strerror(errno);
    return result;
  }

  ResponseState state;
  state.max_body = max_body;
  http_parser parser;
  http_parser_init(&parser, HTTP_RESPONSE);
  parser.data = &state;
  http_parser_settings settings;
  http_parser_settings_init(&settings);
  settings.on_headers_complete = onHeadersComplete;
  settings.on_body = onBody;
  settings.on_message_complete = onMessageComplete;
  char buf[4096];
  while (!state.message_done && !state.truncated) {
    std::string error;
    if (!waitFor(sock.fd(), POLLIN, deadline, time, abort, error)) {
      if (state.head_done) break;  // the status is what counts; the rest of the body is not
      result.error = "waiting for the response: " + error;
      return result;
    }
    ssize_t n = ::recv(sock.fd(), buf, sizeof(buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n < 0) {
      if (state.head_done) break;
      result.error = std::string("recv: ") + std::strerror(errno);
      return result;
    }
    // n == 0 tells the parser the peer closed (ends a body framed by the close).
    http_parser_execute(&parser, &settings, buf, static_cast<size_t>(n));
    if (HTTP_PARSER_ERRNO(&parser) != HPE_OK && !state.message_done) {
      if (state.head_done) break;
      result.error =
          std::string("malformed response: ") + http_errno_description(HTTP_PARSER_ERRNO(&parser));
      return result;
    }
    if (n == 0) {
      if (!state.head_done) {
        result.error = "the server closed the connection without a response";
        return result;
      }
      break;
    }
  }
  result.status = state.status;
  result.complete = state.message_done && !state.truncated;
  result.body = std::move(state.body);
  return result;
}

}  // namespace switchyard::http
