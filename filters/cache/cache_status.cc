#include "filters/cache/cache_status.h"

namespace switchyard::filters::cache {
namespace {

std::string_view forwardName(Forward f) {
  switch (f) {
    case Forward::None:
      break;
    case Forward::Bypass:
      return "bypass";
    case Forward::Method:
      return "method";
    case Forward::UriMiss:
      return "uri-miss";
    case Forward::VaryMiss:
      return "vary-miss";
    case Forward::Miss:
      return "miss";
    case Forward::Request:
      return "request";
    case Forward::Stale:
      return "stale";
  }
  return "";
}

}  // namespace

std::string formatCacheStatus(const CacheStatus& s) {
  std::string out = "Switchyard";
  if (s.hit) out.append("; hit");
  if (s.fwd != Forward::None) out.append("; fwd=").append(forwardName(s.fwd));
  if (s.fwd_status) out.append("; fwd-status=").append(std::to_string(*s.fwd_status));
  if (s.ttl) out.append("; ttl=").append(std::to_string(*s.ttl));
  if (s.stored) out.append("; stored");
  if (s.collapsed) out.append("; collapsed");
  if (!s.detail.empty()) out.append("; detail=").append(s.detail);
  return out;
}

std::string appendCacheStatus(std::string_view upstream, const CacheStatus& status) {
  std::string out(upstream);
  while (!out.empty() && (out.back() == ' ' || out.back() == '\t' || out.back() == ',')) {
    out.pop_back();
  }
  if (!out.empty()) out.append(", ");
  out.append(formatCacheStatus(status));
  return out;
}

}  // namespace switchyard::filters::cache
