// libFuzzer target for the configuration loader: any text, from YAML parsing through validation
// of every block and filter, either loads or is refused with ConfigErrors. Anything else (a crash,
// a sanitizer report, another exception) is a finding. Run by scripts/fuzz.sh.

#include <prometheus/registry.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config_error.h"
#include "config/loader.h"
#include "filters/registry.h"
#include "proxy/common/time.h"

namespace {

struct Context {
  Context() { switchyard::filters::registerBuiltinFilters(filters); }
  switchyard::filters::FilterRegistry filters;
  prometheus::Registry metrics;
  switchyard::common::RealTimeSource time;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Context* context = new Context();
  const switchyard::config::LoadContext ctx{context->filters, context->metrics, context->time};
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  try {
    switchyard::config::loadConfigString(yaml, "fuzz.yaml", ctx);
  } catch (const switchyard::config::ConfigErrors&) {
    // Refused with its reasons: the expected outcome for most inputs.
  }
  return 0;
}
