#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace switchyard::router {

// Sticky traffic splitting. Every key (a user id from the configured header, else the client
// address) falls in one of 10,000 buckets, and a split gives each cluster a contiguous range of
// buckets in the order the clusters are listed:
//
//   bucket(key)  = mix(fnv1a64(key)) % 10000
//   fnv1a64      = FNV-1a, 64-bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3) over the
//                  key's bytes
//   mix(x)       = x ^= x >> 30; x *= 0xbf58476d1ce4e5b9; x ^= x >> 27; x *= 0x94d049bb133111eb;
//                  x ^= x >> 31   (the SplitMix64 finalizer, which spreads FNV's low bits)
//   cluster i serves buckets [bound(i-1), bound(i)), bound(i) = floor(10000 * (w0+..+wi) / total)
//
// The function depends on nothing but the key, so every replica and every restart agrees on a
// user's side. With two clusters, raising one cluster's weight only grows its range: users move
// from the other side to it, never back (the canary's "hash(user) % 100 < percent" rule, at a
// finer grain).
constexpr uint32_t StickyBuckets = 10000;

uint64_t stickyHash(std::string_view key);
inline uint32_t stickyBucket(std::string_view key) {
  return static_cast<uint32_t>(stickyHash(key) % StickyBuckets);
}

// The upper bound of each cluster's bucket range for `weights` (at least one positive); the last
// bound is StickyBuckets. A zero weight gets an empty range.
std::vector<uint32_t> bucketBounds(const std::vector<uint32_t>& weights);

// The index of the cluster whose range holds `bucket`.
inline size_t pickByBucket(const std::vector<uint32_t>& bounds, uint32_t bucket) {
  size_t i = 0;
  while (i + 1 < bounds.size() && bucket >= bounds[i]) ++i;
  return i;
}

}  // namespace switchyard::router
