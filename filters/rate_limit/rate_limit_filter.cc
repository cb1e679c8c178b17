#include "filters/rate_limit/rate_limit_filter.h"

#include <prometheus/registry.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <type_traits>

#include "config/config.h"
#include "filters/rate_limit/headers.h"
#include "filters/rate_limit/redis_gcra_store.h"
#include "proxy/common/path.h"
#include "proxy/http/verified_identity.h"

namespace switchyard::filters::rate_limit {
namespace {

// Header values longer than this are keyed by a 128-bit hash of the value, so a client cannot
// make the proxy (or Redis) store kilobytes per key.
constexpr size_t MaxKeyValueBytes = 128;
// How often worker 0 drops the full buckets of the local policies.
constexpr std::chrono::milliseconds SweepInterval{10'000};

constexpr const char* QuotaExceededType =
    "https://iana.org/assignments/http-problem-types#quota-exceeded";

// The local buckets of one policy, kept by the server's registry across reloads.
struct LimiterState final : upstream::RuntimeState {
  LimiterState(const GcraParams& params, size_t max_keys)
      : limiter(std::make_shared<LocalLimiter>(params, max_keys)) {}
  std::shared_ptr<LocalLimiter> limiter;
};

uint64_t fnv1a(std::string_view s, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

void appendHex(std::string& out, uint64_t v) {
  static constexpr char Digits[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(Digits[(v >> shift) & 0xf]);
}

int64_t toNs(common::MonotonicTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::string_view outcomeName(Outcome o) {
  switch (o) {
    case Outcome::Allowed:
      return "allowed";
    case Outcome::Denied:
      return "denied";
    case Outcome::ShadowDenied:
      return "shadow_denied";
    case Outcome::ErrorAllowed:
      return "redis_error_allowed";
    case Outcome::ErrorDenied:
      return "redis_error_denied";
    case Outcome::Pending:
      break;
  }
  return "pending";
}

// The access-log value and span attribute "rate_limit": the request's result, then each policy
// whose outcome was not a plain admission, e.g. "limited per-user=denied login=shadow_denied".
class DecisionLog final : public http::FilterState::Object, public common::ThreadPooled {
 public:
  explicit DecisionLog(std::string_view result) : result_(result) {}
  void add(std::string_view policy, Outcome outcome) { notes_.push_back({policy, outcome}); }
  std::optional<common::FieldValue> logValue() const override {
    std::string out(result_);
    for (const auto& [policy, outcome] : notes_) {
      out.append(" ").append(policy).append("=").append(outcomeName(outcome));
    }
    return out;
  }

 private:
  std::string_view result_;
  // Policy names live in the configuration snapshot, which outlives the stream.
  std::vector<std::pair<std::string_view, Outcome>> notes_;
};

inline constexpr http::FilterState::Key<DecisionLog> DecisionKey{"rate_limit"};
// What almost every request gets: a constant, nothing allocated.
const DecisionLog AllowedLog("allowed");

// Runs fn every SweepInterval on worker 0 for as long as the worker state lives.
class Sweeper {
 public:
  Sweeper(event::Dispatcher& dispatcher, std::vector<std::shared_ptr<LocalLimiter>> limiters)
      : limiters_(std::move(limiters)), timer_(dispatcher.createTimer([this, &dispatcher] {
          const int64_t now = toNs(dispatcher.timeSource().monotonicNow());
          for (const auto& l : limiters_) l->sweep(now);
          timer_->enable(SweepInterval);
        })) {
    timer_->enable(SweepInterval);
  }

 private:
  std::vector<std::shared_ptr<LocalLimiter>> limiters_;
  event::TimerPtr timer_;
};

class SweepingWorkerState final : public WorkerLocal {
 public:
  SweepingWorkerState(std::shared_ptr<WorkerState> state, std::unique_ptr<Sweeper> sweeper)
      : state(std::move(state)), sweeper(std::move(sweeper)) {}
  std::shared_ptr<WorkerState> state;
  std::unique_ptr<Sweeper> sweeper;
};

}  // namespace

// --- CompiledPolicy ---------------------------------------------------------------------------

CompiledPolicy::CompiledPolicy(const PolicyConfig& c)
    : config(c),
      params(GcraParams::make(
          c.limit, std::chrono::duration_cast<std::chrono::nanoseconds>(c.window).count(),
          c.burst)),
      script_args(gcraScriptArgs(params)),
      policy_item(policyItem(c)),
      redis_prefix("switchyard:rl:" + c.bucketId() + ":"),
      has_match(!c.route.empty() || !c.methods.empty() || !c.path_prefix.empty()) {}

bool CompiledPolicy::matchesSlow(const http::RequestHeaders& request,
                                 const http::StreamInfo& info) const {
  if (!config.route.empty() && info.route_name != config.route) return false;
  if (!config.methods.empty() && std::find(config.methods.begin(), config.methods.end(),
                                           request.method) == config.methods.end()) {
    return false;
  }
  if (!config.path_prefix.empty()) {
    // Match on the path as the upstream will most likely read it ("/api//./login" is
    // "/api/login"), so that a prefix cannot be dodged by spelling the path differently.
    std::string normalized;
    const std::string_view path = common::normalizePathForMatch(request.path, normalized);
    if (path.substr(0, config.path_prefix.size()) != config.path_prefix) return false;
  }
  return true;
}

std::string_view CompiledPolicy::localKey(const http::RequestHeaders& request,
                                          const http::StreamInfo& info,
                                          std::string& scratch) const {
  if (config.key == KeyKind::ClientAddress) return info.downstream_address;
  scratch.clear();
  if (config.key == KeyKind::Header || config.key == KeyKind::Claim) {
    std::string_view value;
    if (config.key == KeyKind::Header) {
      const std::string_view* found = request.headers.get(config.header);
      if (found != nullptr) value = *found;
    } else {
      value = http::verifiedClaim(info.filter_state, config.claim);
    }
    if (!value.empty()) {
      if (value.size() <= MaxKeyValueBytes) return value;
      scratch.push_back('\r');
      appendHex(scratch, fnv1a(value, 0xcbf29ce484222325ULL));
      appendHex(scratch, fnv1a(value, 0x84222325cbf29ce4ULL));
      return scratch;
    }
    scratch.push_back('\n');
    scratch.append(info.downstream_address);
    return scratch;
  }
  scratch.append(info.route_name).push_back('/');
  scratch.append(info.version);
  return scratch;
}

void CompiledPolicy::key(const http::RequestHeaders& request, const http::StreamInfo& info,
                         std::string& out) const {
  out.clear();
  if (config.key == KeyKind::Header || config.key == KeyKind::Claim) {
    std::string_view value;
    if (config.key == KeyKind::Header) {
      const std::string_view* found = request.headers.get(config.header);
      if (found != nullptr) value = *found;
    } else {
      value = http::verifiedClaim(info.filter_state, config.claim);
    }
    const bool claim = config.key == KeyKind::Claim;
    if (!value.empty()) {
      if (value.size() <= MaxKeyValueBytes) {
        out.append(claim ? "c:" : "h:").append(value);
      } else {
        out.append(claim ? "c#" : "h#");
        appendHex(out, fnv1a(value, 0xcbf29ce484222325ULL));
        appendHex(out, fnv1a(value, 0x84222325cbf29ce4ULL));
      }
      return;
    }
  } else if (config.key == KeyKind::Route) {
    out.append("r:").append(info.route_name).append("/").append(info.version);
    return;
  }
  out.append("a:").append(info.downstream_address);
}

PolicySet::PolicySet(RateLimitConfig config) : config_(std::move(config)) {
  policies_.reserve(config_.policies.size());
  for (const PolicyConfig& p : config_.policies) policies_.emplace_back(p);
}

// --- metrics and worker state -----------------------------------------------------------------

RateLimitMetrics::RateLimitMetrics(prometheus::Registry& registry)
    : limited(prometheus::BuildCounter()
                  .Name("switchyard_rate_limited_total")
                  .Help("Requests answered 429 by a rate-limit policy, by route and policy")
                  .Register(registry)),
      shadow_denied(prometheus::BuildCounter()
                        .Name("switchyard_rate_limit_shadow_denied_total")
                        .Help("Requests a shadow rate-limit policy would have denied (they were "
                              "let through), by route and policy")
                        .Register(registry)),
      redis_errors(prometheus::BuildCounter()
                       .Name("switchyard_rate_limit_redis_errors_total")
                       .Help("Global rate-limit decisions Redis did not give (its on_redis_error "
                             "applied), by policy and kind")
                       .Register(registry)) {}

int64_t WorkerState::deniedUntil(const std::string& redis_key, int64_t now) {
  auto it = denials_.find(redis_key);
  if (it == denials_.end()) return 0;
  if (it->second <= now) {
    denials_.erase(it);
    return 0;
  }
  return it->second;
}

void WorkerState::rememberDenial(const std::string& redis_key, int64_t until, int64_t now) {
  if (denials_.size() >= MaxDenials) {
    std::erase_if(denials_, [now](const auto& e) { return e.second <= now; });
    if (denials_.size() >= MaxDenials) return;
  }
  denials_[redis_key] = until;
}

prometheus::Counter& WorkerState::counter(
    std::unordered_map<std::string, prometheus::Counter*>& cache,
    prometheus::Family<prometheus::Counter>& family, const std::string& first_label,
    const std::string& first, const std::string& second_label, std::string_view second) {
  std::string id;
  id.reserve(first.size() + second.size() + 1);
  id.append(first).push_back('\0');
  id.append(second);
  auto it = cache.find(id);
  if (it != cache.end()) return *it->second;
  prometheus::Counter& c = family.Add({{first_label, first}, {second_label, std::string(second)}});
  cache.emplace(std::move(id), &c);
  return c;
}

prometheus::Counter& WorkerState::limited(const std::string& route, const std::string& policy) {
  return counter(limited_, metrics_.limited, "route", route, "policy", policy);
}

prometheus::Counter& WorkerState::shadowDenied(const std::string& route,
                                               const std::string& policy) {
  return counter(shadow_denied_, metrics_.shadow_denied, "route", route, "policy", policy);
}

prometheus::Counter& WorkerState::redisError(const std::string& policy, std::string_view kind) {
  return counter(redis_errors_, metrics_.redis_errors, "policy", policy, "kind", kind);
}

// --- the filter -------------------------------------------------------------------------------

RateLimitFilter::RateLimitFilter(const RateLimitFilterFactory& factory, WorkerState& state,
                                 const common::TimeSource& time,
                                 std::unique_ptr<WorkerState> own_state)
    : factory_(factory), state_(state), time_(time) {
  if (own_state) extra().own_state = std::move(own_state);
}

static_assert(std::is_trivially_destructible_v<RateLimitFilter::Decision>,
              "inline decisions are never destroyed");

RateLimitFilter::Decision& RateLimitFilter::addDecision(const CompiledPolicy& policy) {
  Decision* d;
  if (count_ < InlineDecisions) {
    d = new (inline_ + count_ * sizeof(Decision)) Decision();
  } else {
    d = &extra().more.emplace_back();
  }
  ++count_;
  d->policy = &policy;
  return *d;
}

void RateLimitFilter::record(Decision& d, const GcraDecision& g) {
  d.known = true;
  d.remaining = g.remaining;
  d.reset_ns = g.reset_ns;
  d.retry_after_ns = g.retry_after_ns;
  if (g.allowed) {
    d.outcome = Outcome::Allowed;
  } else {
    d.outcome = d.policy->config.shadow ? Outcome::ShadowDenied : Outcome::Denied;
  }
}

void RateLimitFilter::recordError(Decision& d, std::string_view kind) {
  d.known = false;
  d.outcome = d.policy->config.on_redis_error == OnRedisError::Deny && !d.policy->config.shadow
                  ? Outcome::ErrorDenied
                  : Outcome::ErrorAllowed;
  state_.redisError(d.policy->config.name, kind).Increment();
}

bool RateLimitFilter::decideFromCache(Decision& d, int64_t now) {
  const int64_t until = state_.deniedUntil(extra().redis_keys[d.redis_key], now);
  if (until == 0) return false;
  GcraDecision g;
  g.allowed = false;
  g.retry_after_ns = until - now;
  g.reset_ns = g.retry_after_ns;
  record(d, g);
  return true;
}

http::FilterHeadersStatus RateLimitFilter::decodeHeaders(http::RequestHeaders& request,
                                                         bool /*end_stream*/) {
  const auto* route = static_cast<const RateLimitRouteConfig*>(callbacks_->routeConfig());
  const PolicySet& set = route != nullptr ? route->set() : factory_.set();
  config_ = &set.config();
  http::StreamInfo& info = callbacks_->streamInfo();
  // The request's arrival: read once for the stream already, and the instant it asked.
  const int64_t now = toNs(info.start);

  // A local admission is kept only when the response will report it (`headers: true`): what
  // is not kept is a plain admission, which nothing else needs.
  const bool keep_admissions = config_->headers;
  bool matched = false;
  bool denied = false;
  size_t global = 0;
  std::string& key = state_.scratch();
  for (const CompiledPolicy& p : set.policies()) {
    if (!p.matches(request, info)) continue;
    matched = true;
    if (p.config.scope == Scope::Global) {
      ++global;
      addDecision(p).outcome = Outcome::Pending;
      continue;
    }
    const GcraDecision g = p.limiter->admit(p.localKey(request, info, key), now);
    if (g.allowed && !keep_admissions) continue;
    Decision& d = addDecision(p);
    record(d, g);
    denied = denied || d.outcome == Outcome::Denied;
  }
  if (!matched) return http::FilterHeadersStatus::Continue;
  bool plain = global == 0;
  for (size_t i = 0; i < count_ && plain; ++i) plain = decision(i).outcome == Outcome::Allowed;
  if (plain) {
    // Every policy is local and admits the request, as for almost every request: nothing to
    // count, nothing to answer, and without `headers: true` nothing to add to the response.
    info.filter_state.setConstant(DecisionKey, AllowedLog);
    if (!keep_admissions) callbacks_->skipEncoding();
    return http::FilterHeadersStatus::Continue;
  }

  if (global > 0) {
    // Remembered denials first: a client far over its limit costs no round trip.
    for (size_t i = 0; i < count_; ++i) {
      Decision& d = decision(i);
      if (d.outcome != Outcome::Pending) continue;
      d.policy->key(request, info, key);
      std::vector<std::string>& redis_keys = extra().redis_keys;
      d.redis_key = static_cast<uint32_t>(redis_keys.size());
      std::string& redis_key = redis_keys.emplace_back();
      redis_key.reserve(d.policy->redis_prefix.size() + key.size() + 2);
      redis_key.append(d.policy->redis_prefix).append("{").append(key).append("}");
      if (decideFromCache(d, now)) denied = denied || d.outcome == Outcome::Denied;
    }
  }
  if (denied || global == 0) {
    // A request a local policy denies goes no further, Redis included.
    for (size_t i = 0; i < count_; ++i) {
      Decision& d = decision(i);
      if (d.outcome == Outcome::Pending) d.outcome = Outcome::Allowed;  // never asked
    }
    return finish(true);
  }

  GcraStore* store = state_.store();
  in_decode_ = true;
  for (size_t i = 0; i < count_; ++i) {
    Decision& d = decision(i);
    if (d.outcome != Outcome::Pending) continue;
    if (store == nullptr) {
      recordError(d, "connection");
      continue;
    }
    ++pending_;
    d.handle = store->decide(extra().redis_keys[d.redis_key], d.policy->script_args,
                             [this, i](const StoreResult& result) { onStoreResult(i, result); });
  }
  in_decode_ = false;
  if (pending_ == 0) return finish(true);
  return http::FilterHeadersStatus::StopIteration;
}

void RateLimitFilter::onStoreResult(size_t index, const StoreResult& result) {
  Decision& d = decision(index);
  d.handle = 0;
  if (result.ok) {
    record(d, result.decision);
    if (!result.decision.allowed) {
      const int64_t now = toNs(time_.monotonicNow());
      state_.rememberDenial(extra().redis_keys[d.redis_key], now + result.decision.retry_after_ns,
                            now);
    }
  } else {
    recordError(d, result.error_kind);
  }
  --pending_;
  if (pending_ == 0 && !in_decode_) finish(false);
}

http::FilterHeadersStatus RateLimitFilter::finish(bool from_decode) {
  const http::StreamInfo& info = callbacks_->streamInfo();
  bool limited = false;
  bool unavailable = false;
  for (size_t i = 0; i < count_; ++i) {
    const Decision& d = decision(i);
    if (d.outcome == Outcome::Denied) {
      limited = true;
      state_.limited(info.route_name, d.policy->config.name).Increment();
    } else if (d.outcome == Outcome::ShadowDenied) {
      state_.shadowDenied(info.route_name, d.policy->config.name).Increment();
    } else if (d.outcome == Outcome::ErrorDenied) {
      unavailable = true;
    }
  }
  setLogValue(limited, unavailable && !limited);

  if (limited) {
    http::LocalReply reply;
    reply.status = 429;
    reply.title = "Request cannot be satisfied as assigned quota has been exceeded";
    reply.type = QuotaExceededType;
    int64_t retry_after = 0;
    std::string policies;
    std::string state;
    nlohmann::json violated = nlohmann::json::array();
    for (size_t i = 0; i < count_; ++i) {
      const Decision& d = decision(i);
      if (d.outcome != Outcome::Denied) continue;
      const int64_t seconds = retryAfterSeconds(d.retry_after_ns);
      retry_after = std::max(retry_after, seconds);
      appendItem(policies, d.policy->policy_item);
      appendStateItem(state, d.policy->config.name, 0, seconds);
      violated.push_back(d.policy->config.name);
    }
    reply.detail = "Rate limit exceeded (" + violated.front().get<std::string>() +
                   (violated.size() > 1 ? " and others" : "") + "); retry in " +
                   std::to_string(retry_after) + " s.";
    reply.members = {{"violated-policies", std::move(violated)}};
    reply.headers.add("retry-after", std::to_string(retry_after));
    reply.headers.add("ratelimit-policy", policies);
    reply.headers.add("ratelimit", state);
    replied_ = true;
    callbacks_->sendLocalReply(std::move(reply));
    return http::FilterHeadersStatus::StopIteration;
  }
  if (unavailable) {
    http::LocalReply reply;
    reply.status = 503;
    for (size_t i = 0; i < count_; ++i) {
      const Decision& d = decision(i);
      if (d.outcome != Outcome::ErrorDenied) continue;
      reply.detail = "The rate limit store is unavailable and policy " + d.policy->config.name +
                     " denies requests without it.";
      break;
    }
    reply.headers.add("retry-after", "1");
    replied_ = true;
    callbacks_->sendLocalReply(std::move(reply));
    return http::FilterHeadersStatus::StopIteration;
  }
  if (!from_decode) callbacks_->continueDecoding();
  return http::FilterHeadersStatus::Continue;
}

void RateLimitFilter::setAllowedLogValue() {
  callbacks_->streamInfo().filter_state.setConstant(DecisionKey, AllowedLog);
}

void RateLimitFilter::setLogValue(bool limited, bool unavailable) {
  http::FilterState& state = callbacks_->streamInfo().filter_state;
  if (!limited && !unavailable) {
    bool plain = true;
    for (size_t i = 0; i < count_ && plain; ++i) plain = decision(i).outcome == Outcome::Allowed;
    if (plain) {
      setAllowedLogValue();
      return;
    }
  }
  auto log = std::make_unique<DecisionLog>(limited       ? "limited"
                                           : unavailable ? "unavailable"
                                                         : "allowed");
  for (size_t i = 0; i < count_; ++i) {
    const Decision& d = decision(i);
    if (d.outcome != Outcome::Allowed) log->add(d.policy->config.name, d.outcome);
  }
  state.set(DecisionKey, std::move(log));
}

http::FilterHeadersStatus RateLimitFilter::encodeHeaders(http::ResponseHeaders& response,
                                                         bool /*end_stream*/) {
  // A 429 of ours carries its fields already; without `headers: true` only 429s carry them.
  if (replied_ || config_ == nullptr || !config_->headers || count_ == 0) {
    return http::FilterHeadersStatus::Continue;
  }
  addFields(response);
  return http::FilterHeadersStatus::Continue;
}

void RateLimitFilter::addFields(http::ResponseHeaders& response) const {
  std::string policies;
  std::string state;
  for (size_t i = 0; i < count_; ++i) {
    const Decision& d = decision(i);
    // Shadow policies are not the client's business; a decision Redis did not give has no
    // figures to report.
    if (d.policy->config.shadow || !d.known || d.outcome != Outcome::Allowed) continue;
    appendItem(policies, d.policy->policy_item);
    appendStateItem(state, d.policy->config.name, d.remaining, ceilSeconds(d.reset_ns));
  }
  if (!policies.empty()) {
    response.headers.add("ratelimit-policy", policies);
    response.headers.add("ratelimit", state);
  }
}

void RateLimitFilter::onDestroy() {
  if (pending_ > 0) cancelPending();
}

void RateLimitFilter::cancelPending() {
  GcraStore* store = state_.store();
  for (size_t i = 0; i < count_ && pending_ > 0; ++i) {
    Decision& d = decision(i);
    if (d.handle != 0 && store != nullptr) {
      store->cancel(d.handle);
      d.handle = 0;
      --pending_;
    }
  }
}

// --- the factory ------------------------------------------------------------------------------

RateLimitFilterFactory::RateLimitFilterFactory(RateLimitConfig config,
                                               prometheus::Registry& metrics)
    : set_(std::make_unique<PolicySet>(std::move(config))),
      metrics_(std::make_unique<RateLimitMetrics>(metrics)) {}

http::StreamFilterPtr RateLimitFilterFactory::create(WorkerContext& ctx, WorkerLocal* local) const {
  if (local == nullptr) {
    // No worker state (tests): global policies have no store and apply on_redis_error.
    auto own = makeWorkerState(nullptr);
    WorkerState& state = *own;
    return std::make_unique<RateLimitFilter>(*this, state, ctx.time, std::move(own));
  }
  auto& state = *static_cast<SweepingWorkerState*>(local)->state;
  return std::make_unique<RateLimitFilter>(*this, state, ctx.time, nullptr);
}

RouteFilterConfigPtr RateLimitFilterFactory::parseRouteConfig(
    const YAML::Node& node, const std::string& path, const RouteFilterConfig* parent) const {
  const RateLimitConfig& base =
      parent != nullptr ? static_cast<const RateLimitRouteConfig*>(parent)->config() : config();
  return std::make_shared<const RateLimitRouteConfig>(parseRateLimitRouteConfig(node, path, base));
}

std::vector<PolicySet*> RateLimitFilterFactory::sets(const config::Config& config) const {
  std::vector<PolicySet*> out{set_.get()};
  size_t index = config.filters.size();
  for (size_t i = 0; i < config.filters.size(); ++i) {
    if (config.filters[i].factory.get() == this) index = i;
  }
  if (index == config.filters.size()) return out;
  auto add = [&](const config::RouteFilterConfigs& filters) {
    if (index >= filters.size() || filters[index] == nullptr) return;
    PolicySet* s = &static_cast<const RateLimitRouteConfig*>(filters[index].get())->set();
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  };
  for (const config::RouteConfig& r : config.routes) {
    add(r.filters);
    for (const config::VersionConfig& v : r.versions) add(v.filters);
  }
  return out;
}

std::vector<config::ConfigError> RateLimitFilterFactory::validate(
    const config::Config& config) const {
  std::vector<config::ConfigError> errors;
  auto at = [](const config::ConfigError& where, std::string message) {
    return config::ConfigError(where.path(), std::move(message), where.line(), where.column());
  };
  for (const PolicySet* s : sets(config)) {
    for (const CompiledPolicy& p : s->policies()) {
      const PolicyConfig& c = p.config;
      if (c.scope == Scope::Global && !config.redis) {
        const std::string message =
            "policy '" + c.name + "' has scope: global, which needs a top-level redis: block";
        bool seen = false;
        for (const config::ConfigError& e : errors) seen = seen || e.what() == message;
        if (!seen) errors.push_back(at(c.scope_at, message));
      }
      if (!c.route.empty() && s == set_.get() && config.findRoute(c.route) == nullptr) {
        errors.push_back(at(c.route_at, "policy '" + c.name + "' matches route '" + c.route +
                                            "', which is not defined"));
      }
    }
  }
  return errors;
}

void RateLimitFilterFactory::activate(ActivationContext& ctx) const {
  const size_t max_keys = config().max_keys;
  for (PolicySet* s : sets(ctx.config)) {
    for (CompiledPolicy& p : s->policies()) {
      if (p.config.scope != Scope::Local) continue;
      // The buckets survive a reload that keeps the policy's numbers (and max_keys).
      const std::string name = p.config.bucketId() + "/" + std::to_string(max_keys);
      auto state = ctx.state.claim<LimiterState>(
          "rate_limit", name, [&] { return std::make_shared<LimiterState>(p.params, max_keys); });
      p.limiter = state->limiter;
      if (std::find(limiters_.begin(), limiters_.end(), p.limiter) == limiters_.end()) {
        limiters_.push_back(p.limiter);
      }
    }
  }
}

WorkerLocalPtr RateLimitFilterFactory::workerLocal(WorkerContext& worker,
                                                   WorkerLocalPtr previous) const {
  // Remembered denials and looked-up counters stay valid across a reload; the store too.
  std::shared_ptr<WorkerState> state;
  if (previous != nullptr) state = static_cast<SweepingWorkerState*>(previous.get())->state;
  if (state == nullptr) {
    std::unique_ptr<GcraStore> store;
    if (worker.redis != nullptr) store = makeRedisGcraStore(*worker.redis);
    state = std::make_shared<WorkerState>(std::move(store), *metrics_);
  }
  std::unique_ptr<Sweeper> sweeper;
  if (worker.worker_index == 0 && !limiters_.empty()) {
    sweeper = std::make_unique<Sweeper>(worker.dispatcher, limiters_);
  }
  return std::make_shared<SweepingWorkerState>(std::move(state), std::move(sweeper));
}

FilterFactoryPtr buildRateLimitFilter(const YAML::Node& node, BuildContext& ctx) {
  return std::make_shared<const RateLimitFilterFactory>(parseRateLimitConfig(node, ctx.path),
                                                        ctx.metrics);
}

namespace {

// A counter family's values summed by the value of `label`.
std::map<std::string, uint64_t> sumBy(const prometheus::Family<prometheus::Counter>& family,
                                      const std::string& label) {
  std::map<std::string, uint64_t> out;
  for (const prometheus::MetricFamily& f : family.Collect()) {
    for (const prometheus::ClientMetric& m : f.metric) {
      for (const prometheus::ClientMetric::Label& l : m.label) {
        if (l.name == label) out[l.value] += static_cast<uint64_t>(m.counter.value);
      }
    }
  }
  return out;
}

}  // namespace

admin::AdminResponse RateLimitFilterFactory::handleAdmin(const AdminEndpoint& endpoint,
                                                         const admin::AdminRequest& /*request*/,
                                                         AdminContext& /*ctx*/) const {
  if (endpoint.method != "GET") return admin::problemResponse(404, "no such endpoint");
  const std::map<std::string, uint64_t> limited = sumBy(metrics_->limited, "policy");
  const std::map<std::string, uint64_t> shadow = sumBy(metrics_->shadow_denied, "policy");
  const std::map<std::string, uint64_t> redis = sumBy(metrics_->redis_errors, "policy");
  const auto count = [](const std::map<std::string, uint64_t>& m, const std::string& name) {
    auto it = m.find(name);
    return it == m.end() ? uint64_t{0} : it->second;
  };
  nlohmann::json policies = nlohmann::json::array();
  for (const PolicyConfig& p : set_->config().policies) {
    nlohmann::json out = rate_limit::toJson(p);
    out["mode"] = p.scope == Scope::Global ? "global" : "local";
    out["window_seconds"] = std::chrono::duration<double>(p.window).count();
    out["denied"] = count(limited, p.name);
    out["shadow_denied"] = count(shadow, p.name);
    if (p.scope == Scope::Global) out["redis_errors"] = count(redis, p.name);
    policies.push_back(std::move(out));
  }
  // Policies that routes define count under their names too; they are listed by name.
  nlohmann::json by_name = nlohmann::json::object();
  for (const auto& [name, n] : limited) by_name[name]["denied"] = n;
  for (const auto& [name, n] : shadow) by_name[name]["shadow_denied"] = n;
  return admin::jsonResponse(
      200, {{"headers", set_->config().headers}, {"policies", policies}, {"denials", by_name}});
}

void registerRateLimitFilter(FilterRegistry& registry) {
  FilterRegistration r;
  r.build = buildRateLimitFilter;
  r.admin = {{"GET", "", false}};
  registry.add("rate_limit", std::move(r));
}

}  // namespace switchyard::filters::rate_limit
