#pragma once

#include <atomic>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "filters/registry.h"
#include "proxy/common/random.h"
#include "proxy/event/dispatcher.h"
#include "proxy/router/route_table.h"
#include "proxy/router/router.h"
#include "proxy/stats/stats.h"
#include "proxy/upstream/conn_pool.h"

namespace switchyard::server {

class HttpConnectionManager;

// Shared by the workers: one per configured listener.
struct ListenerShared {
  size_t index;
  const config::ListenerConfig& config;
  prometheus::Gauge& active_connections;
  prometheus::Counter& accepted;
  prometheus::Counter& rejected_limit;
  std::atomic<uint32_t> connections{0};
};

// One thread, one event loop: accepts on its own SO_REUSEPORT sockets, owns its client
// connections, its upstream pools and its caches of metric pointers. Nothing on the request
// path is shared with other workers except metric families and the immutable configuration.
class Worker {
 public:
  Worker(uint32_t index, config::ConfigConstSharedPtr config, stats::ProxyStats& stats,
         std::vector<std::unique_ptr<ListenerShared>>& listeners, std::vector<int> listen_fds,
         const common::TimeSource& time);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  // Stops accepting and lets connections finish their current request (thread-safe).
  void drain();
  // Ends the loop and joins the thread (thread-safe; call after drain() has had its time).
  void stop();
  // Open client connections on this worker (thread-safe read).
  uint32_t activeConnections() const { return active_.load(std::memory_order_relaxed); }

  // For the connections of this worker, on its thread.
  event::LibeventDispatcher& dispatcher() { return dispatcher_; }
  common::Random& random() { return random_; }
  const config::Config& config() const { return *config_; }
  router::RouterContext& routerContext() { return router_ctx_; }
  filters::WorkerContext& filterContext() { return filter_ctx_; }
  stats::RouteStats& routeStats(int route_index);
  prometheus::Counter& rejectedStats(size_t listener, int status) {
    return rejected_[listener]->get(status);
  }
  bool draining() const { return draining_; }
  void removeConnection(HttpConnectionManager& conn);

 private:
  struct Listener;
  static void onAccept(int fd, short what, void* arg) noexcept;
  void acceptOn(Listener& l);
  void doDrain();

  const uint32_t index_;
  config::ConfigConstSharedPtr config_;
  stats::ProxyStats& stats_;
  const common::TimeSource& time_;
  event::LibeventDispatcher dispatcher_;
  common::RealRandom random_;
  router::RouteTable routes_;
  std::vector<std::unique_ptr<stats::ClusterStats>> cluster_stats_;
  std::vector<std::unique_ptr<upstream::ConnPool>> pools_;
  std::vector<std::unique_ptr<stats::RouteStats>> route_stats_;  // last: unmatched requests
  router::RouterContext router_ctx_;
  filters::WorkerContext filter_ctx_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::unique_ptr<stats::CodeCounters>> rejected_;  // per listener
  std::list<std::unique_ptr<HttpConnectionManager>> connections_;
  std::atomic<uint32_t> active_{0};
  bool draining_ = false;
  std::thread thread_;
};

// Opens a listening socket with SO_REUSEPORT (one per worker per listener); throws
// std::runtime_error naming the address on failure.
int openListenSocket(const config::SocketAddress& address);

}  // namespace switchyard::server
