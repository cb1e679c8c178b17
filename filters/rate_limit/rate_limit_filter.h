#pragma once

// The rate_limit filter: every policy that applies to a request must admit it (GCRA, see
// gcra.h). Local policies are decided at once against buckets shared by the workers of this
// process (local_limiter.h); global ones by one Redis script call each (gcra_store.h), while the
// request waits. A denial is a 429 problem+json with Retry-After and the RateLimit fields; a
// global policy whose decision Redis could not give applies its `on_redis_error` (admit, or 503).
//
// Order: the local policies first; a request one of them denies is not sent to Redis. Every
// matching global policy is then asked at once (pipelined), shadow ones included. A global denial
// is remembered on the worker until its retry time, so a client far over its limit costs no round
// trip until then.

#include <prometheus/counter.h>
#include <prometheus/family.h>

#include <array>
#include <cstddef>
#include <memory>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "filters/rate_limit/config.h"
#include "filters/rate_limit/gcra.h"
#include "filters/rate_limit/gcra_store.h"
#include "filters/rate_limit/local_limiter.h"
#include "filters/registry.h"
#include "proxy/upstream/runtime_state.h"

namespace switchyard::filters::rate_limit {

// One policy as requests use it: the configuration and what is derived from it once.
struct CompiledPolicy {
  explicit CompiledPolicy(const PolicyConfig& config);

  // Whether the policy applies to this request (its `match`).
  bool matches(const http::RequestHeaders& request, const http::StreamInfo& info) const {
    return !has_match || matchesSlow(request, info);
  }
  // The bucket key of the request: "a:<client address>", "h:<header value>", "c:<claim value>"
  // (long values hashed), "r:<route>/<version>".
  void key(const http::RequestHeaders& request, const http::StreamInfo& info,
           std::string& out) const;
  // The same key for the local buckets, where the policy's own table tells the kinds apart: the
  // client address or the header (or claim) value as they are (no copy), "\n<address>" for a
  // request without it, "\r<hash>" for a long value, "<route>/<version>" (`scratch` holds the
  // ones that are made; header values never contain CR or LF, nor do verified claims).
  std::string_view localKey(const http::RequestHeaders& request, const http::StreamInfo& info,
                            std::string& scratch) const;
  bool matchesSlow(const http::RequestHeaders& request, const http::StreamInfo& info) const;

  const PolicyConfig& config;
  GcraParams params;
  GcraScriptArgs script_args;
  std::string policy_item;   // the RateLimit-Policy item
  std::string redis_prefix;  // the Redis key of a request is redis_prefix + "{" + key + "}"
  bool has_match = false;    // route, methods or path_prefix set
  // Local scope: the buckets, claimed from the server's registry by activate().
  std::shared_ptr<LocalLimiter> limiter;
};

// A list of policies (the filter's, or a route's or version's) with its compiled form. Held at
// a stable address: CompiledPolicy points into `config`.
class PolicySet {
 public:
  explicit PolicySet(RateLimitConfig config);
  PolicySet(const PolicySet&) = delete;
  PolicySet& operator=(const PolicySet&) = delete;

  const RateLimitConfig& config() const { return config_; }
  const std::vector<CompiledPolicy>& policies() const { return policies_; }
  std::vector<CompiledPolicy>& policies() { return policies_; }

 private:
  const RateLimitConfig config_;
  std::vector<CompiledPolicy> policies_;
};

class RateLimitRouteConfig final : public RouteFilterConfig {
 public:
  explicit RateLimitRouteConfig(RateLimitConfig config)
      : set_(std::make_unique<PolicySet>(std::move(config))) {}
  nlohmann::json toJson() const override { return rate_limit::toJson(set_->config()); }
  const RateLimitConfig& config() const { return set_->config(); }
  PolicySet& set() const { return *set_; }

