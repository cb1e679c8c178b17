#include "tests/support/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace switchyard::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t MaxHeadBytes = 1024 * 1024;
constexpr size_t ReadBytes = 64 * 1024;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && lower(a) == lower(b);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "name: value" into `out`; false if the line has no name.
bool parseHeaderLine(std::string_view line, Headers& out) {
  size_t colon = line.find(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  std::string_view name = line.substr(0, colon);
  if (name.find_first_of(" \t") != std::string_view::npos) return false;
  out.emplace_back(lower(name), std::string(trim(line.substr(colon + 1))));
  return true;
}

int remainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1000 * 1000));
}

}  // namespace

std::optional<std::string> Response::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (equalsIgnoreCase(n, name)) return v;
  }
  return std::nullopt;
}

std::vector<std::string> Response::headerValues(std::string_view name) const {
  std::vector<std::string> values;
  for (const auto& [n, v] : headers) {
    if (equalsIgnoreCase(n, name)) values.push_back(v);
  }
  return values;
}

RawConnection::~RawConnection() { close(); }

RawConnection::RawConnection(RawConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      buffer_(std::move(other.buffer_)),
      eof_(other.eof_),
      reset_(other.reset_),
      error_(std::move(other.error_)) {}

RawConnection& RawConnection::operator=(RawConnection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    buffer_ = std::move(other.buffer_);
    eof_ = other.eof_;
    reset_ = other.reset_;
    error_ = std::move(other.error_);
  }
  return *this;
}

bool RawConnection::connect(uint16_t port, std::chrono::milliseconds timeout) {
  close();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) {
    error_ = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd p{fd_, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof(err);
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1 ||
        ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      error_ = std::string("connect: ") + (err ? std::strerror(err) : "timed out");
      close();
      return false;
    }
    rc = 0;
  }
  if (rc != 0) {
    error_ = std::string("connect: ") + std::strerror(errno);
    close();
    return false;
  }
  // Back to blocking: reads are guarded by poll(), sends by SO_SNDTIMEO.
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
  timeval send_timeout{10, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return true;
}

