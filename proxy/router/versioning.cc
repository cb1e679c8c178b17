#include "proxy/router/versioning.h"

namespace switchyard::router {
namespace {

// Digits (at most 9, so the number fits) to their canonical decimal form without leading zeros.
bool canonicalNumber(std::string_view digits, std::string& out) {
  if (digits.empty() || digits.size() > 9) return false;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
  }
  size_t i = 0;
  while (i + 1 < digits.size() && digits[i] == '0') ++i;
  // A byte at a time: GCC 12 at -O3 reports a false -Wrestrict overlap for assign().append().
  out.clear();
  out.push_back('v');
  for (char c : digits.substr(i)) out.push_back(c);
  return true;
}

}  // namespace

bool normalizeVersion(std::string_view value, std::string& out) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (!value.empty() && (value.front() == 'v' || value.front() == 'V')) value.remove_prefix(1);
  return canonicalNumber(value, out);
}

std::string versionFromPath(std::string_view path) {
  std::string out;
  size_t pos = 0;
  while (pos < path.size()) {
    const size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) break;
    const size_t next = path.find('/', slash + 1);
    if (next == std::string_view::npos) break;  // the last segment is not followed by '/'
    const std::string_view segment = path.substr(slash + 1, next - slash - 1);
    if (segment.size() >= 2 && segment[0] == 'v' && canonicalNumber(segment.substr(1), out)) {
      return out;
    }
    pos = next;
  }
  return {};
}

}  // namespace switchyard::router