 private:
  const std::unique_ptr<PolicySet> set_;
};

struct RateLimitMetrics {
  explicit RateLimitMetrics(prometheus::Registry& registry);
  prometheus::Family<prometheus::Counter>& limited;        // {route, policy}
  prometheus::Family<prometheus::Counter>& shadow_denied;  // {route, policy}
  prometheus::Family<prometheus::Counter>& redis_errors;   // {policy, kind}
};

// The filter's object on one worker: the Redis store of its global policies, the denials it
// remembers, and the counters it has looked up.
class WorkerState final : public WorkerLocal {
 public:
  // At most this many remembered denials per worker; past it, expired ones are dropped and new
  // ones not remembered (they still work, at the price of a round trip each).
  static constexpr size_t MaxDenials = 10'000;

  // `metrics` names families of the process's registry, which outlive any configuration: a
  // worker state kept across a reload stays valid.
  WorkerState(std::unique_ptr<GcraStore> store, const RateLimitMetrics& metrics)
      : store_(std::move(store)), metrics_(metrics) {}

  GcraStore* store() { return store_.get(); }
  // A string the worker's streams use for their keys, one at a time (decodeHeaders), so that a
  // request does not construct one.
  std::string& scratch() { return scratch_; }
  // A denial of `redis_key` remembered until `until` (monotonic ns), or 0.
  int64_t deniedUntil(const std::string& redis_key, int64_t now);
  void rememberDenial(const std::string& redis_key, int64_t until, int64_t now);
  size_t rememberedDenials() const { return denials_.size(); }

  prometheus::Counter& limited(const std::string& route, const std::string& policy);
  prometheus::Counter& shadowDenied(const std::string& route, const std::string& policy);
  prometheus::Counter& redisError(const std::string& policy, std::string_view kind);

 private:
  prometheus::Counter& counter(std::unordered_map<std::string, prometheus::Counter*>& cache,
                               prometheus::Family<prometheus::Counter>& family,
                               const std::string& first_label, const std::string& first,
                               const std::string& second_label, std::string_view second);

  std::unique_ptr<GcraStore> store_;
  RateLimitMetrics metrics_;
  std::string scratch_;
  std::unordered_map<std::string, int64_t> denials_;
  std::unordered_map<std::string, prometheus::Counter*> limited_;
  std::unordered_map<std::string, prometheus::Counter*> shadow_denied_;
  std::unordered_map<std::string, prometheus::Counter*> redis_errors_;
};

// What became of one policy for one request.
enum class Outcome : uint8_t {
  Allowed,
  Denied,        // the policy denies (a 429)
  ShadowDenied,  // a shadow policy would have denied
  ErrorAllowed,  // Redis gave no decision; on_redis_error: allow
  ErrorDenied,   // Redis gave no decision; on_redis_error: deny (a 503)
  Pending,       // waiting for Redis
};

class RateLimitFilterFactory;

class RateLimitFilter final : public http::StreamFilter {
 public:
  RateLimitFilter(const RateLimitFilterFactory& factory, WorkerState& state,
                  const common::TimeSource& time, std::unique_ptr<WorkerState> own_state);
  RateLimitFilter(const RateLimitFilter&) = delete;
  RateLimitFilter& operator=(const RateLimitFilter&) = delete;

  http::FilterHeadersStatus decodeHeaders(http::RequestHeaders& request, bool end_stream) override;
  http::FilterHeadersStatus encodeHeaders(http::ResponseHeaders& response,
                                          bool end_stream) override;
  void onDestroy() override;

 public:
  struct Decision {
    const CompiledPolicy* policy = nullptr;
    Outcome outcome = Outcome::Allowed;
    bool known = false;  // remaining and the times come from a decision (not a failure)
    int64_t remaining = 0;
    int64_t reset_ns = 0;
    int64_t retry_after_ns = 0;
    uint32_t redis_key = 0;  // global policies: its index in Extra::redis_keys
    GcraStore::Handle handle = 0;
  };

 private:
  static constexpr size_t InlineDecisions = 4;

