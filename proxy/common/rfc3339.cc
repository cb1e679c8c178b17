#include "proxy/common/rfc3339.h"

#include <cstdio>
#include <ctime>

namespace switchyard::common {

std::string formatRfc3339Millis(SystemTime t) {
  using std::chrono::milliseconds;
  // floor, not duration_cast: a time before 1970 must not round towards the epoch.
  const int64_t ms = std::chrono::floor<milliseconds>(t.time_since_epoch()).count();
  int64_t secs = ms / 1000;
  int64_t frac = ms % 1000;
  if (frac < 0) {
    frac += 1000;
    secs -= 1;
  }
  const time_t tt = static_cast<time_t>(secs);
  tm parts{};
  gmtime_r(&tt, &parts);
  char buf[96];
  const int n = std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                              parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour,
                              parts.tm_min, parts.tm_sec, static_cast<int>(frac));
  return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

}  // namespace switchyard::common
