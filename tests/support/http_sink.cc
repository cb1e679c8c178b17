#include "tests/support/http_sink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

namespace switchyard::test {
namespace {

constexpr int ReadTimeoutMs = 2000;

struct ParseState {
  HttpSink::Request request;
  std::string header_name;
  bool in_value = false;
  bool done = false;
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int onUrl(http_parser* p, const char* at, size_t n) {
  static_cast<ParseState*>(p->data)->request.path.append(at, n);
  return 0;
}
int onHeaderField(http_parser* p, const char* at, size_t n) {
  auto* s = static_cast<ParseState*>(p->data);
  if (s->in_value) s->header_name.clear();
  s->in_value = false;
  s->header_name.append(at, n);
  return 0;
}
int onHeaderValue(http_parser* p, const char* at, size_t n) {
  auto* s = static_cast<ParseState*>(p->data);
  s->in_value = true;
  s->request.headers[lower(s->header_name)].append(at, n);
  return 0;
}
int onBody(http_parser* p, const char* at, size_t n) {
  static_cast<ParseState*>(p->data)->request.body.append(at, n);
  return 0;
}
int onComplete(http_parser* p) {
  auto* s = static_cast<ParseState*>(p->data);
  s->request.method = http_method_str(static_cast<http_method>(p->method));
  s->done = true;
  return 0;
}

}  // namespace

HttpSink::HttpSink() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      ::pipe2(stop_pipe_, O_CLOEXEC) != 0) {
    if (listen_fd_ >= 0) ::close(listen_fd_);
    throw std::runtime_error("http sink: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { run(); });
}

HttpSink::~HttpSink() {
  char c = 'x';
  (void)!::write(stop_pipe_[1], &c, 1);
  thread_.join();
  for (int fd : hung_) ::close(fd);
  ::close(listen_fd_);
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
}

std::string HttpSink::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void HttpSink::setStatus(int status, std::string body) {
  std::lock_guard<std::mutex> lock(mutex_);
  status_ = status;
  body_ = std::move(body);
}

std::vector<HttpSink::Request> HttpSink::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

size_t HttpSink::requestCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_.size();
}

void HttpSink::run() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) serve(fd);
  }
}

void HttpSink::serve(int fd) {
  ParseState state;
  http_parser parser;
  http_parser_init(&parser, HTTP_REQUEST);
  parser.data = &state;
  http_parser_settings settings;
  http_parser_settings_init(&settings);
  settings.on_url = onUrl;
  settings.on_header_field = onHeaderField;
  settings.on_header_value = onHeaderValue;
  settings.on_body = onBody;
  settings.on_message_complete = onComplete;
  char buf[4096];
  // Bounded: a client that stops sending is dropped after ReadTimeoutMs of silence.
  while (!state.done) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ReadTimeoutMs) <= 0) break;
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    http_parser_execute(&parser, &settings, buf, static_cast<size_t>(n));
    if (HTTP_PARSER_ERRNO(&parser) != HPE_OK) break;
  }
  if (!state.done) {
    ::close(fd);
    return;
  }
  int status = 200;
  std::string body;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(state.request);
    status = status_;
    body = body_;
  }
  if (hang_) {
    hung_.push_back(fd);
    return;
  }
  std::string response =
      "HTTP/1.1 " + std::to_string(status) +
      " Sink\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n" + body;
  (void)!::send(fd, response.data(), response.size(), MSG_NOSIGNAL);
  ::close(fd);
}

}  // namespace switchyard::test
