// libFuzzer target for the Alertmanager webhook payload (POST /alerts/alertmanager): any body is
// either a payload or an error message. Run by scripts/fuzz.sh.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/rollback/alertmanager.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  switchyard::rollback::AlertmanagerPayload payload;
  std::string error;
  const bool ok = switchyard::rollback::parseAlertmanagerPayload(
      std::string_view(reinterpret_cast<const char*>(data), size), payload, error);
  if (!ok && error.empty()) __builtin_trap();  // a refusal always says why
  return 0;
}
