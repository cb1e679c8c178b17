#include "filters/jwt_authn/jwt_authn_filter.h"

#include <prometheus/registry.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>

namespace switchyard::filters::jwt_authn {
namespace {

inline constexpr http::FilterState::Key<http::StringFilterState> ResultKey{"jwt_authn"};

// In Result's order.
const http::StringFilterState ResultLogs[ResultCount] = {http::StringFilterState("ok"),
                                                         http::StringFilterState("missing"),
                                                         http::StringFilterState("expired"),
                                                         http::StringFilterState("not_yet_valid"),
                                                         http::StringFilterState("bad_signature"),
                                                         http::StringFilterState("bad_issuer"),
                                                         http::StringFilterState("bad_audience"),
                                                         http::StringFilterState("unknown_kid"),
                                                         http::StringFilterState("malformed")};

// A verified token stays in the cache at most this long, whatever its exp says.
constexpr std::chrono::seconds MaxCacheLifetime = std::chrono::hours(1);

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "Bearer <token>": the token, or empty for another scheme (`required`), else the value as it
// is with an optional "Bearer " taken off.
std::string_view bearer(std::string_view value, bool required) {
  // The codec takes off the whitespace before a value: trimming is rarely needed.
  if (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value = trim(value);
  if (value.size() > 7 && (value[6] == ' ' || value[6] == '\t')) {
    // The scheme's six letters at once, lower-cased (a non-letter never turns into one).
    uint64_t word = 0;
    std::memcpy(&word, value.data(), 6);
    static_assert(std::endian::native == std::endian::little);
    constexpr uint64_t Bearer = 0x726572616562ULL;  // "bearer"
    if ((word | 0x202020202020ULL) == Bearer) return trim(value.substr(7));
  }
  return required ? std::string_view() : value;
}

std::string_view cookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const size_t semi = header.find(';');
    std::string_view pair = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos || trim(pair.substr(0, eq)) != name) continue;
    std::string_view value = trim(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return value;
  }
  return {};
}

}  // namespace

std::string_view extractToken(const http::HeaderMap& headers, const TokenLocation& location) {
  if (location.kind == TokenLocation::Kind::Cookie) {
    for (const auto& e : headers.entries()) {
      if (e.name != "cookie") continue;
      const std::string_view v = cookieValue(e.value, location.name);
      if (!v.empty()) return v;
    }
    return {};
  }
  const std::string_view* value = headers.get(location.name);
  if (value == nullptr) return {};
  return bearer(*value, location.name == "authorization");
}

JwtAuthnMetrics::JwtAuthnMetrics(prometheus::Registry& registry)
    : decisions(prometheus::BuildCounter()
                    .Name("switchyard_jwt_authn_total")
                    .Help("Requests the jwt_authn filter decided on, by route and result (ok, "
                          "missing, expired, not_yet_valid, bad_signature, bad_issuer, "
                          "bad_audience, unknown_kid, malformed)")
                    .Register(registry)),
      fetch_failures(prometheus::BuildCounter()
                         .Name("switchyard_jwt_authn_jwks_fetch_failures_total")
                         .Help("Failed fetches of a provider's JWKS URL (the last good keys stay "
                               "in use), by provider")
                         .Register(registry)) {}

prometheus::Counter& WorkerState::counterSlow(const std::string& route, Result result) {
  auto it = counters_.find(route);
  if (it == counters_.end()) {
    it = counters_.emplace(route, std::array<prometheus::Counter*, ResultCount>{}).first;
  }
  last_route_ = route;
  last_ = &it->second;
  prometheus::Counter*& c = (*last_)[static_cast<size_t>(result)];
  if (c == nullptr) {
    c = &decisions_.Add({{"route", route}, {"result", std::string(resultName(result))}});
  }
  return *c;
}

void JwtAuthnFilter::record(Result result) {
  http::StreamInfo& info = callbacks_->streamInfo();
  state_.counter(info.route_name, result).Increment();
  info.filter_state.setConstant(ResultKey, ResultLogs[static_cast<size_t>(result)]);
}

http::FilterHeadersStatus JwtAuthnFilter::refuse(Result result, const std::string& detail) {
  record(result);
  http::LocalReply reply{401, "Unauthorized", detail, {}};
  reply.headers.add("www-authenticate",
                    result == Result::Missing ? "Bearer" : "Bearer error=\"invalid_token\"");
  callbacks_->sendLocalReply(std::move(reply));
  return http::FilterHeadersStatus::StopIteration;
}

void JwtAuthnFilter::admit(http::RequestHeaders& request, const TokenCache::Entry& entry) {
  record(Result::Ok);
  const ProviderConfig& p = factory_.config().providers[entry.provider];
  for (size_t i = 0; i < entry.forward.size(); ++i) {
    if (entry.forward[i] != nullptr)
      request.headers.add(p.forward_claims[i].second, *entry.forward[i]);
  }
  callbacks_->streamInfo().filter_state.set(http::VerifiedIdentityKey,
                                            std::make_unique<http::VerifiedIdentity>(entry.claims));
  callbacks_->reselectCluster();
  callbacks_->skipEncoding();
}

