#pragma once

#include <cstdint>

#include "proxy/tracing/trace_context.h"

namespace switchyard::tracing {

// Decides whether a trace is recorded. Parent-based: a request that arrives with a valid
// traceparent follows its caller's decision (sampled flag), so a trace is either whole or absent.
// A trace that starts here is sampled with probability `ratio`, decided from the trace id alone:
// every sidecar that sees the same trace id with the same ratio reaches the same answer, and no
// random draw is needed. Immutable; shared by all workers.
class Sampler {
 public:
  // `ratio` in [0, 1]; values outside are clamped.
  explicit Sampler(double ratio);

  // `parent` is the request's parsed traceparent, or nullptr when it had none (or an invalid one).
  bool shouldSample(const TraceParent* parent, const TraceId& trace_id) const {
    return parent != nullptr ? parent->sampled() : sampledByRatio(trace_id);
  }
  // True if the low 56 bits of the trace id (the bits W3C Trace Context level 2 asks to be
  // random), read as a big-endian number, fall below ratio * 2^56.
  bool sampledByRatio(const TraceId& trace_id) const;

  double ratio() const { return ratio_; }

 private:
  double ratio_;
  uint64_t threshold_;  // of 2^56; 2^56 samples everything
};

}  // namespace switchyard::tracing
