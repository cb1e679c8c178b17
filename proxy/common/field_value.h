#pragma once

#include <cstdint>
#include <string>
#include <variant>

namespace switchyard::common {

// One value a component reports about a request, for the access-log line (a JSON value) and the
// server span (an attribute): a string, an integer or a boolean.
using FieldValue = std::variant<std::string, int64_t, bool>;

}  // namespace switchyard::common
