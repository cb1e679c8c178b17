#include "proxy/common/duration.h"

namespace switchyard::common {

std::string formatDuration(std::chrono::milliseconds d) {
  const int64_t ms = d.count();
  if (ms == 0) return "0s";
  if (ms < 0 || ms % 1000 != 0) return std::to_string(ms) + "ms";
  const int64_t s = ms / 1000;
  std::string out;
  if (s >= 3600) out += std::to_string(s / 3600) + "h";
  if (s % 3600 >= 60) out += std::to_string(s % 3600 / 60) + "m";
  if (s % 60 != 0) out += std::to_string(s % 60) + "s";
  return out;
}

}  // namespace switchyard::common
