#pragma once

#include "proxy/common/logging.h"

namespace switchyard::test {

// Raises the log level to errors for its lifetime: state changes the code logs (breaker
// transitions, rollbacks) would otherwise fill the test output.
class QuietLogs {
 public:
  QuietLogs() : saved_(common::logLevel()) { common::setLogLevel(common::LogLevel::Error); }
  ~QuietLogs() { common::setLogLevel(saved_); }
  QuietLogs(const QuietLogs&) = delete;
  QuietLogs& operator=(const QuietLogs&) = delete;

 private:
  common::LogLevel saved_;
};

}  // namespace switchyard::test
