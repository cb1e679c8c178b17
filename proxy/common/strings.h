#pragma once

// Small text helpers shared by configuration errors, admin replies and logs.

#include <string>
#include <string_view>
#include <vector>

namespace switchyard::common {

// `s` in double quotes, as configuration errors and admin replies show names: "\"legacy\"".
std::string quote(std::string_view s);
// The items separated by ", ".
std::string joined(const std::vector<std::string>& items);
// Whether `text` starts with `prefix`, ignoring ASCII case; `prefix` must be lower case.
bool startsWithIgnoreCase(std::string_view text, std::string_view prefix);
// ASCII lower case (HTTP field names).
std::string toLowerAscii(std::string_view s);

}  // namespace switchyard::common
