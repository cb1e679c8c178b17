#pragma once

// The body of the test upstream's /random-bytes/N: byte i is a hash of i (splitmix64 of i / 8),
// so it does not compress, and a reader checks any stretch of it without keeping the rest.

#include <cstddef>
#include <cstdint>

namespace switchyard::test::upstream {

inline char randomBodyByte(uint64_t i) {
  uint64_t x = (i / 8 + 1) * 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  return static_cast<char>(x >> ((i % 8) * 8));
}

inline void fillRandomBody(char* out, uint64_t offset, size_t n) {
  for (size_t k = 0; k < n; ++k) out[k] = randomBodyByte(offset + k);
}

}  // namespace switchyard::test::upstream
