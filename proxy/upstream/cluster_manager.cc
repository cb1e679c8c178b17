#include "proxy/upstream/cluster_manager.h"

#include <algorithm>

#include "proxy/common/logging.h"
#include "proxy/upstream/dns_refresh.h"
#include "proxy/upstream/dns_resolver.h"
#include "proxy/upstream/health_checker.h"
#include "proxy/upstream/outlier_detector.h"

namespace switchyard::upstream {

using nlohmann::json;

namespace {

// The ejection counter's reasons: the passive ones, then the active checker's.
constexpr size_t ActiveCheckReason = EjectionReasonCount;

EndpointHealthOptions healthOptions(const config::ClusterConfig& c) {
  return c.outlier_detection ? outlierOptions(*c.outlier_detection) : EndpointHealthOptions{};
}

}  // namespace

struct ClusterManager::Cluster {
  config::ClusterConfig config;
  std::shared_ptr<ClusterEndpoints> endpoints;

  // The dispatcher's thread only, from start() on.
  bool started = false;
  bool stopped = false;
  std::vector<std::unique_ptr<DnsNameWatcher>> watchers;
  std::vector<std::vector<common::SocketAddress>> name_addresses;  // per watcher
  std::vector<common::SocketAddress> addresses;                    // the published list
  std::vector<std::string> authorities;                            // each one's Host for probes
  std::shared_ptr<EndpointHealth> health;
  std::unique_ptr<HealthChecker> checker;
  std::shared_ptr<OutlierMonitor> monitor;
  bool every_unhealthy = false;

  // Metrics, made by start().
  prometheus::Gauge* endpoint_count = nullptr;
  prometheus::Counter* checks[ProbeResultCount] = {};
  prometheus::Counter* ejections[EjectionReasonCount + 1] = {};
  prometheus::Counter* dns[3] = {};  // success, no_change, failure
  DnsResultCounts dns_reported;
  struct EndpointGauges {
    prometheus::Gauge* healthy;
    prometheus::Gauge* failures;
  };
  std::map<std::string, EndpointGauges> endpoint_gauges;  // by address
};

ClusterManager::ClusterManager(event::LibeventDispatcher& dispatcher, std::optional<DnsConfig> dns,
                               prometheus::Registry& registry)
    : dispatcher_(dispatcher),
      dns_config_(std::move(dns)),
      endpoint_healthy_(prometheus::BuildGauge()
                            .Name("switchyard_upstream_endpoint_healthy")
                            .Help("1 when the endpoint may take requests: its active health "
                                  "checks pass (or it has none) and it is not ejected")
                            .Register(registry)),
      check_failures_(prometheus::BuildGauge()
                          .Name("switchyard_upstream_endpoint_health_check_failures")
                          .Help("The endpoint's current run of failed active health checks")
                          .Register(registry)),
      endpoints_(prometheus::BuildGauge()
                     .Name("switchyard_upstream_endpoints")
                     .Help("Endpoints of the cluster: its addresses and what its names resolve to")
                     .Register(registry)),
      health_checks_(prometheus::BuildCounter()
                         .Name("switchyard_upstream_health_checks_total")
                         .Help("Active health check probes by result")
                         .Register(registry)),
      ejections_(prometheus::BuildCounter()
                     .Name("switchyard_upstream_ejections_total")
                     .Help("Endpoints taken out of load balancing, by reason")
                     .Register(registry)),
      dns_resolutions_(prometheus::BuildCounter()
                           .Name("switchyard_dns_resolutions_total")
                           .Help("Lookups of the clusters' endpoint names by result")
                           .Register(registry)) {}

ClusterManager::~ClusterManager() {
  std::map<std::string, std::shared_ptr<Cluster>> clusters;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    clusters.swap(clusters_);
  }
  for (auto& [name, cluster] : clusters) {
    if (cluster->started) stop(*cluster);
  }
}

DnsResolver& ClusterManager::resolver() {
  if (resolver_ == nullptr) {
    resolver_ = std::make_unique<DnsResolver>(dispatcher_, dns_config_.value_or(DnsConfig{}));
  }
  return *resolver_;
}

