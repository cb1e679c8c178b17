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

// Writes ours at `p` (room for CacheStatusMaxBytes) and returns its end.
char* putStatus(char* p, const CacheStatus& s) {
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
  // At most 117 bytes so far.
  if (!s.detail.empty()) {
    put("; detail=");
    put(s.detail.substr(0, 32));
  }
  return p;
}

void appendStatus(std::string& out, const CacheStatus& s) {
  char buf[CacheStatusMaxBytes];
  out.append(buf, static_cast<size_t>(putStatus(buf, s) - buf));
}

}  // namespace

std::string_view formatCacheStatus(const CacheStatus& s, char (&buf)[CacheStatusMaxBytes]) {
  return {buf, static_cast<size_t>(putStatus(buf, s) - buf)};
}

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
