#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/deprecation.h"
#include "config/dns.h"
#include "config/health_check.h"
#include "proxy/accesslog/config.h"
#include "proxy/common/socket_address.h"
#include "proxy/event/tls.h"
#include "proxy/redis/config.h"
#include "proxy/tracing/config.h"

namespace switchyard::rollback {
struct RollbackConfig;
}
namespace switchyard::filters {
class FilterFactory;
}
namespace switchyard::http {
class RouteFilterConfig;
}

namespace switchyard::config {

using std::chrono::milliseconds;

using common::parseSocketAddress;
using common::SocketAddress;

// A listener's `tls:` block. The files are read at load (every load: a reload re-reads them) into
// `context`, which new connections take their TLS from.
struct ListenerTlsConfig {
  std::vector<event::TlsCertificateFiles> certificates;  // the first is the default
  std::string min_version = "1.2";
  std::vector<std::string> alpn = {"http/1.1"};
  std::string client_ca;
  bool require_client_certificate = false;
  milliseconds handshake_timeout{10000};
  std::shared_ptr<const event::ServerTlsContext> context;
};

// A cluster's `tls:` block; `context` as for listeners. Two are equal when their settings and the
// contents of their files are (a reload that changes neither keeps the cluster's pools).
struct ClusterTlsConfig {
  std::string sni;
  std::string ca_file;
  bool verify = true;
  std::string certificate;
  std::string private_key;
  std::string min_version = "1.2";
  std::string files_digest;  // of the files' contents at load
  std::shared_ptr<const event::ClientTlsContext> context;
  bool operator==(const ClusterTlsConfig& o) const {
    return sni == o.sni && ca_file == o.ca_file && verify == o.verify &&
           certificate == o.certificate && private_key == o.private_key &&
           min_version == o.min_version && files_digest == o.files_digest;
  }
};

struct ListenerConfig {
  std::string name;
  SocketAddress address;
  uint32_t max_connections = 10000;
  milliseconds request_headers_timeout{10000};  // slowloris guard
  milliseconds idle_timeout{60000};             // keep-alive between requests
  milliseconds request_timeout{0};              // whole request received; 0 = none
  uint64_t max_request_headers_bytes = 60 * 1024;
  uint64_t max_request_body_bytes = 10 * 1024 * 1024;
  uint32_t max_requests_per_connection = 0;  // 0 = unlimited
  std::string forwarded_proto = "http";
  // After answering a request not read to its end: how long, and how much more input, to read
  // and drop before closing (lingering close); 0s closes at once.
  milliseconds lingering_timeout{5000};
  uint64_t lingering_max_bytes = 16 * 1024 * 1024;
  // Request header names with '_': dropped before the filters see them, refused with 400, or
  // passed on.
  enum class Underscores { Drop, Reject, Allow };
  Underscores headers_with_underscores = Underscores::Drop;
  std::optional<ListenerTlsConfig> tls;  // absent: plain HTTP
};

// Limits that protect the whole process (`overload:`); taken at start, like the listeners.
struct OverloadConfig {
  // Open client connections on every listener together. At a limit (this one or a listener's), a
  // new connection takes the place of the oldest one on its worker that is waiting for a request
  // (idle keep-alive, or a request head still arriving); with none to take, it is refused.
  uint32_t max_connections = 100000;
  // Memory held in buffers (and the sockets' events) per worker; above it new requests are
  // answered 503 with Retry-After and the connection closed. 0: no limit.
  uint64_t max_buffer_bytes_per_worker = 256ull * 1024 * 1024;
  milliseconds retry_after{2000};
};

// Fleet-wide migration state (`fleet:`; on by default with `redis:`): the replicas of one service
// share their rollbacks, runtime weights and halt through Redis (proxy/server/fleet.h).
struct FleetConfig {
  bool enabled = true;
  // Every replica of one service uses the same prefix; other services sharing the Redis, another.
  std::string key_prefix = "switchyard:fleet";
  // How often each replica reads the whole state again (a published change it missed, a
  // reconnection); changes themselves arrive by pub/sub at once.
  milliseconds reconcile_interval{5000};
  // Who this replica is in the shared records (default: host name and process id).
  std::string instance;
};

struct AdminConfig {
  SocketAddress address{"127.0.0.1", 9901, "127.0.0.1:9901"};
  std::string token;  // secret; empty disables mutating endpoints
};

// An upstream endpoint given by name (`orders-v2.prod.svc:8080`): every address the name resolves
// to is an endpoint, looked up again as its records expire (see the top-level `dns:` block).
struct NamedEndpoint {
  std::string host;  // lower case, without a trailing dot
  uint16_t port = 0;
  std::string text;  // as configured
  bool operator==(const NamedEndpoint&) const = default;
};

struct ClusterConfig {
  std::string name;
  std::vector<SocketAddress> endpoints;        // the IP literals (and localhost)
  std::vector<NamedEndpoint> named_endpoints;  // the names, resolved at run time
  milliseconds connect_timeout{1000};
  milliseconds response_timeout{15000};  // first response byte; routes may override
  milliseconds idle_timeout{60000};      // pooled keep-alive connection
  uint32_t max_connections = 1024;       // per worker
  uint32_t max_pending_requests = 1024;  // per worker, waiting for a connection
  uint32_t max_requests_per_connection = 0;
  // Active health checks and passive ejection of the endpoints; absent: off.
  std::optional<upstream::HealthCheckConfig> health_check;
  std::optional<upstream::OutlierDetectionConfig> outlier_detection;
  std::optional<ClusterTlsConfig> tls;  // absent: plain HTTP to the endpoints
  bool operator==(const ClusterConfig&) const = default;
};

// `rewrite:` of a version, a route or one cluster of a split: the path the upstream gets.
//   {prefix: /v2/, to: /v1/}               a path starting with the prefix gets `to` instead
//   {regex: '^/v2/(.*)$', to: '/v1/\1'}    a path the whole regex matches becomes `to`, where
//                                          \1 to \9 are the regex's groups (\0 the whole path,
//                                          \\ a backslash)
// Only the path is rewritten (the part before '?'); the query is kept as it came. A path the
// rewrite does not match goes upstream unchanged. The regex (ECMAScript) is compiled at load.
struct PathRewrite {
  std::string prefix;      // the prefix form; empty for the regex form
  std::string regex_text;  // the regex form, as configured
  std::shared_ptr<const std::regex> regex;
  std::string to;