std::vector<std::shared_ptr<ClusterEndpoints>> ClusterManager::apply(const config::Config& config) {
  std::vector<std::shared_ptr<ClusterEndpoints>> out;
  std::vector<std::shared_ptr<Cluster>> started;
  std::vector<std::shared_ptr<Cluster>> stopped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::map<std::string, std::shared_ptr<Cluster>> next;
    for (const config::ClusterConfig& c : config.clusters) {
      auto it = clusters_.find(c.name);
      if (it != clusters_.end() && it->second->config == c) {
        next[c.name] = it->second;
      } else {
        auto cluster = std::make_shared<Cluster>();
        cluster->config = c;
        cluster->addresses = c.endpoints;
        cluster->authorities.reserve(c.endpoints.size());
        for (const common::SocketAddress& a : c.endpoints) cluster->authorities.push_back(a.text);
        auto list = std::make_shared<EndpointList>();
        list->addresses = c.endpoints;
        list->health = std::make_shared<EndpointHealth>(c.endpoints.size(), healthOptions(c));
        list->resolved = !c.endpoints.empty() || c.named_endpoints.empty();
        cluster->health = list->health;
        cluster->endpoints = std::make_shared<ClusterEndpoints>(c.name, std::move(list));
        next[c.name] = cluster;
        started.push_back(cluster);
      }
      out.push_back(next[c.name]->endpoints);
    }
    for (const auto& [name, cluster] : clusters_) {
      auto it = next.find(name);
      if (it == next.end() || it->second != cluster) stopped.push_back(cluster);
    }
    clusters_ = std::move(next);
  }
  for (auto& cluster : stopped) dispatcher_.post([this, cluster] { stop(*cluster); });
  for (auto& cluster : started) dispatcher_.post([this, cluster] { start(cluster); });
  return out;
}

void ClusterManager::start(const std::shared_ptr<Cluster>& shared) {
  Cluster& cluster = *shared;
  if (cluster.stopped) return;  // replaced before it started
  cluster.started = true;
  const config::ClusterConfig& c = cluster.config;
  const prometheus::Labels labels{{"cluster", c.name}};
  cluster.endpoint_count = &endpoints_.Add(labels);
  for (size_t r = 0; r < ProbeResultCount; ++r) {
    cluster.checks[r] = &health_checks_.Add(
        {{"cluster", c.name}, {"result", probeResultName(static_cast<ProbeResult>(r))}});
  }
  for (size_t r = 0; r < EjectionReasonCount; ++r) {
    cluster.ejections[r] = &ejections_.Add(
        {{"cluster", c.name}, {"reason", ejectionReasonName(static_cast<EjectionReason>(r))}});
  }
  cluster.ejections[ActiveCheckReason] =
      &ejections_.Add({{"cluster", c.name}, {"reason", "active_check"}});
  if (!c.named_endpoints.empty()) {
    const char* results[] = {"success", "no_change", "failure"};
    for (size_t r = 0; r < 3; ++r) {
      cluster.dns[r] = &dns_resolutions_.Add({{"cluster", c.name}, {"result", results[r]}});
    }
  }
  if (!collect_timer_) {
    collect_timer_ = dispatcher_.createTimer([this] { collect(); });
    collect_timer_->enable(std::chrono::seconds(1));
  }

  Cluster* raw = &cluster;
  for (size_t i = 0; i < c.named_endpoints.size(); ++i) {
    const config::NamedEndpoint& named = c.named_endpoints[i];
    cluster.name_addresses.emplace_back();
    try {
      auto watcher = std::make_unique<DnsNameWatcher>(
          dispatcher_, resolver(), named.host, named.port, dns_config_.value_or(DnsConfig{}),
          [this, raw, i](const std::vector<common::SocketAddress>& addresses, const AddressDiff&) {
            raw->name_addresses[i] = addresses;
            rebuild(*raw);
          });
      watcher->start();
      cluster.watchers.push_back(std::move(watcher));
    } catch (const std::exception& e) {
      SY_LOG(Error, "cluster %s: cannot look up %s: %s", c.name.c_str(), named.text.c_str(),
             e.what());
    }
  }
  if (c.outlier_detection) {
    cluster.monitor = OutlierMonitor::create(
        dispatcher_, *c.outlier_detection, cluster.health, [this, raw](const OutlierEvent& e) {
          if (e.endpoint >= raw->addresses.size()) return;
          const std::string& address = raw->addresses[e.endpoint].text;
          if (e.returned) {
            SY_LOG(Info, "cluster %s: endpoint %s is back in load balancing after its ejection",
                   raw->config.name.c_str(), address.c_str());
          } else if (e.decision == EjectionDecision::Ejected) {
            raw->ejections[static_cast<size_t>(e.reason)]->Increment();
            SY_LOG(Warn, "cluster %s: endpoint %s ejected (%s)", raw->config.name.c_str(),
                   address.c_str(), ejectionReasonName(e.reason));
          }
          refreshView(*raw);
        });
  }
  if (c.health_check) {
    if (prober_ == nullptr) {
      connector_ = std::make_unique<event::LibeventConnector>(dispatcher_.base());
      prober_ = std::make_unique<HttpProber>(dispatcher_, *connector_);
    }
    std::vector<HealthCheckTarget> targets;
    for (size_t i = 0; i < cluster.addresses.size(); ++i) {
      targets.push_back({cluster.addresses[i], cluster.authorities[i]});
    }
    HealthChecker::Callbacks callbacks;
    callbacks.on_probe = [raw](size_t, ProbeResult result) {
      raw->checks[static_cast<size_t>(result)]->Increment();
    };
    callbacks.on_transition = [this, raw](const HealthTransition& t) {
      if (t.to == ActiveHealth::Unhealthy) {
        raw->ejections[ActiveCheckReason]->Increment();
        SY_LOG(Warn, "cluster %s: endpoint %s failed %u health checks in a row (%s%s%s)",
               raw->config.name.c_str(), t.address.c_str(), t.consecutive, probeResultName(t.cause),
               t.detail.empty() ? "" : ": ", t.detail.c_str());
      } else if (t.to == ActiveHealth::Healthy && t.from == ActiveHealth::Unhealthy) {
        SY_LOG(Info, "cluster %s: endpoint %s passed %u health checks in a row, back in",
               raw->config.name.c_str(), t.address.c_str(), t.consecutive);
      }
      onHealthChanged(*raw);
      refreshView(*raw);
    };
    cluster.checker =
        std::make_unique<HealthChecker>(dispatcher_, random_, *prober_, *c.health_check,
                                        std::move(targets), cluster.health, std::move(callbacks));
  }
  publish(cluster);
  refreshView(cluster);
}

