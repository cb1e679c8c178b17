#include "filters/rate_limit/headers.h"

#include <chrono>

#include "filters/rate_limit/config.h"

namespace switchyard::filters::rate_limit {

std::string policyItem(const PolicyConfig& policy) {
  // Policy names are checked at load to need no escaping inside a String.
  const int64_t window_ms = policy.window.count();
  const int64_t seconds = window_ms <= 1000 ? 1 : (window_ms + 999) / 1000;
  std::string out;
  out.reserve(policy.name.size() + 32);
  out.append("\"").append(policy.name).append("\";q=");
  out.append(std::to_string(policy.limit)).append(";w=").append(std::to_string(seconds));
  return out;
}

void appendItem(std::string& out, std::string_view item) {
  if (!out.empty()) out.append(", ");
  out.append(item);
}

void appendStateItem(std::string& out, std::string_view name, int64_t remaining, int64_t seconds) {
  if (!out.empty()) out.append(", ");
  out.append("\"").append(name).append("\";r=").append(std::to_string(remaining));
  out.append(";t=").append(std::to_string(seconds));
}

}  // namespace switchyard::filters::rate_limit
