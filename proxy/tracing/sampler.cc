#include "proxy/tracing/sampler.h"

#include <algorithm>
#include <cmath>

namespace switchyard::tracing {
namespace {

constexpr uint64_t Scale = uint64_t{1} << 56;

}  // namespace

Sampler::Sampler(double ratio)
    : ratio_(std::isnan(ratio) ? 0.0 : std::clamp(ratio, 0.0, 1.0)),
      threshold_(static_cast<uint64_t>(std::ldexp(ratio_, 56))) {}

bool Sampler::sampledByRatio(const TraceId& trace_id) const {
  if (threshold_ >= Scale) return true;
  uint64_t value = 0;
  for (size_t i = trace_id.size() - 7; i < trace_id.size(); ++i) value = value << 8 | trace_id[i];
  return value < threshold_;
}

}  // namespace switchyard::tracing
