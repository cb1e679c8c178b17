#pragma once

// The admin listener: a small HTTP/1.1 server (libevent's evhttp) on its own thread, off the data
// path. It serves operators and automation: metrics, health, readiness, config dumps and the
// mutating endpoints (rollback, cache purge, alert webhooks) that require a bearer token.
//
// Threads: addHandler(), setMax*()/setConnectionTimeout(), start(), stop() and the destructor are
// called by the owner's thread. Requests are handled one at a time on the admin thread, so a
// handler runs concurrently with the data-path workers and must be thread-safe on its side (read
// snapshots or atomics, or hand work to a worker with Dispatcher::post()). A handler must not call
// stop() on its own server. setToken() and port() may be called from any thread.
//
// Every mutating request is recorded (time, method, path, status, client, peer, a summary of the
// body) in a bounded log served as GET /actions and written to the process log.
//
// Replies made by the server itself (404, 405, 401, 403, 500) are application/problem+json
// ({"type":"about:blank","title":...,"status":...,"detail":...}) and never list the registered
// endpoints or echo the token. Oversized heads and bodies are refused by evhttp itself (413/400).
//
// evhttp writes with write(2), so the process is expected to ignore SIGPIPE (main does), as for
// the data path.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "config/config.h"
#include "proxy/admin/admin_types.h"
#include "proxy/common/time.h"
#include "proxy/event/libevent.h"

namespace prometheus {
class Collectable;
class Registry;
}  // namespace prometheus

namespace switchyard::event {
class LibeventDispatcher;
}

namespace switchyard::admin {

// A mutating request as the action log keeps it: whatever its outcome (a refused token too).
struct AdminAction {
  common::SystemTime time{};
  std::string method;
  std::string path;
  int status = 0;
  std::string client;   // the X-Switchyard-Client header ("console"), else "api"
  std::string remote;   // the peer's address
  std::string summary;  // the body: JSON compacted, anything else printable ASCII; cut short
};

// Runs on the admin thread; may throw (the client then gets a 500 problem and the error is
// logged, not sent).
using AdminHandler = std::function<AdminResponse(const AdminRequest&)>;

class AdminServer {
 public:
  static constexpr size_t DefaultMaxBodyBytes = 1024 * 1024;
  static constexpr size_t DefaultMaxHeadersBytes = 16 * 1024;
  static constexpr std::chrono::milliseconds DefaultConnectionTimeout{30000};

  AdminServer(config::AdminConfig config, const common::TimeSource& time);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Registers `handler` for an exact method and path; only before start() (throws
  // std::logic_error afterwards). A GET handler also answers HEAD. A `mutating` handler runs only
  // with "Authorization: Bearer <token>" matching the configured token (compared in constant
  // time): 401 with WWW-Authenticate: Bearer when missing or wrong, 403 while no token is
  // configured. Unknown path: 404; known path, other method: 405 with Allow.
  void addHandler(std::string method, std::string path, AdminHandler handler,
                  bool mutating = false);

  // Limits applied from the next start(). Over a limit, evhttp answers 413 (or 400) by itself.
  void setMaxBodyBytes(size_t bytes) { max_body_bytes_ = bytes; }
  void setMaxHeadersBytes(size_t bytes) { max_headers_bytes_ = bytes; }
  // Read/write inactivity timeout of an admin connection (slow clients).
  void setConnectionTimeout(std::chrono::milliseconds timeout) { connection_timeout_ = timeout; }

  // Binds and listens on the calling thread, then starts the admin thread: when start() returns,
  // connections are accepted (queued by the kernel until the thread picks them up). Throws
  // std::runtime_error naming the address if it cannot be bound, std::logic_error if running.
  void start();
  // Stops the admin thread, then closes the listener and open admin connections. Idempotent;
  // start() may be called again afterwards.
  void stop();
  // The bound port while running (the real one when configured with port 0), else 0.
  uint16_t port() const { return port_.load(std::memory_order_acquire); }
  // Replaces the bearer token (config reload); an empty token disables mutating endpoints.
  void setToken(std::string token);
  // The last MaxActions mutating requests, newest first (also served as GET /actions and logged
  // one line each). Any thread.
  std::vector<AdminAction> actions() const;
  static constexpr size_t MaxActions = 200;
  static constexpr size_t MaxActionSummaryBytes = 240;

 private:
  struct Route {
    AdminHandler handler;
    bool mutating = false;
  };
  static void onRequest(evhttp_request* req, void* arg) noexcept;
  // The handler's answer; `mutating` says whether the endpoint was a mutating one.
  AdminResponse route(const AdminRequest& request, bool& mutating) const;
  void recordAction(evhttp_request* req, const AdminRequest& request, int status);
  // The refusal for a mutating request, or nullopt when its bearer token is accepted.
  std::optional<AdminResponse> checkToken(const AdminRequest& request) const;

  config::AdminConfig config_;  // token moved out into token_
  const common::TimeSource& time_;
  std::map<std::string, std::map<std::string, Route>> routes_;  // path -> method -> route
  size_t max_body_bytes_ = DefaultMaxBodyBytes;
  size_t max_headers_bytes_ = DefaultMaxHeadersBytes;
  std::chrono::milliseconds connection_timeout_ = DefaultConnectionTimeout;

  mutable std::mutex token_mutex_;
  std::shared_ptr<const std::string> token_;

  mutable std::mutex actions_mutex_;
  std::deque<AdminAction> actions_;  // newest last

  std::unique_ptr<event::LibeventDispatcher> dispatcher_;
  event::EvhttpPtr http_;  // declared after dispatcher_: freed before it
  std::thread thread_;
  std::atomic<uint16_t> port_{0};
};

// Compares secrets without an early exit on the first differing byte: the time depends only on
// the lengths. For the admin token and any other bearer secret (alert webhooks).
bool constantTimeEquals(std::string_view a, std::string_view b) noexcept;

// The Prometheus text format 0.0.4 of registry->Collect() followed by each extra->Collect().
AdminHandler metricsHandler(std::shared_ptr<prometheus::Registry> registry,
                            std::vector<std::shared_ptr<prometheus::Collectable>> extra = {});
// 200 {"status":"ok"}: the process is up and the admin thread answers.
AdminHandler healthzHandler();
// 200 {"ready":true} or 503 {"ready":false}; `ready` runs on the admin thread.
AdminHandler readyHandler(std::function<bool()> ready);
// 200 with fn().dump(2) (invalid UTF-8 replaced); `fn` runs on the admin thread.
AdminHandler jsonHandler(std::function<nlohmann::json()> fn);

}  // namespace switchyard::admin