void ClusterManager::stop(Cluster& cluster) {
  cluster.stopped = true;
  cluster.checker.reset();
  cluster.monitor.reset();
  cluster.watchers.clear();
  for (auto& [address, g] : cluster.endpoint_gauges) {
    endpoint_healthy_.Remove(g.healthy);
    check_failures_.Remove(g.failures);
  }
  cluster.endpoint_gauges.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = clusters_.find(cluster.config.name);
  if (it == clusters_.end()) {
    views_.erase(cluster.config.name);
    if (cluster.endpoint_count != nullptr) endpoints_.Remove(cluster.endpoint_count);
  }
}

void ClusterManager::rebuild(Cluster& cluster) {
  if (cluster.stopped) return;
  const config::ClusterConfig& c = cluster.config;
  std::vector<common::SocketAddress> next = c.endpoints;
  std::vector<std::string> authorities;
  for (const common::SocketAddress& a : c.endpoints) authorities.push_back(a.text);
  for (size_t i = 0; i < cluster.name_addresses.size(); ++i) {
    for (const common::SocketAddress& a : cluster.name_addresses[i]) {
      if (std::find(next.begin(), next.end(), a) != next.end()) continue;
      next.push_back(a);
      authorities.push_back(c.named_endpoints[i].host + ":" +
                            std::to_string(c.named_endpoints[i].port));
    }
  }
  if (next == cluster.addresses) {
    publish(cluster);  // the first answer may only say the name has resolved
    return;
  }
  const std::vector<size_t> previous = matchEndpoints(cluster.addresses, next);
  std::shared_ptr<EndpointHealth> health = cluster.health->carryOver(previous, healthOptions(c));
  cluster.addresses = std::move(next);
  cluster.authorities = std::move(authorities);
  cluster.health = health;
  if (cluster.checker != nullptr) {
    std::vector<HealthCheckTarget> targets;
    for (size_t i = 0; i < cluster.addresses.size(); ++i) {
      targets.push_back({cluster.addresses[i], cluster.authorities[i]});
    }
    cluster.checker->setEndpoints(std::move(targets), health, previous);
  }
  if (cluster.monitor != nullptr) cluster.monitor->setEndpoints(health, previous);
  std::string text;
  for (const common::SocketAddress& a : cluster.addresses) {
    if (!text.empty()) text += ", ";
    text += a.text;
  }
  SY_LOG(Info, "cluster %s: endpoints now %s", c.name.c_str(),
         text.empty() ? "none" : text.c_str());
  publish(cluster);
  onHealthChanged(cluster);
  refreshView(cluster);
}

void ClusterManager::publish(Cluster& cluster) {
  const config::ClusterConfig& c = cluster.config;
  auto list = std::make_shared<EndpointList>();
  list->addresses = cluster.addresses;
  list->health = cluster.health;
  bool resolved = !c.endpoints.empty() || c.named_endpoints.empty();
  for (const auto& w : cluster.watchers) {
    resolved = resolved || w->refresh().state() != DnsNameState::Unresolved;
  }
  list->resolved = resolved;
  if (cluster.monitor != nullptr) {
    list->monitor = cluster.monitor;
    list->writer = &dispatcher_;
  }
  cluster.endpoints->publish(std::move(list));
}

