#include "proxy/upstream/cluster_endpoints.h"

#include "proxy/upstream/outlier_detector.h"

namespace switchyard::upstream {

EndpointListPtr staticEndpointList(std::vector<common::SocketAddress> addresses, bool resolved) {
  auto list = std::make_shared<EndpointList>();
  list->health = std::make_shared<EndpointHealth>(addresses.size());
  list->addresses = std::move(addresses);
  list->resolved = resolved;
  return list;
}

ClusterEndpoints::ClusterEndpoints(std::string cluster, EndpointListPtr first)
    : cluster_(std::move(cluster)), list_(std::move(first)) {}

EndpointListPtr ClusterEndpoints::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return list_;
}

void ClusterEndpoints::publish(EndpointListPtr next) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    list_ = std::move(next);
  }
  version_.fetch_add(1, std::memory_order_release);
}

void ClusterEndpoints::report(const EndpointList& list, size_t i, UpstreamOutcome outcome) {
  if (list.writer == nullptr || i >= list.health->size() || list.monitor.expired()) return;
  const std::optional<EjectionReason> reason = list.health->recordOutcome(i, outcome);
  if (!reason) return;
  list.writer->post([monitor = list.monitor, health = list.health, i, r = *reason] {
    if (std::shared_ptr<OutlierMonitor> m = monitor.lock()) m->onStreak(health, i, r);
  });
}

}  // namespace switchyard::upstream
