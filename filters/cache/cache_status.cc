#include "filters/cache/cache_status.h"

#include <charconv>

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

namespace {

void appendNumber(std::string& out, int64_t v) {
  char buf[24];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

// Every hit formats one: written into one string, without temporaries.
void appendStatus(std::string& out, const CacheStatus& s) {
  out.append("Switchyard");
  if (s.hit) out.append("; hit");
  if (s.fwd != Forward::None) out.append("; fwd=").append(forwardName(s.fwd));
  if (s.fwd_status) {
    out.append("; fwd-status=");
    appendNumber(out, *s.fwd_status);
  }
  if (s.ttl) {
    out.append("; ttl=");
    appendNumber(out, *s.ttl);
  }
  if (s.stored) out.append("; stored");
  if (s.collapsed) out.append("; collapsed");
  if (!s.detail.empty()) out.append("; detail=").append(s.detail);
}

}  // namespace

std::string formatCacheStatus(const CacheStatus& s) {
  std::string out;
  out.reserve(64);
  appendStatus(out, s);
  return out;
}

void appendCacheStatus(std::string& out, std::string_view upstream, const CacheStatus& status) {
  while (!upstream.empty() &&
         (upstream.back() == ' ' || upstream.back() == '\t' || upstream.back() == ',')) {
    upstream.remove_suffix(1);
  }
  out.clear();
  if (!upstream.empty()) out.append(upstream).append(", ");
  appendStatus(out, status);
}

std::string appendCacheStatus(std::string_view upstream, const CacheStatus& status) {
  std::string out;
  out.reserve(upstream.size() + 66);
  appendCacheStatus(out, upstream, status);
  return out;
}

}  // namespace switchyard::filters::cache
