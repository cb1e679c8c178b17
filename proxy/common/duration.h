#pragma once

#include <chrono>
#include <string>

namespace switchyard::common {

// A duration as the configuration is written and dumped: "0s", "250ms", "30s", "1m30s", "2h".
// Whole seconds are split into hours, minutes and seconds; anything with a millisecond part is
// written in milliseconds. The loader reads every form back to the same value.
std::string formatDuration(std::chrono::milliseconds d);

}  // namespace switchyard::common
