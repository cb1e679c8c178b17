#pragma once

// RFC 9110 tokens (section 5.6.2): what a field name, a method or a Cache-Control directive name
// may be made of.

#include <string_view>

namespace switchyard::common {

constexpr bool isTchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// One or more tchars: a valid HTTP field name.
constexpr bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!isTchar(c)) return false;
  }
  return true;
}

}  // namespace switchyard::common
