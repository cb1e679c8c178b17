#include "proxy/common/time.h"

namespace switchyard::common {
namespace {

// The monotonic time read when this thread's current CachedClockScope began.
thread_local MonotonicTime t_cached{};
thread_local bool t_cached_valid = false;

}  // namespace

MonotonicTime RealTimeSource::monotonicNow() const {
  return t_cached_valid ? t_cached : std::chrono::steady_clock::now();
}

SystemTime RealTimeSource::systemNow() const { return std::chrono::system_clock::now(); }

CachedClockScope::CachedClockScope() : owner_(!t_cached_valid) {
  if (!owner_) return;
  t_cached = std::chrono::steady_clock::now();
  t_cached_valid = true;
}

CachedClockScope::~CachedClockScope() {
  if (owner_) t_cached_valid = false;
}

}  // namespace switchyard::common
