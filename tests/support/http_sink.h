#pragma once

// A tiny loopback HTTP/1.1 server for tests of code that calls out (rollback webhook and notify
// steps): it records every request it receives and answers each with a configured status, or
// hangs (reads the request, never answers) so a caller's timeout can be tested. One thread, on
// 127.0.0.1 with a kernel-chosen port; every wait is bounded and the destructor stops it.

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace switchyard::test {

class HttpSink {
 public:
  struct Request {
    std::string method;
    std::string path;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
  };

  // Binds and starts answering; throws std::runtime_error if it cannot bind.
  HttpSink();
  ~HttpSink();
  HttpSink(const HttpSink&) = delete;
  HttpSink& operator=(const HttpSink&) = delete;

  uint16_t port() const { return port_; }
  // "http://127.0.0.1:<port><path>"
  std::string url(const std::string& path = "/") const;
  // The status of the next answers (default 200) and the body sent with them.
  void setStatus(int status, std::string body = "{}");
  // While true, requests are read and recorded but never answered (the connection stays open
  // until the sink is destroyed).
  void setHang(bool hang) { hang_ = hang; }
  std::vector<Request> requests() const;
  size_t requestCount() const;

 private:
  void run();
  void serve(int fd);

  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::atomic<bool> hang_{false};
  mutable std::mutex mutex_;
  int status_ = 200;
  std::string body_ = "{}";
  std::vector<Request> requests_;
  std::vector<int> hung_;  // connections left unanswered; only the sink's thread touches it
  std::thread thread_;
};

}  // namespace switchyard::test
