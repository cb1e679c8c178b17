#include "tests/support/otlp_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace switchyard::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int PollSliceMs = 20;
constexpr size_t MaxHeadBytes = 64 * 1024;
constexpr size_t MaxBodyBytes = 64 * 1024 * 1024;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

const char* reasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

bool sendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

std::vector<nlohmann::json> spansOf(const nlohmann::json& request) {
  std::vector<nlohmann::json> out;
  if (!request.is_object() || !request.contains("resourceSpans")) return out;
  for (const auto& rs : request["resourceSpans"]) {
    if (!rs.contains("scopeSpans")) continue;
    for (const auto& ss : rs["scopeSpans"]) {
      if (!ss.contains("spans")) continue;
      for (const auto& span : ss["spans"]) out.push_back(span);
    }
  }
  return out;
}

OtlpReceiver::OtlpReceiver(uint16_t port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  socklen_t len = sizeof(addr);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string error = std::strerror(errno);
    ::close(listen_fd_);
    throw std::runtime_error("cannot listen on 127.0.0.1:" + std::to_string(port) + ": " + error);
  }
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { acceptLoop(); });
}

OtlpReceiver::~OtlpReceiver() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true);
  }
  changed_.notify_all();
  accept_thread_.join();
  // The accept thread has exited, so no connection thread is added from here on.
  for (std::thread& t : connection_threads_) t.join();
  ::close(listen_fd_);
}

std::string OtlpReceiver::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

void OtlpReceiver::setStatus(int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  status_ = status;
}

void OtlpReceiver::setDelay(std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> lock(mutex_);
  delay_ = delay;
}

void OtlpReceiver::setHang(bool hang) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    hang_ = hang;
  }
  changed_.notify_all();
}

std::vector<OtlpReceiver::Request> OtlpReceiver::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

size_t OtlpReceiver::requestCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_.size();
}

std::vector<nlohmann::json> OtlpReceiver::spans() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<nlohmann::json> out;
  for (const Request& r : requests_) {
    if (r.status < 200 || r.status >= 300) continue;
    for (nlohmann::json& span : spansOf(r.json)) out.push_back(std::move(span));
  }
  return out;
}

size_t OtlpReceiver::spanCountLocked() const {
  size_t n = 0;
  for (const Request& r : requests_) {
    if (r.status >= 200 && r.status < 300) n += spansOf(r.json).size();
  }
  return n;
}

bool OtlpReceiver::waitForSpans(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return spanCountLocked() >= n; });
}

bool OtlpReceiver::waitForRequests(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

void OtlpReceiver::acceptLoop() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, PollSliceMs) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    connections_.fetch_add(1);
    std::lock_guard<std::mutex> lock(threads_mutex_);
    connection_threads_.emplace_back([this, fd] {
      serve(fd);
      ::close(fd);
    });
  }
}

void OtlpReceiver::serve(int fd) {
  std::string buffer;
  char chunk[16 * 1024];
  // Reads more into `buffer`; false on close, error or stop.
  auto fill = [&]() -> bool {
    while (!stopping_.load()) {
      pollfd p{fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, PollSliceMs);
      if (ready == 0 || (ready < 0 && errno == EINTR)) continue;
      if (ready < 0) return false;
      const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buffer.append(chunk, static_cast<size_t>(n));
      return true;
    }
    return false;
  };

  while (true) {
    size_t head_end;
    while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (buffer.size() > MaxHeadBytes || !fill()) return;
    }
    Request request;
    const std::string_view head(buffer.data(), head_end);
    const size_t line_end = head.find("\r\n");
    const std::string_view request_line = head.substr(0, line_end);
    const size_t sp1 = request_line.find(' ');
    const size_t sp2 = request_line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 <= sp1) return;
    request.method = std::string(request_line.substr(0, sp1));
    request.path = std::string(request_line.substr(sp1 + 1, sp2 - sp1 - 1));
    size_t content_length = 0;
    bool close_after = false;
    size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t eol = head.find("\r\n", pos);
      if (eol == std::string_view::npos) eol = head.size();
      const std::string_view line = head.substr(pos, eol - pos);
      pos = eol + 2;
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      const std::string name = lower(line.substr(0, colon));
      const std::string_view value = trim(line.substr(colon + 1));
      if (name == "content-length") {
        auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), content_length);
        if (ec != std::errc() || content_length > MaxBodyBytes) return;
      } else if (name == "content-type") {
        request.content_type = std::string(value);
      } else if (name == "connection") {
        close_after = lower(value) == "close";
      }
    }
    buffer.erase(0, head_end + 4);
    while (buffer.size() < content_length) {
      if (!fill()) return;
    }
    request.body = buffer.substr(0, content_length);
    buffer.erase(0, content_length);
    request.json = nlohmann::json::parse(request.body, nullptr, false);

    std::unique_lock<std::mutex> lock(mutex_);
    const bool held = hang_;
    request.status = held ? 0 : status_;
    const std::chrono::milliseconds delay = delay_;
    requests_.push_back(std::move(request));
    changed_.notify_all();
    if (held) {
      changed_.wait(lock, [&] { return !hang_ || stopping_.load(); });
      if (stopping_.load()) return;
    } else if (delay > std::chrono::milliseconds(0)) {
      if (changed_.wait_for(lock, delay, [&] { return stopping_.load(); })) return;
    }
    const int status = status_;
    lock.unlock();

    const std::string body = status >= 200 && status < 300 ? "{}" : "{\"error\":\"rejected\"}";
    std::string response =
        "HTTP/1.1 " + std::to_string(status) + " " + reasonPhrase(status) +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n";
    if (close_after) response += "Connection: close\r\n";
    response += "\r\n" + body;
    if (!sendAll(fd, response) || close_after) return;
  }
}

}  // namespace switchyard::test
