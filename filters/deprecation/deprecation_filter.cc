#include "filters/deprecation/deprecation_filter.h"

#include <prometheus/registry.h>

#include <algorithm>
#include <chrono>

#include "proxy/common/rfc3339.h"

namespace switchyard::filters::deprecation {
namespace {

// "API version v1 (route api)", or "Route api" for an unversioned route.
std::string subject(const http::StreamInfo& info) {
  if (info.version.empty()) return "Route " + info.route_name;
  return "API version " + info.version + " (route " + info.route_name + ")";
}

}  // namespace

Enforcement enforcementAt(const config::DeprecationPolicy& policy, common::SystemTime now) {
  if (policy.enforce_sunset && policy.sunset && now >= *policy.sunset) {
    return {Enforcement::Kind::Sunset, nullptr};
  }
  for (const config::BrownoutWindow& w : policy.brownouts) {
    if (now >= w.start && now < w.end) return {Enforcement::Kind::Brownout, &w};
  }
  return {};
}

http::LocalReply enforcementReply(const config::DeprecationPolicy& policy,
                                  const Enforcement& enforcement, common::SystemTime now,
                                  const http::StreamInfo& info, const PolicyHeaders& headers,
                                  bool legacy_headers) {
  http::LocalReply reply;
  if (enforcement.kind == Enforcement::Kind::Brownout) {
    const config::BrownoutWindow& w = *enforcement.window;
    reply.status = w.status;
    reply.detail = subject(info) + " is deprecated and in a scheduled brownout until " +
                   common::formatRfc3339(w.end);
    if (!policy.link.empty()) reply.detail += "; migration guide: " + policy.link;
    if (w.status == 503) {
      const auto left = std::chrono::ceil<std::chrono::seconds>(w.end - now).count();
      reply.headers.set("retry-after", std::to_string(std::max<int64_t>(left, 1)));
    }
  } else {
    reply.status = policy.sunset_status;
    reply.detail = subject(info) + " was retired on " + common::formatRfc3339(*policy.sunset);
    const std::string& link = policy.sunset_link.empty() ? policy.link : policy.sunset_link;
    if (!link.empty()) reply.detail += "; see " + link;
  }
  reply.detail += '.';
  reply.title = http::reasonPhrase(reply.status);
  applyPolicyHeaders(headers, legacy_headers, reply.headers);
  return reply;
}

WorkerCache::PolicyEntry& WorkerCache::entry(const config::DeprecationPolicy& policy) {
  for (const auto& e : entries_) {
    if (e->policy == &policy) return *e;
  }
  entries_.push_back(
      std::make_unique<PolicyEntry>(PolicyEntry{&policy, formatPolicyHeaders(policy), {}}));
  return *entries_.back();
}

prometheus::Counter& WorkerCache::counter(PolicyEntry& entry, const http::StreamInfo& info,
                                          const ClientLabels::Label& client,
                                          const ClientLabels& labels,
                                          prometheus::Family<prometheus::Counter>& family) {
  // A policy belongs to one route, or to one version of it: this list is one entry long unless
  // a route-wide policy covers several versions.
  auto it = std::find_if(entry.series.begin(), entry.series.end(), [&](const Series& s) {
    return s.version == info.version && s.route == info.route_name;
  });
  if (it == entry.series.end()) {
    entry.series.push_back({info.route_name, info.version, {}});
    entry.series.back().by_client.resize(labels.capacity(), nullptr);
    it = entry.series.end() - 1;
  }
  prometheus::Counter*& counter = it->by_client[client.id];
  if (counter == nullptr) {
    counter = &family.Add(
        {{"route", it->route}, {"version", it->version}, {"client", std::string(client.name)}});
  }
  return *counter;
}

http::FilterHeadersStatus DeprecationFilter::decodeHeaders(http::RequestHeaders& request,
                                                           bool /*end_stream*/) {
  const http::StreamInfo& info = callbacks_->streamInfo();
  if (info.deprecation == nullptr) return http::FilterHeadersStatus::Continue;
  const config::DeprecationPolicy& policy = *info.deprecation;
  WorkerCache::PolicyEntry& entry = cache_.entry(policy);
  entry_ = &entry;

  const ClientLabels::Label client =
      shared_.clients.classify(request.headers.get(shared_.config.client_header));
  cache_.counter(entry, info, client, shared_.clients, shared_.requests).Increment();

  if (!shared_.config.enforce) return http::FilterHeadersStatus::Continue;
  const common::SystemTime now = time_.systemNow();
  const Enforcement enforcement = enforcementAt(policy, now);
  if (enforcement.kind == Enforcement::Kind::None) return http::FilterHeadersStatus::Continue;
  callbacks_->sendLocalReply(enforcementReply(policy, enforcement, now, info, entry.headers,
                                              shared_.config.legacy_headers));
  return http::FilterHeadersStatus::StopIteration;
}

http::FilterHeadersStatus DeprecationFilter::encodeHeaders(http::ResponseHeaders& response,
                                                           bool /*end_stream*/) {
  if (entry_ == nullptr || callbacks_->streamInfo().local_reply) {
    return http::FilterHeadersStatus::Continue;
  }
  applyPolicyHeaders(entry_->headers, shared_.config.legacy_headers, response.headers);
  return http::FilterHeadersStatus::Continue;
}

WorkerLocalPtr DeprecationFilterFactory::workerLocal(WorkerContext& /*worker*/,
                                                     WorkerLocalPtr /*previous*/) const {
  // The cache knows policies by address: those of an earlier configuration are not these.
  return std::make_shared<WorkerCache>();
}

http::StreamFilterPtr DeprecationFilterFactory::create(WorkerContext& ctx,
                                                       WorkerLocal* local) const {
  if (local == nullptr) {
    auto own = std::make_unique<WorkerCache>();
    WorkerCache& cache = *own;
    return std::make_unique<DeprecationFilter>(*shared_, cache, ctx.time, std::move(own));
  }
  return std::make_unique<DeprecationFilter>(*shared_, *static_cast<WorkerCache*>(local), ctx.time);
}

nlohmann::json DeprecationFilterFactory::toJson() const {
  const DeprecationFilterConfig& c = shared_->config;
  nlohmann::json out = {{"client_header", c.client_header},
                        {"legacy_headers", c.legacy_headers},
                        {"enforce", c.enforce}};
  if (c.clients.empty()) {
    out["max_clients"] = c.max_clients;
  } else {
    out["clients"] = c.clients;
  }
  return out;
}

prometheus::Family<prometheus::Counter>& deprecatedRequestsFamily(prometheus::Registry& registry) {
  return prometheus::BuildCounter()
      .Name("switchyard_deprecated_requests_total")
      .Help("Requests to deprecated routes or API versions, by route, version and client")
      .Register(registry);
}

FilterFactoryPtr buildDeprecationFilter(const YAML::Node& node, BuildContext& ctx) {
  return std::make_shared<const DeprecationFilterFactory>(
      parseDeprecationFilterConfig(node, ctx.path), deprecatedRequestsFamily(ctx.metrics));
}

void registerDeprecationFilter(FilterRegistry& registry) {
  registry.add("deprecation", buildDeprecationFilter);
}

}  // namespace switchyard::filters::deprecation
