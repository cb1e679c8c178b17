#pragma once

// A fast keyed hash for hash tables whose keys come from clients (rate-limit keys, cache keys):
// with a seed that is random per process, a client cannot compute keys that all land in one
// bucket the way it can against an unkeyed std::hash. Eight bytes per multiply, overlapping
// loads for the tail, a final avalanche. Not a MAC: use it for bucket placement only.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace switchyard::common {

namespace hash_detail {
inline uint64_t load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint64_t load32(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint64_t mulFold(uint64_t a, uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}
constexpr uint64_t P0 = 0xa0761d6478bd642fULL;
constexpr uint64_t P1 = 0xe7037ed1a0b428dbULL;
}  // namespace hash_detail

inline uint64_t seededHash(std::string_view key, uint64_t seed) {
  using namespace hash_detail;
  const auto* p = reinterpret_cast<const unsigned char*>(key.data());
  size_t n = key.size();
  uint64_t h = seed ^ P0;
  while (n > 16) {
    h = mulFold(load64(p) ^ P1, load64(p + 8) ^ h);
    p += 16;
    n -= 16;
  }
  uint64_t a = 0;
  uint64_t b = 0;
  if (n >= 8) {
    a = load64(p);
    b = load64(p + n - 8);
  } else if (n >= 4) {
    a = load32(p);
    b = load32(p + n - 4);
  } else if (n > 0) {
    a = (static_cast<uint64_t>(p[0]) << 16) | (static_cast<uint64_t>(p[n / 2]) << 8) | p[n - 1];
  }
  return mulFold(P1 ^ key.size(), mulFold(a ^ P1, b ^ h));
}

// For hash tables keyed by std::string with client-chosen keys, e.g.
//   std::unordered_map<std::string, V, SeededHash, HashedKeyEqual> map(0, SeededHash(seed));
//   map.find(HashedKey{hash, key});  // a key hashed once, for the shard and the map
struct HashedKey {
  size_t hash;
  std::string_view key;
};
struct SeededHash {
  using is_transparent = void;
  SeededHash() noexcept {}
  explicit SeededHash(uint64_t seed) noexcept : seed(seed) {}
  uint64_t seed = 0;
  size_t operator()(std::string_view key) const noexcept { return seededHash(key, seed); }
  // Not noexcept on purpose: a std::unordered_map with std::string keys then keeps each key's
  // hash, so a lookup compares hashes before keys and a rehash never hashes a key again.
  size_t operator()(const std::string& key) const { return seededHash(key, seed); }
  size_t operator()(const HashedKey& key) const noexcept { return key.hash; }
};
struct HashedKeyEqual {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
  bool operator()(const HashedKey& a, std::string_view b) const noexcept { return a.key == b; }
  bool operator()(std::string_view a, const HashedKey& b) const noexcept { return a == b.key; }
};

}  // namespace switchyard::common
