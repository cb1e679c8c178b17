#include "proxy/tracing/trace_context.h"

#include <algorithm>
#include <vector>

namespace switchyard::tracing {
namespace {

constexpr char HexDigits[] = "0123456789abcdef";

// Value of a lower-case hex digit, or -1.
int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

template <size_t N>
std::string bytesToHex(const std::array<uint8_t, N>& bytes) {
  std::string out(2 * N, '0');
  for (size_t i = 0; i < N; ++i) {
    out[2 * i] = HexDigits[bytes[i] >> 4];
    out[2 * i + 1] = HexDigits[bytes[i] & 0xf];
  }
  return out;
}

template <size_t N>
bool hexToBytes(std::string_view text, std::array<uint8_t, N>& out) {
  if (text.size() != 2 * N) return false;
  std::array<uint8_t, N> bytes{};
  for (size_t i = 0; i < N; ++i) {
    const int hi = hexValue(text[2 * i]);
    const int lo = hexValue(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  out = bytes;
  return true;
}

// Big-endian, so the hex form reads as the number's digits.
void storeBigEndian(uint64_t v, uint8_t* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool isLcAlpha(char c) { return c >= 'a' && c <= 'z'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isKeyChar(char c) {
  return isLcAlpha(c) || isDigit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}

// simple-key = lcalpha 0*255(keychar)
// multi-tenant-key = tenant-id "@" system-id
//   tenant-id = (lcalpha / DIGIT) 0*240(keychar); system-id = lcalpha 0*13(keychar)
bool isValidKey(std::string_view key) {
  const size_t at = key.find('@');
  if (at == std::string_view::npos) {
    return !key.empty() && key.size() <= 256 && isLcAlpha(key.front()) &&
           std::all_of(key.begin(), key.end(), isKeyChar);
  }
  const std::string_view tenant = key.substr(0, at);
  const std::string_view system = key.substr(at + 1);
  return !tenant.empty() && tenant.size() <= 241 &&
         (isLcAlpha(tenant.front()) || isDigit(tenant.front())) &&
         std::all_of(tenant.begin(), tenant.end(), isKeyChar) && !system.empty() &&
         system.size() <= 14 && isLcAlpha(system.front()) &&
         std::all_of(system.begin(), system.end(), isKeyChar);
}

// value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E
bool isValidValue(std::string_view value) {
  if (value.empty() || value.size() > 256 || value.back() == ' ') return false;
  return std::all_of(value.begin(), value.end(),
                     [](char c) { return c >= 0x20 && c <= 0x7e && c != ',' && c != '='; });
}

}  // namespace

bool isZero(const TraceId& id) {
  return std::all_of(id.begin(), id.end(), [](uint8_t b) { return b == 0; });
}
bool isZero(const SpanId& id) {
  return std::all_of(id.begin(), id.end(), [](uint8_t b) { return b == 0; });
}

std::string toHex(const TraceId& id) { return bytesToHex(id); }
std::string toHex(const SpanId& id) { return bytesToHex(id); }
bool parseHex(std::string_view text, TraceId& out) { return hexToBytes(text, out); }
bool parseHex(std::string_view text, SpanId& out) { return hexToBytes(text, out); }

TraceId generateTraceId(common::Random& random) {
  TraceId id{};
  // Two zero draws in a row are astronomically unlikely but possible with a seeded generator;
  // looping keeps the "never zero" promise without biasing any other value.
  while (isZero(id)) {
    storeBigEndian(random.next(), id.data());
    storeBigEndian(random.next(), id.data() + 8);
  }
  return id;
}

SpanId generateSpanId(common::Random& random) {
  SpanId id{};
  while (isZero(id)) storeBigEndian(random.next(), id.data());
  return id;
}

std::optional<TraceParent> parseTraceparent(std::string_view value) {
  value = trimOws(value);
  // vv-tttttttttttttttttttttttttttttttt-pppppppppppppppp-ff
  // 0  3                                36               53
  constexpr size_t Length = 55;
  if (value.size() < Length) return std::nullopt;
  TraceParent out;
  std::array<uint8_t, 1> byte{};
  if (!hexToBytes(value.substr(0, 2), byte)) return std::nullopt;
  out.version = byte[0];
  if (out.version == 0xff) return std::nullopt;
  if (out.version == 0x00 && value.size() != Length) return std::nullopt;
  if (value.size() > Length && value[Length] != '-') return std::nullopt;
  if (value[2] != '-' || value[35] != '-' || value[52] != '-') return std::nullopt;
  if (!hexToBytes(value.substr(3, 32), out.trace_id) || isZero(out.trace_id)) return std::nullopt;
  if (!hexToBytes(value.substr(36, 16), out.parent_id) || isZero(out.parent_id)) {
    return std::nullopt;
  }
  if (!hexToBytes(value.substr(53, 2), byte)) return std::nullopt;
  out.flags = byte[0];
  return out;
}

std::string formatTraceparent(const TraceId& trace_id, const SpanId& span_id, uint8_t flags) {
  std::string out;
  out.reserve(55);
  out += "00-";
  out += toHex(trace_id);
  out += '-';
  out += toHex(span_id);
  out += '-';
  out += HexDigits[flags >> 4];
  out += HexDigits[flags & 0xf];
  return out;
}

std::optional<std::string> parseTracestate(std::string_view value) {
  if (value.size() > MaxTracestateLength) return std::nullopt;
  std::vector<std::string_view> keys;
  std::string out;
  out.reserve(value.size());
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    if (comma == std::string_view::npos) comma = value.size();
    const std::string_view member = trimOws(value.substr(pos, comma - pos));
    pos = comma + 1;
    if (member.empty()) continue;
    const size_t eq = member.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string_view key = member.substr(0, eq);
    if (!isValidKey(key) || !isValidValue(member.substr(eq + 1))) return std::nullopt;
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) return std::nullopt;
    if (keys.size() == MaxTracestateMembers) return std::nullopt;
    keys.push_back(key);
    if (!out.empty()) out += ',';
    out += member;
  }
  return out;
}

}  // namespace switchyard::tracing
