// libFuzzer target for the header-field parsers the filters and the tracer use on what clients
// and upstreams send: Cache-Control (request and response), Vary, Age/Expires/Date, Retry-After,
// traceparent and tracestate. The first byte picks the parser, the rest is the field value. Run
// by scripts/fuzz.sh.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "filters/cache/cache_control.h"
#include "filters/cache/freshness.h"
#include "filters/cache/key.h"
#include "filters/retry/retry_policy.h"
#include "proxy/common/http_date.h"
#include "proxy/http/headers.h"
#include "proxy/tracing/trace_context.h"

using namespace switchyard;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t which = data[0];
  const std::string_view value(reinterpret_cast<const char*>(data + 1), size - 1);
  const common::SystemTime now{std::chrono::seconds(1'800'000'000)};
  switch (which % 9) {
    case 0:
      (void)filters::cache::parseResponseCacheControl(value);
      break;
    case 1:
      (void)filters::cache::parseRequestCacheControl(value);
      break;
    case 2: {
      http::HeaderMap h;
      h.add("vary", value);
      h.add("vary", value.substr(value.size() / 2));
      (void)filters::cache::parseVary(h);
      break;
    }
    case 3: {
      http::HeaderMap h;
      h.add("age", value);
      h.add("expires", value);
      h.add("date", value);
      (void)filters::cache::parseAge(h);
      (void)filters::cache::parseExpires(h, now);
      (void)filters::cache::parseDateField(h, "date", now);
      break;
    }
    case 4:
      (void)filters::retry::parseRetryAfter(value, now);
      break;
    case 5:
      (void)common::parseHttpDate(value);
      (void)common::parseImfFixdate(value);
      break;
    case 6:
      if (auto tp = tracing::parseTraceparent(value)) {
        // A parent that parses is never all zeros (W3C trace context, section 3.2.2.3).
        if (tracing::isZero(tp->trace_id) || tracing::isZero(tp->parent_id)) __builtin_trap();
      }
      break;
    case 7:
      (void)tracing::parseTracestate(value);
      break;
    case 8:
      (void)filters::cache::parseDeltaSeconds(value);
      break;
  }
  return 0;
}
