#include "filters/jwt_authn/token_cache.h"

#include <cstring>

namespace switchyard::filters::jwt_authn {

size_t TokenCache::TailHash::operator()(std::string_view s) const noexcept {
  // The last 16 bytes are signature characters (96 bits of it): spread enough for a table of
  // verified tokens, and a lookup does not read the whole token twice (the final comparison
  // reads it once).
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ s.size();
  const size_t n = s.size() < 16 ? s.size() : 16;
  const char* p = s.data() + s.size() - n;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 31;
  }
  for (; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 0x100000001b3ULL;
  return static_cast<size_t>(h ^ (h >> 29));
}

const TokenCache::Entry* TokenCache::find(std::string_view token, common::MonotonicTime now) {
  auto it = map_.find(token);
  if (it == map_.end()) return nullptr;
  if (now >= it->second.expires) {
    map_.erase(it);
    return nullptr;
  }
  return &it->second;
}

void TokenCache::insert(std::string_view token, Entry entry, common::MonotonicTime now) {
  if (capacity_ == 0) return;
  if (map_.size() >= capacity_) {
    if (now - last_sweep_ >= std::chrono::seconds(1)) {
      last_sweep_ = now;
      std::erase_if(map_, [now](const auto& kv) { return now >= kv.second.expires; });
    }
    if (map_.size() >= capacity_) map_.erase(map_.begin());
  }
  map_.insert_or_assign(std::string(token), std::move(entry));
}

void TokenCache::erase(std::string_view token) {
  auto it = map_.find(token);
  if (it != map_.end()) map_.erase(it);
}

}  // namespace switchyard::filters::jwt_authn
