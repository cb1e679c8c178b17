#include "proxy/common/uuid.h"

#include <cstdint>

namespace switchyard::common {
namespace {

constexpr char HexDigits[] = "0123456789abcdef";

// Writes the low `nibbles` hex digits of `v`, most significant first; returns the end.
char* writeHex(char* out, uint64_t v, int nibbles) {
  for (int shift = 4 * (nibbles - 1); shift >= 0; shift -= 4) {
    *out++ = HexDigits[(v >> shift) & 0xf];
  }
  return out;
}

}  // namespace

std::string uuidV4(Random& random) {
  // hi holds bytes 0..7 of the UUID (big-endian), lo bytes 8..15.
  uint64_t hi = random.next();
  uint64_t lo = random.next();
  hi = (hi & ~uint64_t{0xf000}) | uint64_t{0x4000};            // version 4 (byte 6)
  lo = (lo & ~(uint64_t{0x3} << 62)) | (uint64_t{0x2} << 62);  // variant 10 (byte 8)

  std::string out(36, '-');
  char* p = out.data();
  p = writeHex(p, hi >> 32, 8);
  ++p;
  p = writeHex(p, (hi >> 16) & 0xffff, 4);
  ++p;
  p = writeHex(p, hi & 0xffff, 4);
  ++p;
  p = writeHex(p, lo >> 48, 4);
  ++p;
  writeHex(p, lo & 0xffffffffffff, 12);
  return out;
}

}  // namespace switchyard::common
