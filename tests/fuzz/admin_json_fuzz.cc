// libFuzzer target for the admin API's JSON bodies: POST /routes/weights against a configuration
// with versions and splits. Any body gets 200, 400 or 404 with a reason, and an accepted one
// leaves weights the split can use. Run by scripts/fuzz.sh.

#include <prometheus/registry.h>

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "config/loader.h"
#include "filters/registry.h"
#include "proxy/common/time.h"
#include "proxy/router/weights.h"
#include "proxy/server/admin_views.h"

namespace {

const char* const Yaml = R"(listeners:
  - {name: public, address: 127.0.0.1:8080}
clusters:
  - {name: legacy, endpoints: [127.0.0.1:9001]}
  - {name: modern, endpoints: [127.0.0.1:9002]}
routes:
  - name: api
    match: {prefix: /api/}
    versions:
      default: v2
      v1: {cluster: legacy}
      v2: {split: [{cluster: legacy, weight: 10}, {cluster: modern, weight: 90}]}
  - name: other
    match: {prefix: /}
    split: [{cluster: legacy, weight: 1}, {cluster: modern, weight: 1}]
)";

struct Context {
  Context() {
    switchyard::filters::registerBuiltinFilters(filters);
    config = switchyard::config::loadConfigString(Yaml, "fuzz.yaml", {filters, metrics, time});
  }
  switchyard::filters::FilterRegistry filters;
  prometheus::Registry metrics;
  switchyard::common::RealTimeSource time;
  switchyard::config::ConfigConstSharedPtr config;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Context* context = new Context();
  const nlohmann::json body = nlohmann::json::parse(
      std::string_view(reinterpret_cast<const char*>(data), size), nullptr, false);
  if (body.is_discarded()) return 0;  // the handler answers 400 before it gets here
  switchyard::router::WeightOverrides overrides;
  const switchyard::server::AdminResult r =
      switchyard::server::setWeightsRequest(body, *context->config, overrides);
  if (r.status != 200 && r.status != 400 && r.status != 404) __builtin_trap();
  if (r.status != 200 && !r.body.contains("error")) __builtin_trap();
  return 0;
}