http::FilterHeadersStatus JwtAuthnFilter::decodeHeaders(http::RequestHeaders& request,
                                                        bool /*end_stream*/) {
  const JwtAuthnConfig& config = factory_.config();
  for (const std::string& header : factory_.forwardedHeaders()) {
    if (request.headers.get(header) != nullptr) request.headers.remove(header);
  }
  Requirement requirement = config.requirement;
  if (const auto* route = static_cast<const JwtAuthnRouteConfig*>(callbacks_->routeConfig())) {
    requirement = route->requirement();
  }
  if (requirement == Requirement::None) {
    callbacks_->skipEncoding();
    return http::FilterHeadersStatus::Continue;
  }
  const std::string_view token = extractToken(request.headers, config.token);
  if (token.empty()) {
    if (requirement == Requirement::Required) {
      return refuse(Result::Missing, "the request carries no bearer token");
    }
    record(Result::Missing);
    callbacks_->skipEncoding();
    return http::FilterHeadersStatus::Continue;
  }

  const common::MonotonicTime now = time_.monotonicNow();
  TokenCache& cache = state_.cache();
  if (const TokenCache::Entry* hit = cache.find(token, now)) {
    const KeyProvider* keys = factory_.keys()[hit->provider];
    if (keys != nullptr && keys->generation() == hit->generation) {
      admit(request, *hit);
      return http::FilterHeadersStatus::Continue;
    }
    cache.erase(token);
  }

  const common::SystemTime wall = time_.systemNow();
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(wall.time_since_epoch()).count();
  Verification v = verifyToken(token, config, factory_.keys(), now_s);
  if (v.result != Result::Ok) return refuse(v.result, v.detail);
  const ProviderConfig& provider = config.providers[v.provider];
  TokenCache::Entry entry;
  entry.provider = static_cast<uint32_t>(v.provider);
  entry.generation = v.generation;
  const int64_t left = v.exp - now_s + provider.clock_skew.count();
  entry.expires =
      now + std::min<std::chrono::seconds>(std::chrono::seconds(left), MaxCacheLifetime);
  entry.claims = v.claims;
  // The forwarded claims' values, looked up once for every request that brings the token again.
  for (const auto& [claim, header] : provider.forward_claims) {
    entry.forward.push_back(entry.claims->get(claim));
  }
  admit(request, entry);
  cache.insert(token, std::move(entry), now);
  return http::FilterHeadersStatus::Continue;
}

JwtAuthnFilterFactory::JwtAuthnFilterFactory(JwtAuthnConfig config, prometheus::Registry& metrics,
                                             const common::TimeSource& time)
    : config_(std::move(config)),
      metrics_(std::make_unique<JwtAuthnMetrics>(metrics)),
      time_(time) {
  keys_.resize(config_.providers.size(), nullptr);
  url_sources_.resize(config_.providers.size());
  for (size_t i = 0; i < config_.providers.size(); ++i) {
    const ProviderConfig& p = config_.providers[i];
    if (p.jwks.file_keys) {
      file_keys_.push_back(std::make_unique<FileKeys>(p.jwks.file_keys));
      keys_[i] = file_keys_.back().get();
    }
    for (const auto& [claim, header] : p.forward_claims) {
      if (std::find(forwarded_headers_.begin(), forwarded_headers_.end(), header) ==
          forwarded_headers_.end()) {
        forwarded_headers_.push_back(header);
      }
    }
  }
}

http::StreamFilterPtr JwtAuthnFilterFactory::create(WorkerContext& ctx, WorkerLocal* local) const {
  if (local == nullptr) {
    auto own = makeWorkerState();
    WorkerState& state = *own;
    return std::make_unique<JwtAuthnFilter>(*this, state, ctx.time, std::move(own));
  }
  return std::make_unique<JwtAuthnFilter>(*this, *static_cast<WorkerState*>(local), ctx.time);
}

RouteFilterConfigPtr JwtAuthnFilterFactory::parseRouteConfig(
    const YAML::Node& node, const std::string& path, const RouteFilterConfig* /*parent*/) const {
  return std::make_shared<const JwtAuthnRouteConfig>(parseJwtAuthnRouteConfig(node, path));
}

void JwtAuthnFilterFactory::activate(ActivationContext& ctx) const {
  for (size_t i = 0; i < config_.providers.size(); ++i) {
    const ProviderConfig& p = config_.providers[i];
    if (p.jwks.url.empty()) continue;
    http::HttpUrl url;
    std::string error;
    if (!http::parseHttpUrl(p.jwks.url, url, error)) continue;  // checked at load
    auto source = ctx.state.claim<UrlKeySource>(
        "jwt_authn", p.name + " " + p.jwks.url, [&]() -> std::shared_ptr<UrlKeySource> {
          return std::make_shared<UrlKeySource>(
              p.name, url, time_, metrics_->fetch_failures.Add({{"provider", p.name}}));
        });
    source->start({p.jwks.refresh, p.jwks.min_refetch, p.jwks.timeout},
                  std::min<std::chrono::milliseconds>(p.jwks.timeout, std::chrono::seconds(2)));
    url_sources_[i] = source;
    keys_[i] = source.get();
  }
}

WorkerLocalPtr JwtAuthnFilterFactory::workerLocal(WorkerContext& /*worker*/,
                                                  WorkerLocalPtr /*previous*/) const {
  // A new configuration may trust other issuers or keys: its cache starts empty.
  return std::shared_ptr<WorkerState>(makeWorkerState());
}

FilterFactoryPtr buildJwtAuthnFilter(const YAML::Node& node, BuildContext& ctx) {
  return std::make_shared<const JwtAuthnFilterFactory>(parseJwtAuthnConfig(node, ctx.path),
                                                       ctx.metrics, ctx.time);
}

void registerJwtAuthnFilter(FilterRegistry& registry) {
  registry.add("jwt_authn", buildJwtAuthnFilter);
}

}  // namespace switchyard::filters::jwt_authn
