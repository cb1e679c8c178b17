#pragma once

// A tiny OTLP/HTTP collector for tests: listens on 127.0.0.1, accepts POSTs, keeps their bodies
// (parsed as JSON) and answers 200, or a status, a delay or no answer at all to play a failing,
// slow or hung collector. Plain sockets, one thread to accept and one per connection; every
// wait is bounded and the destructor stops and joins them all.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace switchyard::test {

class OtlpReceiver {
 public:
  struct Request {
    std::string method;
    std::string path;
    std::string content_type;
    std::string body;
    nlohmann::json json;  // discarded (is_discarded()) when the body is not JSON
    int status = 0;       // what it was answered with; 0 if it arrived while hanging
  };

  // Listens on 127.0.0.1:`port` (0 picks a free port; see port()). Throws std::runtime_error
  // if it cannot listen.
  explicit OtlpReceiver(uint16_t port = 0);
  ~OtlpReceiver();
  OtlpReceiver(const OtlpReceiver&) = delete;
  OtlpReceiver& operator=(const OtlpReceiver&) = delete;

  uint16_t port() const { return port_; }
  // "http://127.0.0.1:<port><path>"
  std::string url(std::string_view path = "/v1/traces") const;

  // How later requests are answered. The status applies to requests that arrive after the call.
  void setStatus(int status);
  void setDelay(std::chrono::milliseconds delay);
  // While hanging, requests are read and recorded but get no answer; clearing it answers the
  // held ones (with the current status).
  void setHang(bool hang);

  std::vector<Request> requests() const;
  size_t requestCount() const;
  size_t connectionCount() const { return connections_.load(); }
  // The spans of every request answered 2xx, flattened, in arrival order.
  std::vector<nlohmann::json> spans() const;

  // Wait (on a condition, up to `timeout`) until at least `n` spans / requests have arrived.
  bool waitForSpans(size_t n, std::chrono::milliseconds timeout) const;
  bool waitForRequests(size_t n, std::chrono::milliseconds timeout) const;

 private:
  void acceptLoop();
  void serve(int fd);
  size_t spanCountLocked() const;

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> connections_{0};

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  int status_ = 200;
  std::chrono::milliseconds delay_{0};
  bool hang_ = false;
  std::vector<Request> requests_;

  std::mutex threads_mutex_;
  std::vector<std::thread> connection_threads_;
  std::thread accept_thread_;
};

// The spans of one OTLP/JSON ExportTraceServiceRequest body, flattened (empty if not one).
std::vector<nlohmann::json> spansOf(const nlohmann::json& request);

}  // namespace switchyard::test
