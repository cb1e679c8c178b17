#include "proxy/router/sticky.h"

namespace switchyard::router {

uint64_t stickyHash(std::string_view key) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

std::vector<uint32_t> bucketBounds(const std::vector<uint32_t>& weights) {
  uint64_t total = 0;
  for (uint32_t w : weights) total += w;
  std::vector<uint32_t> bounds;
  bounds.reserve(weights.size());
  uint64_t sum = 0;
  for (uint32_t w : weights) {
    sum += w;
    bounds.push_back(total == 0 ? StickyBuckets
                                : static_cast<uint32_t>(sum * StickyBuckets / total));
  }
  if (!bounds.empty()) bounds.back() = StickyBuckets;
  return bounds;
}

}  // namespace switchyard::router