bool RawConnection::send(std::string_view bytes) {
  if (fd_ < 0) {
    error_ = "send: not connected";
    return false;
  }
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (errno == ECONNRESET) reset_ = true;
      error_ = std::string("send: ") + std::strerror(errno);
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

RawConnection::Fill RawConnection::fill(Clock::time_point deadline) {
  if (eof_) return Fill::Eof;
  if (fd_ < 0) return Fill::Error;
  // Each pass either returns or waits in poll() for at most the time left.
  while (true) {
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, remainingMs(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return Fill::Error;
    if (ready == 0) return Fill::Timeout;
    char chunk[ReadBytes];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      return Fill::Data;
    }
    if (n == 0) {
      eof_ = true;
      return Fill::Eof;
    }
    if (errno == EINTR || errno == EAGAIN) continue;
    if (errno == ECONNRESET) reset_ = true;
    error_ = std::string("recv: ") + std::strerror(errno);
    return Fill::Error;
  }
}

std::optional<Response> RawConnection::fail(std::string message) {
  error_ = std::move(message);
  return std::nullopt;
}

std::optional<Response> RawConnection::readResponse(std::chrono::milliseconds timeout,
                                                    bool head_request) {
  const Clock::time_point deadline = Clock::now() + timeout;
  error_.clear();
  auto describe = [this](Fill f) -> std::string {
    switch (f) {
      case Fill::Eof:
        return "connection closed";
      case Fill::Timeout:
        return "timed out";
      default:
        return error_.empty() ? "read error" : error_;
    }
  };

  // Waits (bounded by the deadline) until the buffer holds at least `n` bytes.
  auto need = [&](size_t n) -> std::optional<Fill> {
    while (buffer_.size() < n) {
      Fill f = fill(deadline);
      if (f != Fill::Data) return f;
    }
    return std::nullopt;
  };
  // Takes one line (LF or CRLF) off the buffer.
  auto takeLine = [&](std::string& line) -> std::optional<Fill> {
    size_t eol;
    while ((eol = buffer_.find('\n')) == std::string::npos) {
      if (buffer_.size() > MaxHeadBytes) return Fill::Error;
      Fill f = fill(deadline);
      if (f != Fill::Data) return f;
    }
    line = buffer_.substr(0, eol);
    buffer_.erase(0, eol + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return std::nullopt;
  };

  Response response;
  size_t head_end = std::string::npos;
  while (true) {
    size_t crlf = buffer_.find("\r\n\r\n");
    size_t lf = buffer_.find("\n\n");
    if (crlf != std::string::npos) head_end = crlf + 4;
    if (lf != std::string::npos && (head_end == std::string::npos || lf + 2 < head_end)) {
      head_end = lf + 2;
    }
    if (head_end != std::string::npos) break;
    if (buffer_.size() > MaxHeadBytes) return fail("response head too large");
    Fill f = fill(deadline);
    if (f != Fill::Data) {
      return fail("waiting for response head: " + describe(f) +
                  (buffer_.empty() ? "" : " (got \"" + buffer_.substr(0, 200) + "\")"));
    }
  }
  response.raw_head = buffer_.substr(0, head_end);
  buffer_.erase(0, head_end);

  std::string_view head = response.raw_head;
  bool first = true;
  while (!head.empty()) {
    size_t eol = head.find('\n');
    std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    if (first) {
      first = false;
      size_t sp1 = line.find(' ');
      if (line.substr(0, 5) != "HTTP/" || sp1 == std::string_view::npos || line.size() < sp1 + 4) {
        return fail("malformed status line: " + std::string(line));
      }
      response.version = line.substr(0, sp1);
      std::string_view code = line.substr(sp1 + 1, 3);
      auto [ptr, ec] = std::from_chars(code.data(), code.data() + 3, response.status);
      if (ec != std::errc() || ptr != code.data() + 3 || response.status < 100) {
        response.status = 0;
        return fail("malformed status code: " + std::string(line));
      }
      if (line.size() > sp1 + 4) response.reason = line.substr(sp1 + 5);
      continue;
    }
    if (!parseHeaderLine(line, response.headers)) {
      return fail("malformed header line: " + std::string(line));
    }
  }

  if (response.status < 200 || head_request || response.status == 204 || response.status == 304) {
    return response;
  }

  std::string te;
  for (const auto& value : response.headerValues("transfer-encoding")) {
    te += (te.empty() ? "" : ",") + value;
  }
  if (!te.empty()) {
    std::string last = lower(trim(std::string_view(te).substr(te.rfind(',') + 1)));
    response.chunked = last == "chunked";
  }

  if (response.chunked) {
    // Each pass consumes one chunk; the zero-size chunk ends the loop.
    while (true) {
      std::string line;
      if (auto f = takeLine(line)) return fail("waiting for chunk size: " + describe(*f));
      std::string_view size_text = trim(std::string_view(line).substr(0, line.find(';')));
      uint64_t size = 0;
      auto [ptr, ec] =
          std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
      if (size_text.empty() || ec != std::errc() || ptr != size_text.data() + size_text.size() ||
          size > (uint64_t{1} << 40)) {
        return fail("malformed chunk size: " + line);
      }
      if (size == 0) break;
      if (auto f = need(size + 2)) return fail("waiting for chunk data: " + describe(*f));
      if (buffer_.compare(size, 2, "\r\n") != 0) return fail("chunk not followed by CRLF");
      response.body.append(buffer_, 0, size);
      buffer_.erase(0, size + 2);
    }
    // Trailers end with an empty line.
    while (true) {
      std::string line;
      if (auto f = takeLine(line)) return fail("waiting for trailers: " + describe(*f));
      if (line.empty()) break;
      if (!parseHeaderLine(line, response.trailers)) return fail("malformed trailer: " + line);
    }
    return response;
  }

  if (std::optional<std::string> header = response.header("content-length")) {
    std::string_view length_text = *header;
    uint64_t length = 0;
    auto [ptr, ec] =
        std::from_chars(length_text.data(), length_text.data() + length_text.size(), length);
    if (ec != std::errc() || ptr != length_text.data() + length_text.size()) {
      return fail("malformed Content-Length: " + *header);
    }
    if (auto f = need(length)) {
      return fail("waiting for body (" + std::to_string(buffer_.size()) + " of " +
                  std::to_string(length) + " bytes): " + describe(*f));
    }
    response.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return response;
  }

  // Close-delimited: everything until the peer closes.
  Fill f;
  while ((f = fill(deadline)) == Fill::Data) {
  }
  if (f != Fill::Eof) return fail("waiting for close-delimited body: " + describe(f));
  response.body = std::move(buffer_);
  buffer_.clear();
  return response;
}

std::string RawConnection::readAll(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (fill(deadline) == Fill::Data) {
  }
  std::string out = std::move(buffer_);
  buffer_.clear();
  return out;
}

bool RawConnection::closedByPeer(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  Fill f;
  while ((f = fill(deadline)) == Fill::Data) {
  }
  return f == Fill::Eof || (f == Fill::Error && reset_);
}

void RawConnection::shutdownWrite() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void RawConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
  eof_ = false;
  reset_ = false;
}

std::string buildRequest(std::string_view method, std::string_view path, const Headers& headers,
                         std::string_view body) {
  bool has_host = false;
  bool has_framing = false;
  std::string out;
  out.append(method).append(" ").append(path).append(" HTTP/1.1\r\n");
  for (const auto& [name, value] : headers) {
    has_host |= equalsIgnoreCase(name, "host");
    has_framing |=
        equalsIgnoreCase(name, "content-length") || equalsIgnoreCase(name, "transfer-encoding");
  }
  if (!has_host) out += "Host: 127.0.0.1\r\n";
  for (const auto& [name, value] : headers) out.append(name).append(": ").append(value) += "\r\n";
  if (!body.empty() && !has_framing) {
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  out += "\r\n";
  out.append(body);
  return out;
}

Response httpRequest(uint16_t port, std::string_view method, std::string_view path,
                     const Headers& headers, std::string_view body,
                     std::chrono::milliseconds timeout) {
  Response failed;
  RawConnection connection;
  if (!connection.connect(port, timeout)) {
    failed.reason = connection.error();
    return failed;
  }
  if (!connection.send(buildRequest(method, path, headers, body))) {
    failed.reason = connection.error();
    return failed;
  }
  // Interim responses are skipped; a peer could send any number, so cap them.
  for (int interim = 0; interim < 100; ++interim) {
    auto response = connection.readResponse(timeout, method == "HEAD");
    if (!response) {
      failed.reason = connection.error();
      return failed;
    }
    if (response->status >= 200 || response->status == 101) return std::move(*response);
  }
  failed.reason = "too many interim responses";
  return failed;
}

Response httpGet(uint16_t port, std::string_view path, const Headers& headers,
                 std::chrono::milliseconds timeout) {
  return httpRequest(port, "GET", path, headers, {}, timeout);
}

}  // namespace switchyard::test
