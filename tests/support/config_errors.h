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

}  // namespace switchyard::test
