#include "proxy/common/time.h"

namespace switchyard::common {

MonotonicTime RealTimeSource::monotonicNow() const { return std::chrono::steady_clock::now(); }

SystemTime RealTimeSource::systemNow() const { return std::chrono::system_clock::now(); }

}  // namespace switchyard::common
