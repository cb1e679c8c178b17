#include "proxy/common/uuid.h"

#include <cstdint>
#include <cstring>

namespace switchyard::common {
namespace {

// The 16 lower-case hex digits of `v`, most significant first, without a table or a loop: each
// nibble is spread into a byte of its own, then turned into '0'..'9' or 'a'..'f' arithmetically.
void hex16(uint64_t v, char* out) {
  for (int half = 0; half < 2; ++half) {
    uint64_t x = half == 0 ? v >> 32 : v & 0xffffffffULL;
    x = ((x & 0xffff0000ULL) << 16) | (x & 0xffffULL);
    x = ((x & 0x0000ff000000ff00ULL) << 8) | (x & 0x000000ff000000ffULL);
    x = ((x & 0x00f000f000f000f0ULL) << 4) | (x & 0x000f000f000f000fULL);
    const uint64_t letters = ((x + 0x0606060606060606ULL) >> 4) & 0x0101010101010101ULL;
    x += 0x3030303030303030ULL + letters * ('a' - '0' - 10);
    x = __builtin_bswap64(x);  // the most significant digit first in memory
    memcpy(out + 8 * half, &x, 8);
  }
}

}  // namespace

void uuidV4(Random& random, std::string& out) {
  // hi holds bytes 0..7 of the UUID (big-endian), lo bytes 8..15.
  uint64_t hi = random.next();
  uint64_t lo = random.next();
  hi = (hi & ~uint64_t{0xf000}) | uint64_t{0x4000};            // version 4 (byte 6)
  lo = (lo & ~(uint64_t{0x3} << 62)) | (uint64_t{0x2} << 62);  // variant 10 (byte 8)

  char h[16];
  char l[16];
  hex16(hi, h);
  hex16(lo, l);
  out.resize(36);
  char* p = out.data();
  memcpy(p, h, 8);
  p[8] = '-';
  memcpy(p + 9, h + 8, 4);
  p[13] = '-';
  memcpy(p + 14, h + 12, 4);
  p[18] = '-';
  memcpy(p + 19, l, 4);
  p[23] = '-';
  memcpy(p + 24, l + 4, 12);
}

std::string uuidV4(Random& random) {
  std::string out;
  uuidV4(random, out);
  return out;
}

}  // namespace switchyard::common
