#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "proxy/stats/histogram.h"

namespace switchyard::stats {

// Seconds; from 0.5 ms (a loopback hop) to 10 s (well past the default timeouts).
const std::vector<double>& latencyBuckets();

// The proxy's metric families, built once per process in the shared registry and handed to the
// components that record into them. Families are thread-safe; each worker caches the metric
// pointers it uses (RouteStats, ClusterStats) so the family's lock is taken once per label set
// and worker, never per request.
struct ProxyStats {
  explicit ProxyStats(prometheus::Registry& registry);

  prometheus::Family<prometheus::Counter>& downstream_requests;
  // Latency histograms are our own (histogram.h): /metrics serves them beside the registry.
  std::shared_ptr<LatencyHistogramFamily> downstream_duration;
  prometheus::Family<prometheus::Counter>& downstream_rejected;
  prometheus::Family<prometheus::Counter>& upstream_requests;
  std::shared_ptr<LatencyHistogramFamily> upstream_duration;
  prometheus::Family<prometheus::Counter>& upstream_connect_failures;
  prometheus::Family<prometheus::Counter>& upstream_timeouts;
  prometheus::Family<prometheus::Counter>& upstream_overflow;
  prometheus::Family<prometheus::Gauge>& upstream_connections;
  prometheus::Family<prometheus::Gauge>& active_connections;
  prometheus::Family<prometheus::Counter>& downstream_connections;
  prometheus::Family<prometheus::Counter>& downstream_connections_rejected;
  prometheus::Family<prometheus::Counter>& downstream_underscore_headers;
  // Overload protection (config `overload:`).
  prometheus::Family<prometheus::Counter>& downstream_connections_evicted;
  prometheus::Family<prometheus::Counter>& downstream_requests_shed;
  prometheus::Family<prometheus::Gauge>& worker_buffer_bytes;
  prometheus::Family<prometheus::Counter>& config_reloads;
  prometheus::Family<prometheus::Gauge>& route_weight;
  prometheus::Family<prometheus::Counter>& fallbacks;
  prometheus::Family<prometheus::Gauge>& build_info;
  // TLS: handshakes by {listener|cluster, version}, downstream failures by {listener, reason},
  // upstream failures by {cluster, reason}, and each configured certificate's notAfter.
  prometheus::Family<prometheus::Counter>& tls_handshakes;
  prometheus::Family<prometheus::Counter>& tls_handshake_failures;
  prometheus::Family<prometheus::Counter>& upstream_tls_errors;
  prometheus::Family<prometheus::Counter>& upstream_tls_resumed;
  prometheus::Family<prometheus::Gauge>& tls_certificate_expiry;
};

// Counters of one label set that also varies by status code: a lazily filled table per code.
class CodeCounters {
 public:
  CodeCounters(prometheus::Family<prometheus::Counter>& family, prometheus::Labels labels)
      : family_(family), labels_(std::move(labels)) {}
  prometheus::Counter& get(int code) {
    const size_t i = (code >= 100 && code <= 599) ? static_cast<size_t>(code - 100) : 0;
    if (counters_[i] == nullptr) {
      auto labels = labels_;
      labels["code"] = std::to_string(code);
      counters_[i] = &family_.Add(labels);
    }
    return *counters_[i];
  }

 private:
  prometheus::Family<prometheus::Counter>& family_;
  prometheus::Labels labels_;
  std::array<prometheus::Counter*, 500> counters_{};
};

// Downstream metrics of one route (and version), cached by one worker.
struct RouteStats {
  RouteStats(ProxyStats& stats, const std::string& route, const std::string& version)
      : requests(stats.downstream_requests, {{"route", route}, {"version", version}}),
        duration(stats.downstream_duration->Add({{"route", route}, {"version", version}})),
        fallbacks(stats.fallbacks) {}
  CodeCounters requests;
  LatencyHistogram& duration;
  // switchyard_fallbacks_total{route,from,to}: taken only when a request falls back.
  prometheus::Family<prometheus::Counter>& fallbacks;
};

// Upstream metrics of one cluster, cached by one worker.
struct ClusterStats {
  ClusterStats(ProxyStats& stats, const std::string& cluster)
      : requests(stats.upstream_requests, {{"cluster", cluster}}),
        duration(stats.upstream_duration->Add({{"cluster", cluster}})),
        connect_failures(stats.upstream_connect_failures.Add({{"cluster", cluster}})),
        timeouts(stats.upstream_timeouts.Add({{"cluster", cluster}})),
        overflow(stats.upstream_overflow.Add({{"cluster", cluster}})),
        connections(stats.upstream_connections.Add({{"cluster", cluster}})),
        name(cluster),
        tls_handshakes(stats.tls_handshakes),
        tls_errors(stats.upstream_tls_errors),
        tls_resumed(stats.upstream_tls_resumed.Add({{"cluster", cluster}})) {}
  CodeCounters requests;
  LatencyHistogram& duration;
  prometheus::Counter& connect_failures;
  prometheus::Counter& timeouts;
  prometheus::Counter& overflow;
  prometheus::Gauge& connections;
  // TLS clusters only, once per connection: labels made when counted.
  std::string name;
  prometheus::Family<prometheus::Counter>& tls_handshakes;
  prometheus::Family<prometheus::Counter>& tls_errors;
  prometheus::Counter& tls_resumed;
};

}  // namespace switchyard::stats
