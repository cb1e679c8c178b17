#pragma once

// jwt_authn: lets a request through only with a valid JSON Web Token from a configured provider
// (see verifier.h for what "valid" means), and tells what comes after who the caller is.
//
// decodeHeaders:
//   - removes from the request every header that a provider's forward_claims writes, whatever
//     the requirement and whether a token comes or not: a client cannot send one of its own;
//   - requirement `none` (the filter's, or the route's or version's block): nothing else;
//   - takes the token from `Authorization: Bearer <token>` (or the configured header or cookie);
//     without one: `required` answers 401 with `WWW-Authenticate: Bearer`, `optional` lets the
//     request through without an identity;
//   - a token seen before on this worker and still good (TokenCache) passes without a signature
//     check; any other is verified (verifyToken) and, if valid, cached;
//   - a valid token: its claims become the request's http::VerifiedIdentity (for rate_limit's
//     and sticky splits' claim keys; the cluster of a split sticky by a claim is picked again),
//     and each forward_claims claim it has is added as its header;
//   - an invalid one (under `optional` too): 401 problem+json with
//     `WWW-Authenticate: Bearer error="invalid_token"`; nothing goes upstream.
// Every decision counts in switchyard_jwt_authn_total{route,result} and is the access log's
// "jwt_authn" field (the result's name, never the token).

#include <prometheus/counter.h>
#include <prometheus/family.h>

#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "filters/jwt_authn/config.h"
#include "filters/jwt_authn/key_source.h"
#include "filters/jwt_authn/token_cache.h"
#include "filters/jwt_authn/verifier.h"
#include "filters/registry.h"

namespace switchyard::filters::jwt_authn {

class JwtAuthnRouteConfig final : public RouteFilterConfig {
 public:
  explicit JwtAuthnRouteConfig(Requirement requirement) : requirement_(requirement) {}
  nlohmann::json toJson() const override {
    return {{"requirement", requirementName(requirement_)}};
  }
  Requirement requirement() const { return requirement_; }

 private:
  const Requirement requirement_;
};

struct JwtAuthnMetrics {
  explicit JwtAuthnMetrics(prometheus::Registry& registry);
  prometheus::Family<prometheus::Counter>& decisions;       // {route, result}
  prometheus::Family<prometheus::Counter>& fetch_failures;  // {provider}
};

// The filter's object on one worker: its verified tokens and the counters it has looked up.
class WorkerState final : public WorkerLocal {
 public:
  WorkerState(size_t cache_entries, prometheus::Family<prometheus::Counter>& decisions)
      : cache_(cache_entries), decisions_(decisions) {}
  TokenCache& cache() { return cache_; }
  prometheus::Counter& counter(const std::string& route, Result result) {
    // Most requests of a worker in a row are of the same route: no lookup for them.
    if (last_ != nullptr && route.size() == last_route_.size() &&
        std::memcmp(route.data(), last_route_.data(), route.size()) == 0) {
      if (prometheus::Counter* c = (*last_)[static_cast<size_t>(result)]) return *c;
    }
    return counterSlow(route, result);
  }

 private:
  prometheus::Counter& counterSlow(const std::string& route, Result result);

  TokenCache cache_;
  prometheus::Family<prometheus::Counter>& decisions_;
  std::unordered_map<std::string, std::array<prometheus::Counter*, ResultCount>> counters_;
  std::string last_route_;
  std::array<prometheus::Counter*, ResultCount>* last_ = nullptr;  // in counters_ (node-stable)
};

// The token of a request, or empty: the Bearer credentials of `Authorization` (the scheme
// matched without regard to case), the value of another configured header (an optional "Bearer "
// taken off), or the value of the configured cookie.
std::string_view extractToken(const http::HeaderMap& headers, const TokenLocation& location);

class JwtAuthnFilterFactory;

class JwtAuthnFilter final : public http::StreamFilter {
 public:
  JwtAuthnFilter(const JwtAuthnFilterFactory& factory, WorkerState& state,
                 const common::TimeSource& time, std::unique_ptr<WorkerState> own_state = nullptr)
      : factory_(factory), state_(state), time_(time), own_state_(std::move(own_state)) {}

  http::FilterHeadersStatus decodeHeaders(http::RequestHeaders& request, bool end_stream) override;

 private:
  http::FilterHeadersStatus refuse(Result result, const std::string& detail);
  void admit(http::RequestHeaders& request, const TokenCache::Entry& entry);
  void record(Result result);

  const JwtAuthnFilterFactory& factory_;
  WorkerState& state_;
  const common::TimeSource& time_;
  std::unique_ptr<WorkerState> own_state_;
};

class JwtAuthnFilterFactory final : public FilterFactory {
 public:
  JwtAuthnFilterFactory(JwtAuthnConfig config, prometheus::Registry& metrics,
                        const common::TimeSource& time);

  http::StreamFilterPtr create(WorkerContext& ctx, WorkerLocal* local) const override;
  nlohmann::json toJson() const override { return jwt_authn::toJson(config_); }
  RouteFilterConfigPtr parseRouteConfig(const YAML::Node& node, const std::string& path,
                                        const RouteFilterConfig* parent) const override;
  // Claims the URL providers' key sources (starting their threads) and binds them.
  void activate(ActivationContext& ctx) const override;
  WorkerLocalPtr workerLocal(WorkerContext& worker, WorkerLocalPtr previous) const override;

  const JwtAuthnConfig& config() const { return config_; }
  const std::vector<const KeyProvider*>& keys() const { return keys_; }
  // Every header some provider's forward_claims writes (removed from every request).
  const std::vector<std::string>& forwardedHeaders() const { return forwarded_headers_; }
  JwtAuthnMetrics& metrics() const { return *metrics_; }
  // For tests: binds provider `index` to `keys` (a URL provider outside a server).
  void bindKeys(size_t index, const KeyProvider* keys) const { keys_[index] = keys; }
  std::unique_ptr<WorkerState> makeWorkerState() const {
    return std::make_unique<WorkerState>(config_.cache_entries, metrics_->decisions);
  }

 private:
  const JwtAuthnConfig config_;
  const std::unique_ptr<JwtAuthnMetrics> metrics_;
  const common::TimeSource& time_;
  std::vector<std::unique_ptr<FileKeys>> file_keys_;
  std::vector<std::string> forwarded_headers_;
  // Bound at construction (files) and activate() (URLs), before any worker uses the factory.
  mutable std::vector<const KeyProvider*> keys_;
  mutable std::vector<std::shared_ptr<UrlKeySource>> url_sources_;
};

FilterFactoryPtr buildJwtAuthnFilter(const YAML::Node& node, BuildContext& ctx);
void registerJwtAuthnFilter(FilterRegistry& registry);

}  // namespace switchyard::filters::jwt_authn