  // Writes the rewritten request-target (`target` is the whole one, query included) to `out`;
  // false when the rewrite does not apply to it.
  bool apply(std::string_view target, std::string& out) const;
};

struct WeightedCluster {
  WeightedCluster() = default;
  WeightedCluster(std::string cluster_name, uint32_t cluster_weight,
                  std::shared_ptr<const PathRewrite> cluster_rewrite = nullptr)
      : cluster(std::move(cluster_name)),
        weight(cluster_weight),
        rewrite(std::move(cluster_rewrite)) {}

  std::string cluster;
  uint32_t weight = 0;
  // The split entry's own rewrite, used instead of its target's when this cluster is picked.
  std::shared_ptr<const PathRewrite> rewrite;
};

// `force: [{cluster: modern, keys: [u123, u456]}]`: sticky keys (test users) sent to a cluster
// of the split whatever the weights say. Built once at load; lookups are one hash probe.
class ForcedKeys {
 public:
  void add(const std::string& key, uint32_t slot) { slots_.emplace(key, slot); }
  bool contains(std::string_view key) const { return slots_.find(key) != slots_.end(); }
  // The split index `key` is forced to, or -1.
  int find(std::string_view key) const {
    auto it = slots_.find(key);
    return it == slots_.end() ? -1 : static_cast<int>(it->second);
  }
  size_t size() const { return slots_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> slots_;
};

struct ForcedCluster {
  std::string cluster;
  std::vector<std::string> keys;
};

// `fallback: {version: v1, on: [connect-failure, reset, timeout, 502, 503, 504]}` of a version:
// an idempotent request whose attempt on this version failed (after its retries) is sent once to
// the fallback version's cluster. `on` defaults to the list shown.
struct FallbackConfig {
  std::string version;
  bool on_connect_failure = true;
  bool on_reset = true;
  bool on_timeout = true;
  // Refused here before reaching the version's upstream: its cluster's circuit breaker is open,
  // its bulkhead (or connection pool) is full, or it has no endpoint to send to.
  bool on_circuit_open = true;
  bool on_overloaded = true;
  bool on_no_endpoint = true;
  std::vector<int> statuses = {502, 503, 504};
  // Where `version` was written, for the error when the route has no such version.
  std::string path;
  int line = 0;
  int column = 0;