  Decision& addDecision(const CompiledPolicy& policy);
  Decision& decision(size_t i) {
    return i < InlineDecisions ? *std::launder(reinterpret_cast<Decision*>(inline_) + i)
                               : extra_->more[i - InlineDecisions];
  }
  const Decision& decision(size_t i) const {
    return const_cast<RateLimitFilter*>(this)->decision(i);
  }
  void decideLocal(const CompiledPolicy& policy, const http::RequestHeaders& request,
                   const http::StreamInfo& info, int64_t now);
  // Returns false when the policy needs Redis (the decision is left Pending).
  bool decideFromCache(Decision& d, int64_t now);
  void onStoreResult(size_t index, const StoreResult& result);
  void record(Decision& d, const GcraDecision& g);
  void recordError(Decision& d, std::string_view kind);
  // Every decision is in: reply (429 or 503), or let the request through. Returns what
  // decodeHeaders() should return when called from there.
  http::FilterHeadersStatus finish(bool from_decode);
  void setLogValue(bool limited, bool unavailable);
  void setAllowedLogValue();
  // The RateLimit fields of an admitted response (`headers: true`).
  void addFields(http::ResponseHeaders& response) const;
  void cancelPending();

  const RateLimitFilterFactory& factory_;
  WorkerState& state_;
  const common::TimeSource& time_;
  const RateLimitConfig* config_ = nullptr;
  // The first decisions, constructed as policies apply (most requests meet one or two): a
  // stream pays for the ones it uses. Decisions are trivially destructible.
  alignas(Decision) std::byte inline_[InlineDecisions * sizeof(Decision)];
  // What few requests need, made when they need it: decisions past the inline ones, the Redis
  // keys of global decisions, a worker state of its own (no worker-local object, in tests).
  struct Extra {
    std::vector<Decision> more;
    std::vector<std::string> redis_keys;
    std::unique_ptr<WorkerState> own_state;
  };
  Extra& extra() {
    if (!extra_) extra_ = std::make_unique<Extra>();
    return *extra_;
  }
  std::unique_ptr<Extra> extra_;
  size_t count_ = 0;
  size_t pending_ = 0;
  bool in_decode_ = false;
  bool replied_ = false;
  bool destroyed_ = false;
};

class RateLimitFilterFactory final : public FilterFactory {
 public:
  RateLimitFilterFactory(RateLimitConfig config, prometheus::Registry& metrics);

  http::StreamFilterPtr create(WorkerContext& ctx, WorkerLocal* local) const override;
  nlohmann::json toJson() const override { return rate_limit::toJson(set_->config()); }
  RouteFilterConfigPtr parseRouteConfig(const YAML::Node& node, const std::string& path,
                                        const RouteFilterConfig* parent) const override;
  std::vector<config::ConfigError> validate(const config::Config& config) const override;
  void activate(ActivationContext& ctx) const override;
  WorkerLocalPtr workerLocal(WorkerContext& worker, WorkerLocalPtr previous) const override;
  // GET /rate_limit: the filter's policies with what they denied since start.
  admin::AdminResponse handleAdmin(const AdminEndpoint& endpoint,
                                   const admin::AdminRequest& request,
                                   AdminContext& ctx) const override;

  const RateLimitConfig& config() const { return set_->config(); }
  PolicySet& set() const { return *set_; }
  RateLimitMetrics& metrics() const { return *metrics_; }
  // For tests: a worker state whose global policies use `store`.
  std::unique_ptr<WorkerState> makeWorkerState(std::unique_ptr<GcraStore> store) const {
    return std::make_unique<WorkerState>(std::move(store), *metrics_);
  }

 private:
  // Every policy set of this filter in `config`: its own, then each route's and version's.
  std::vector<PolicySet*> sets(const config::Config& config) const;

  const std::unique_ptr<PolicySet> set_;
  const std::unique_ptr<RateLimitMetrics> metrics_;
  // What activate() claimed: kept for the periodic sweep.
  mutable std::vector<std::shared_ptr<LocalLimiter>> limiters_;
};

// The filter's FilterBuildFn and its registration ("rate_limit").
FilterFactoryPtr buildRateLimitFilter(const YAML::Node& node, BuildContext& ctx);
void registerRateLimitFilter(FilterRegistry& registry);

}  // namespace switchyard::filters::rate_limit
