#include "filters/cache/cache_filter.h"
#include "filters/circuit_breaker/circuit_breaker_filter.h"
#include "filters/compression/compression_filter.h"
#include "filters/correlation_id/correlation_id_filter.h"
#include "filters/deprecation/deprecation_filter.h"
#include "filters/jwt_authn/jwt_authn_filter.h"
#include "filters/rate_limit/rate_limit_filter.h"
#include "filters/registry.h"
#include "filters/retry/retry_filter.h"

namespace switchyard::filters {

void registerBuiltinFilters(FilterRegistry& registry) {
  correlation_id::registerCorrelationIdFilter(registry);
  deprecation::registerDeprecationFilter(registry);
  retry::registerRetryFilter(registry);
  circuit_breaker::registerCircuitBreakerFilter(registry);
  rate_limit::registerRateLimitFilter(registry);
  cache::registerCacheFilter(registry);
  compression::registerCompressionFilter(registry);
  jwt_authn::registerJwtAuthnFilter(registry);
}

}  // namespace switchyard::filters
