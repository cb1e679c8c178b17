#include "filters/cache/cache_status.h"

#include <charconv>
#include <cstring>

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

// Every response the cache handles formats one: the fixed parts go into a buffer on the stack,
// appended to `out` at once.
void appendStatus(std::string& out, const CacheStatus& s) {
  char buf[128];
  char* p = buf;
  const auto put = [&p](std::string_view v) {
    std::memcpy(p, v.data(), v.size());
    p += v.size();
  };
  put("Switchyard");
  if (s.hit) put("; hit");
  if (s.fwd != Forward::None) {
    put("; fwd=");
    put(forwardName(s.fwd));  // at most 9 bytes
  }
  if (s.fwd_status) {
    put("; fwd-status=");
    p = std::to_chars(p, p + 12, *s.fwd_status).ptr;
  }
  if (s.ttl) {
    put("; ttl=");
    p = std::to_chars(p, p + 21, *s.ttl).ptr;
  }
  if (s.stored) put("; stored");
  if (s.collapsed) put("; collapsed");
  out.append(buf, static_cast<size_t>(p - buf));  // at most 117 bytes
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
