#include "proxy/stats/stats.h"

namespace switchyard::stats {

using prometheus::BuildCounter;
using prometheus::BuildGauge;

const std::vector<double>& latencyBuckets() {
  static const std::vector<double> buckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                              0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return buckets;
}

ProxyStats::ProxyStats(prometheus::Registry& r)
    : downstream_requests(
          BuildCounter()
              .Name("switchyard_downstream_requests_total")
              .Help("Requests answered to clients, by route, API version and status")
              .Register(r)),
      downstream_duration(std::make_shared<LatencyHistogramFamily>(
          "switchyard_downstream_request_duration_seconds",
          "Time from the request head to the end of the response", latencyBuckets())),
      downstream_rejected(
          BuildCounter()
              .Name("switchyard_downstream_rejected_total")
              .Help("Requests refused by the codec or timed out before routing, by status")
              .Register(r)),
      upstream_requests(
          BuildCounter()
              .Name("switchyard_upstream_requests_total")
              .Help("Upstream attempts, by cluster and status (code=\"0\": no response)")
              .Register(r)),
      upstream_duration(std::make_shared<LatencyHistogramFamily>(
          "switchyard_upstream_request_duration_seconds",
          "Time from sending an upstream request to the end of its response", latencyBuckets())),
      upstream_connect_failures(BuildCounter()
                                    .Name("switchyard_upstream_connect_failures_total")
                                    .Help("Upstream connections that could not be established")
                                    .Register(r)),
      upstream_timeouts(BuildCounter()
                            .Name("switchyard_upstream_timeouts_total")
                            .Help("Upstream requests that timed out waiting for a response")
                            .Register(r)),
      upstream_overflow(BuildCounter()
                            .Name("switchyard_upstream_pending_overflow_total")
                            .Help("Requests refused because the cluster's pending queue was full")
                            .Register(r)),
      upstream_connections(BuildGauge()
                               .Name("switchyard_upstream_connections")
                               .Help("Open upstream connections, by cluster")
                               .Register(r)),
      active_connections(BuildGauge()
                             .Name("switchyard_active_connections")
                             .Help("Open client connections, by listener")
                             .Register(r)),
      downstream_connections(BuildCounter()
                                 .Name("switchyard_downstream_connections_total")
                                 .Help("Client connections accepted, by listener")
                                 .Register(r)),
      downstream_connections_rejected(
          BuildCounter()
              .Name("switchyard_downstream_connections_rejected_total")
              .Help("Client connections closed at accept because the listener was at its limit")
              .Register(r)),
      downstream_underscore_headers(
          BuildCounter()
              .Name("switchyard_downstream_headers_with_underscores_total")
              .Help("Requests with a header name containing '_', by listener and what was done "
                    "(dropped, rejected, allowed)")
              .Register(r)),
      downstream_connections_evicted(
          BuildCounter()
              .Name("switchyard_downstream_connections_evicted_total")
              .Help("Client connections waiting for a request (idle keep-alive, or a head still "
                    "arriving) closed to make room for a new one at a connection limit")
              .Register(r)),
      downstream_requests_shed(
          BuildCounter()
              .Name("switchyard_downstream_requests_shed_total")
              .Help("Requests answered 503 because their worker's buffers held more than "
                    "overload.max_buffer_bytes_per_worker")
              .Register(r)),
      worker_buffer_bytes(BuildGauge()
                              .Name("switchyard_worker_buffer_bytes")
                              .Help("Memory held in buffers and socket events, by worker "
                                    "(sampled every 5 s)")
                              .Register(r)),
      config_reloads(BuildCounter()
                         .Name("switchyard_config_reloads_total")
                         .Help("Configuration reloads (SIGHUP, POST /reload), by result")
                         .Register(r)),
      route_weight(BuildGauge()
                       .Name("switchyard_route_weight")
                       .Help("Share of a route's (or route version's) traffic sent to a cluster, "
                             "in percent, as currently in effect")
                       .Register(r)),
      fallbacks(BuildCounter()
                    .Name("switchyard_fallbacks_total")
                    .Help("Requests answered by a route's fallback version after the attempt on "
                          "their own version failed, by route and versions")
                    .Register(r)),
      build_info(BuildGauge()
                     .Name("switchyard_build_info")
                     .Help("Always 1; the version label names the running build")
                     .Register(r)),
      tls_handshakes(BuildCounter()
                         .Name("switchyard_tls_handshakes_total")
                         .Help("TLS handshakes completed, by listener (client connections) or "
                               "cluster (upstream connections), protocol version and cipher suite")
                         .Register(r)),
      tls_handshake_failures(
          BuildCounter()
              .Name("switchyard_tls_handshake_failures_total")
              .Help("Client TLS handshakes that failed, by listener and reason (plaintext, "
                    "timeout, no_client_certificate, bad_certificate, protocol, other)")
              .Register(r)),
      upstream_tls_errors(BuildCounter()
                              .Name("switchyard_upstream_tls_errors_total")
                              .Help("Upstream TLS handshakes that failed, by cluster and reason "
                                    "(certificate_expired, hostname_mismatch, unknown_ca, "
                                    "certificate_invalid, handshake)")
                              .Register(r)),
      upstream_tls_resumed(BuildCounter()
                               .Name("switchyard_upstream_tls_sessions_resumed_total")
                               .Help("Upstream TLS connections that resumed an earlier session "
                                     "with their endpoint (no full handshake)")
                               .Register(r)),
      tls_certificate_expiry(
          BuildGauge()
              .Name("switchyard_tls_certificate_expiry_seconds")
              .Help("When a configured certificate expires (its notAfter), in seconds since the "
                    "Unix epoch, by listener or cluster and certificate file")
              .Register(r)) {
  build_info.Add({{"version", SWITCHYARD_VERSION}}).Set(1);
}

}  // namespace switchyard::stats