  bool onStatus(int status) const {
    for (int s : statuses) {
      if (s == status) return true;
    }
    return false;
  }
};

// Where the requests of a route (or of one version of a route) go: one cluster, or a split by
// weight that is sticky per user.
struct TargetConfig {
  std::vector<WeightedCluster> split;  // `cluster: x` is a split of one, weight 1
  std::string sticky_header;           // lower-case; empty: the client address
  // A claim of the request's verified identity (http::VerifiedIdentity, set by an authenticating
  // filter such as jwt_authn); the client address when the request has none. Exclusive with
  // sticky_header.
  std::string sticky_claim;
  // The version's (or unversioned route's) rewrite; null without one. A split entry's own
  // rewrite takes its place for that cluster.
  std::shared_ptr<const PathRewrite> rewrite;
  // Test users: keys forced to a cluster of the split before the hash applies (needs `sticky`).
  std::vector<ForcedCluster> force;
  std::shared_ptr<const ForcedKeys> forced;  // `force` indexed; null without it
  // Versions only: where a failed idempotent request goes once; null without `fallback`.
  std::shared_ptr<const FallbackConfig> fallback;
};

// Filters' own configuration for a route or version (`filters: {retry: {...}}`), by position in
// the chain (Config::filters); null where the route or version has none for that filter.
using RouteFilterConfigs = std::vector<std::shared_ptr<const http::RouteFilterConfig>>;

struct VersionConfig {
  std::string name;  // "v1", "v2", ...
  TargetConfig target;
  std::shared_ptr<const DeprecationPolicy> deprecated;  // null unless deprecated
  // The version's own blocks, each parsed over its route's; where the version has none, the
  // route's. Sized like Config::filters.
  RouteFilterConfigs filters;
};

// `rollout:` of a versioned route: the weight of the new side of the new version's split goes
// up step by step, each step held for `hold` and judged by the gates over it (see
// proxy/rollback/rollout.h for which clusters are the new and the old side).
struct RolloutGates {
  double max_error_ratio_vs_baseline = 1.5;  // new side's error ratio <= this x the old side's
  milliseconds max_p95{0};                   // 0: not gated
  std::optional<double> max_mismatch_ratio;  // evaluated only with a mismatch source (shadow)
  uint64_t min_requests = 200;               // on the new side, before the gates are judged
  bool operator==(const RolloutGates&) const = default;
};

struct RolloutConfig {
  std::vector<uint32_t> steps = {10, 50, 100};  // percent on the new side; strictly increasing
  milliseconds hold{600000};
  RolloutGates gates;
  // Where `rollout` was written, for errors found once the rollback plans are known.
  std::string path;
  int line = 0;
  int column = 0;

  // The settings only (not where they were written): a reload keeps a rollout's state when they
  // are unchanged.
  bool sameSettings(const RolloutConfig& other) const {
    return steps == other.steps && hold == other.hold && gates == other.gates;
  }
};

struct RouteConfig {
  std::string name;
  std::string prefix;   // match.prefix
  std::string cluster;  // the simple form's cluster; empty for a split or versions
  TargetConfig target;  // unversioned routes (cluster: or split:)
  // Versioned routes: resolved from X-API-Version, else a /vN/ path segment, else the default.
  std::vector<VersionConfig> versions;
  std::string default_version;
  std::shared_ptr<const DeprecationPolicy> deprecated;    // the whole route, null unless deprecated
  milliseconds timeout{0};                                // 0 = the cluster's response_timeout
  std::string upstream_header = "x-switchyard-upstream";  // names the serving cluster; "" = off
  RouteFilterConfigs filters;                             // sized like Config::filters
  std::shared_ptr<const RolloutConfig> rollout;           // null without `rollout:`

  const VersionConfig* findVersion(std::string_view version) const;
};

struct FilterEntry {
  std::string name;
  std::shared_ptr<const filters::FilterFactory> factory;
  // From the filter's registration: whether it makes a filter per request.
  bool stream_filter = true;
};

struct Config {
  std::string source_file;
  uint32_t workers = 0;  // 0 = number of CPUs
  std::string log_level = "info";
  milliseconds drain_timeout{15000};
  std::vector<ListenerConfig> listeners;
  OverloadConfig overload;
  AdminConfig admin;
  std::vector<ClusterConfig> clusters;
  std::vector<RouteConfig> routes;
  std::vector<FilterEntry> filters;
  tracing::TracingConfig tracing;         // disabled unless a `tracing:` block is present
  accesslog::AccessLogConfig access_log;  // disabled unless an `access_log:` block is present
  // Rollback plans, guards and their state file; null without a `rollback:` block.
  std::shared_ptr<const rollback::RollbackConfig> rollback;
  // The Redis every worker connects to (one connection each); absent without a `redis:` block.
  std::optional<redis::RedisConfig> redis;
  // How endpoint names are resolved; absent: /etc/resolv.conf, refreshed at most every 30 s.
  std::optional<upstream::DnsConfig> dns;
  // Meaningful only with `redis:` (the loader refuses `fleet:` without it).
  FleetConfig fleet;

  const ClusterConfig* findCluster(const std::string& name) const;
  const RouteConfig* findRoute(const std::string& name) const;
};
using ConfigConstSharedPtr = std::shared_ptr<const Config>;

}  // namespace switchyard::config
