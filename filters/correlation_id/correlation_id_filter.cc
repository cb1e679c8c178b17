#include "filters/correlation_id/correlation_id_filter.h"

#include <algorithm>

#include "proxy/common/uuid.h"

namespace switchyard::filters::correlation_id {
namespace {

bool isIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

std::string_view trimBlanks(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

}  // namespace

bool isWellFormedId(std::string_view id, size_t max_length) {
  return !id.empty() && id.size() <= max_length && std::ranges::all_of(id, isIdChar);
}

std::string_view CorrelationIdFilter::findIncoming(const http::HeaderMap& headers) const {
  auto firstValid = [&](const std::string& name) -> std::string_view {
    for (const auto& entry : headers.entries()) {
      if (entry.name != name) continue;
      std::string_view value = trimBlanks(entry.value);
      if (isWellFormedId(value, config_->max_length)) return value;
    }
    return {};
  };
  std::string_view id = firstValid(config_->header);
  for (auto it = config_->accept.begin(); id.empty() && it != config_->accept.end(); ++it) {
    id = firstValid(*it);
  }
  return id;
}

bool CorrelationIdFilter::resolveId(const http::HeaderMap& headers) {
  std::string& id = callbacks_->streamInfo().correlation_id;
  if (std::string_view incoming = findIncoming(headers); !incoming.empty()) {
    id.assign(incoming);
  } else if (config_->generate) {
    common::uuidV4(callbacks_->random(), id);
  } else {
    id.clear();
  }
  return !id.empty();
}

http::FilterHeadersStatus CorrelationIdFilter::decodeHeaders(http::RequestHeaders& request,
                                                             bool /*end_stream*/) {
  if (resolveId(request.headers)) {
    request.headers.set(config_->header, callbacks_->streamInfo().correlation_id);
  } else {
    request.headers.remove(config_->header);
  }
  return http::FilterHeadersStatus::Continue;
}

http::FilterHeadersStatus CorrelationIdFilter::encodeHeaders(http::ResponseHeaders& response,
                                                             bool /*end_stream*/) {
  const std::string& id = callbacks_->streamInfo().correlation_id;
  if (config_->echo && !id.empty()) response.headers.set(config_->header, id);
  return http::FilterHeadersStatus::Continue;
}

void CorrelationIdFilter::onLocalReply(http::LocalReply& reply) {
  if (callbacks_ == nullptr) return;
  const std::string& id = callbacks_->streamInfo().correlation_id;
  if (id.empty() && !resolveId(callbacks_->requestHeaders().headers)) return;
  if (config_->echo) reply.headers.set(config_->header, id);
}

http::StreamFilterPtr CorrelationIdFilterFactory::create(WorkerContext& /*ctx*/,
                                                         WorkerLocal* /*local*/) const {
  return std::make_unique<CorrelationIdFilter>(*config_);
}

nlohmann::json CorrelationIdFilterFactory::toJson() const {
  return {{"header", config_->header},
          {"accept", config_->accept},
          {"generate", config_->generate},
          {"echo", config_->echo},
          {"max_length", config_->max_length}};
}

FilterFactoryPtr buildCorrelationIdFilter(const YAML::Node& node, BuildContext& ctx) {
  return std::make_shared<const CorrelationIdFilterFactory>(
      parseCorrelationIdConfig(node, ctx.path));
}

void registerCorrelationIdFilter(FilterRegistry& registry) {
  registry.add("correlation_id", buildCorrelationIdFilter);
}

}  // namespace switchyard::filters::correlation_id
