#include "filters/correlation_id/correlation_id_filter.h"
#include "filters/deprecation/deprecation_filter.h"
#include "filters/registry.h"

namespace switchyard::filters {

void registerBuiltinFilters(FilterRegistry& registry) {
  correlation_id::registerCorrelationIdFilter(registry);
  deprecation::registerDeprecationFilter(registry);
}

}  // namespace switchyard::filters
