#pragma once

// For the tests of configuration parsers: the ConfigError a parse throws.

#include <gtest/gtest.h>

#include <string>

#include "config/config_error.h"

namespace switchyard::test {

// Runs `parse`, which must throw config::ConfigError, and returns the error. A parse that throws
// none fails the test (naming `input`) and returns an empty error.
template <class Parse>
config::ConfigError configErrorOf(Parse&& parse, const std::string& input) {
  try {
    parse();
  } catch (const config::ConfigError& e) {
    return e;
  }
  ADD_FAILURE() << "no ConfigError for:\n" << input;
  return config::ConfigError("", "");
}

// Checks that `e` is at `path` on `line` and that its message contains `message_part`.
inline void expectConfigError(const config::ConfigError& e, const std::string& path, int line,
                              const std::string& message_part, const std::string& input) {
  EXPECT_EQ(e.path(), path) << input;
  EXPECT_EQ(e.line(), line) << input;
  EXPECT_NE(std::string(e.what()).find(message_part), std::string::npos) << input << "\n"
                                                                         << e.what();
}

}  // namespace switchyard::test
