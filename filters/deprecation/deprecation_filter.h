#pragma once

// deprecation: tells clients of a deprecated route or API version that it is deprecated (and
// when it goes away), counts who still calls it, and optionally enforces its lifecycle.
//
// The router resolves the route and version before the chain runs and points
// StreamInfo::deprecation at the policy of a deprecated one. When it is null the filter does
// nothing beyond checking that pointer.
//
// decodeHeaders: counts the request in switchyard_deprecated_requests_total{route,version,client}
//   (client: the `client_header` value, bounded by ClientLabels). With `enforce`, at the worker
//   TimeSource's now (enforcementAt()): once the sunset has passed and the policy has
//   enforce_sunset, a local reply with sunset_status (410 Gone); otherwise inside a brownout
//   window, a local reply with that window's status, plus Retry-After (seconds until the window
//   ends, rounded up) when it is 503. Either reply carries the deprecation headers; the filter
//   then returns StopIteration.
// encodeHeaders: adds Deprecation, Sunset, Link (rel="deprecation", rel="sunset"; added next to
//   any upstream Link) and with `legacy_headers` X-API-Deprecation / X-API-Sunset (see
//   applyPolicyHeaders()). Local replies are left alone: the filter's own already carry the
//   headers, and those of other filters (a 429, a breaker's 503) are not about the deprecation.
// Never stops iteration except after its own local reply.

#include <prometheus/counter.h>
#include <prometheus/family.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "config/deprecation.h"
#include "filters/deprecation/client_labels.h"
#include "filters/deprecation/config.h"
#include "filters/deprecation/headers.h"
#include "filters/registry.h"
#include "proxy/http/filter.h"

namespace switchyard::filters::deprecation {

// What the lifecycle of `policy` demands at `now`. A passed sunset (with enforce_sunset) wins
// over a brownout; among overlapping brownout windows the first listed wins.
struct Enforcement {
  enum class Kind { None, Brownout, Sunset };
  Kind kind = Kind::None;
  const config::BrownoutWindow* window = nullptr;  // set for Brownout
};
Enforcement enforcementAt(const config::DeprecationPolicy& policy, common::SystemTime now);

// The local reply for `enforcement` (kind not None): status, title, a one-sentence detail naming
// the route and version, and the deprecation headers (plus Retry-After for a 503 brownout).
http::LocalReply enforcementReply(const config::DeprecationPolicy& policy,
                                  const Enforcement& enforcement, common::SystemTime now,
                                  const http::StreamInfo& info, const PolicyHeaders& headers,
                                  bool legacy_headers);

// What one worker keeps for one filter configuration (its WorkerLocal): the formatted headers of
// each policy it has met and the counter of each (route, version, client) label set, so neither
// the formatting nor the metric family's lock is paid per request. Used by one thread only.
class WorkerCache final : public WorkerLocal {
 public:
  struct Series {
    std::string route;
    std::string version;
    std::vector<prometheus::Counter*> by_client;  // indexed by ClientLabels::Label::id
  };
  struct PolicyEntry {
    const config::DeprecationPolicy* policy;
    PolicyHeaders headers;
    std::vector<Series> series;
  };

  // The entry of `policy`, made on first sight. Policies are told apart by address: the ones a
  // filter configuration sees belong to the same configuration snapshot as it, and stay put.
  PolicyEntry& entry(const config::DeprecationPolicy& policy);
  prometheus::Counter& counter(PolicyEntry& entry, const http::StreamInfo& info,
                               const ClientLabels::Label& client, const ClientLabels& labels,
                               prometheus::Family<prometheus::Counter>& family);

 private:
  std::vector<std::unique_ptr<PolicyEntry>> entries_;
};

// Shared by the factory and every filter it makes; outlives them all.
struct DeprecationShared {
  DeprecationShared(DeprecationFilterConfig c, prometheus::Family<prometheus::Counter>& f)
      : config(std::move(c)), requests(f), clients(config.clients, config.max_clients) {}
  const DeprecationFilterConfig config;
  prometheus::Family<prometheus::Counter>& requests;
  ClientLabels clients;  // thread-safe
};

class DeprecationFilter final : public http::StreamFilter {
 public:
  // `cache` belongs to the worker this filter runs on (or to the filter itself when the worker
  // has none, see DeprecationFilterFactory::create()).
  DeprecationFilter(DeprecationShared& shared, WorkerCache& cache, const common::TimeSource& time,
                    std::unique_ptr<WorkerCache> own_cache = nullptr)
      : shared_(shared), cache_(cache), time_(time), own_cache_(std::move(own_cache)) {}

  http::FilterHeadersStatus decodeHeaders(http::RequestHeaders& request, bool end_stream) override;
  http::FilterHeadersStatus encodeHeaders(http::ResponseHeaders& response,
                                          bool end_stream) override;

 private:
  DeprecationShared& shared_;
  WorkerCache& cache_;
  const common::TimeSource& time_;
  std::unique_ptr<WorkerCache> own_cache_;
  const WorkerCache::PolicyEntry* entry_ = nullptr;  // set when the request is deprecated
};

class DeprecationFilterFactory final : public FilterFactory {
 public:
  DeprecationFilterFactory(DeprecationFilterConfig config,
                           prometheus::Family<prometheus::Counter>& requests)
      : shared_(std::make_unique<DeprecationShared>(std::move(config), requests)) {}

  // `local` is the worker's WorkerCache (see workerLocal()); without one the filter makes its own,
  // which works but pays the formatting per request.
  http::StreamFilterPtr create(WorkerContext& ctx, WorkerLocal* local) const override;
  WorkerLocalPtr workerLocal(WorkerContext& worker, WorkerLocalPtr previous) const override;
  nlohmann::json toJson() const override;
  const DeprecationFilterConfig& config() const { return shared_->config; }

 private:
  const std::unique_ptr<DeprecationShared> shared_;
};

// The metric family the filter counts into (registered once per registry; merged on repeat).
prometheus::Family<prometheus::Counter>& deprecatedRequestsFamily(prometheus::Registry& registry);

// The filter's FilterBuildFn: parses `node` (at ctx.path) and returns its factory.
FilterFactoryPtr buildDeprecationFilter(const YAML::Node& node, BuildContext& ctx);

// Adds "deprecation" to `registry`.
void registerDeprecationFilter(FilterRegistry& registry);

}  // namespace switchyard::filters::deprecation