void ClusterManager::onHealthChanged(Cluster& cluster) {
  if (cluster.checker == nullptr) return;
  const bool every = cluster.health->allActiveUnhealthy();
  if (every == cluster.every_unhealthy) return;
  cluster.every_unhealthy = every;
  const std::string detail =
      every ? "each of its " + std::to_string(cluster.addresses.size()) + " endpoints failed " +
                  std::to_string(cluster.config.health_check->unhealthy_threshold) +
                  " health checks in a row"
            : "an endpoint passes its health checks again";
  if (every) {
    SY_LOG(Error, "cluster %s: %s", cluster.config.name.c_str(), detail.c_str());
  } else {
    SY_LOG(Info, "cluster %s: %s", cluster.config.name.c_str(), detail.c_str());
  }
  if (listener_) listener_(cluster.config.name, every, detail);
}

void ClusterManager::refreshView(Cluster& cluster) {
  if (cluster.stopped) return;
  const common::MonotonicTime now = dispatcher_.timeSource().monotonicNow();
  const EndpointHealth& health = *cluster.health;
  const std::string& name = cluster.config.name;
  json endpoints = json::array();
  std::map<std::string, Cluster::EndpointGauges> gauges;
  for (size_t i = 0; i < cluster.addresses.size(); ++i) {
    const std::string& address = cluster.addresses[i].text;
    const bool usable = health.usable(i, now);
    const uint32_t failures = cluster.checker != nullptr && i < cluster.checker->size()
                                  ? cluster.checker->machine(i).consecutiveFailures()
                                  : 0;
    json ep = {{"address", address},
               {"healthy", usable},
               {"active_health", activeHealthName(health.activeHealth(i))},
               {"ejected", health.ejected(i, now)},
               {"consecutive_failures", failures}};
    if (i < cluster.authorities.size() && cluster.authorities[i] != address) {
      ep["name"] = cluster.authorities[i];
    }
    endpoints.push_back(std::move(ep));
    auto old = cluster.endpoint_gauges.find(address);
    Cluster::EndpointGauges g;
    if (old != cluster.endpoint_gauges.end()) {
      g = old->second;
      cluster.endpoint_gauges.erase(old);
    } else {
      const prometheus::Labels labels{{"cluster", name}, {"endpoint", address}};
      g = {&endpoint_healthy_.Add(labels), &check_failures_.Add(labels)};
    }
    g.healthy->Set(usable ? 1 : 0);
    g.failures->Set(failures);
    gauges.emplace(address, g);
  }
  // Endpoints that left: their series go.
  for (auto& [address, g] : cluster.endpoint_gauges) {
    endpoint_healthy_.Remove(g.healthy);
    check_failures_.Remove(g.failures);
  }
  cluster.endpoint_gauges = std::move(gauges);
  cluster.endpoint_count->Set(static_cast<double>(cluster.addresses.size()));

  json dns = json::array();
  DnsResultCounts counts;
  bool resolved = !cluster.config.endpoints.empty() || cluster.config.named_endpoints.empty();
  for (const auto& w : cluster.watchers) {
    dns.push_back(w->toJson());
    const DnsResultCounts& c = w->refresh().counts();
    counts.success += c.success;
    counts.no_change += c.no_change;
    counts.failure += c.failure;
    resolved = resolved || w->refresh().state() != DnsNameState::Unresolved;
  }
  if (cluster.dns[0] != nullptr) {
    cluster.dns[0]->Increment(static_cast<double>(counts.success - cluster.dns_reported.success));
    cluster.dns[1]->Increment(
        static_cast<double>(counts.no_change - cluster.dns_reported.no_change));
    cluster.dns[2]->Increment(static_cast<double>(counts.failure - cluster.dns_reported.failure));
    cluster.dns_reported = counts;
  }
  json view = {{"endpoints", std::move(endpoints)},
               {"resolved", resolved},
               {"health_check", cluster.checker != nullptr},
               {"outlier_detection", cluster.monitor != nullptr},
               {"every_endpoint_unhealthy", cluster.every_unhealthy}};
  if (!dns.empty()) view["dns"] = std::move(dns);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = clusters_.find(name);
  if (it != clusters_.end() && it->second.get() == &cluster) views_[name] = std::move(view);
}

void ClusterManager::collect() {
  std::vector<std::shared_ptr<Cluster>> clusters;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [name, cluster] : clusters_) clusters.push_back(cluster);
  }
  // A cluster with fixed addresses and neither checks nor ejection has nothing that changes
  // with time: its view was made when it started.
  for (const auto& cluster : clusters) {
    if (!cluster->started || cluster->stopped) continue;
    if (cluster->checker != nullptr || cluster->monitor != nullptr || !cluster->watchers.empty()) {
      refreshView(*cluster);
    }
  }
  collect_timer_->enable(std::chrono::seconds(1));
}

std::map<std::string, json> ClusterManager::clusterViews() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return views_;
}

}  // namespace switchyard::upstream
