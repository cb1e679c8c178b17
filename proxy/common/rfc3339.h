#pragma once

#include <string>

#include "proxy/common/time.h"

namespace switchyard::common {

// "2026-01-01T12:34:56.789Z": UTC, always three fractional digits (truncated, not rounded, so a
// timestamp never moves into the next second). For logs and JSON status pages.
std::string formatRfc3339Millis(SystemTime t);

}  // namespace switchyard::common
