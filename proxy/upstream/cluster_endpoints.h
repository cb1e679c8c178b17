#pragma once

// One cluster's endpoints as the workers' pools see them: the addresses load balancing may pick
// from now, with their health (upstream/endpoint_health.h). The configured IP literals come
// first, then the addresses of each configured name as DNS last answered; the list is replaced
// whole when an answer changes it, and the health of the addresses that stay carries over.
//
// Threads: one writer (the ClusterManager, on the main thread's loop) publishes lists; every
// worker reads them. A pool compares version() (one acquire load) with the list it holds before
// each request and takes the new one when it changed. A list is immutable once published; its
// EndpointHealth is written by the writer and read lock-free by the workers.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proxy/common/socket_address.h"
#include "proxy/event/dispatcher.h"
#include "proxy/upstream/endpoint_health.h"

namespace switchyard::upstream {

class OutlierMonitor;

struct EndpointList {
  std::vector<common::SocketAddress> addresses;
  std::shared_ptr<EndpointHealth> health;  // sized like `addresses`; never null
  // False while the cluster has no literal endpoint and none of its names has resolved yet: its
  // requests fail at once (503) instead of waiting for a connection that cannot be made.
  bool resolved = true;
  // Passive ejection (outlier_detection): where a streak of failures is handed to, on `writer`'s
  // thread. Empty without it.
  std::weak_ptr<OutlierMonitor> monitor;
  event::Dispatcher* writer = nullptr;
};
using EndpointListPtr = std::shared_ptr<const EndpointList>;

// A list of fixed addresses, all usable (no health checks): for clusters made without a
// manager (tests, tools) and the first list of every cluster.
EndpointListPtr staticEndpointList(std::vector<common::SocketAddress> addresses, bool resolved);

class ClusterEndpoints {
 public:
  ClusterEndpoints(std::string cluster, EndpointListPtr first);
  ClusterEndpoints(const ClusterEndpoints&) = delete;
  ClusterEndpoints& operator=(const ClusterEndpoints&) = delete;

  const std::string& cluster() const { return cluster_; }

  // Any thread.
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  EndpointListPtr current() const;
  // How a request to endpoint `i` of `list` went, for passive ejection: counted into the
  // endpoint's streaks, a streak that reached its threshold is posted to the writer. Nothing
  // without outlier_detection. Costs two relaxed loads for a success.
  static void report(const EndpointList& list, size_t i, UpstreamOutcome outcome);

  // The writer.
  void publish(EndpointListPtr next);

 private:
  const std::string cluster_;
  mutable std::mutex mutex_;
  EndpointListPtr list_;
  std::atomic<uint64_t> version_{1};
};

}  // namespace switchyard::upstream
