#pragma once

#include <atomic>
#include <cstdarg>

namespace switchyard::common {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };

// Process-wide log threshold. Logging is for operators (startup, reloads, failures), never per
// request on the success path; a line is one write(2) to stderr so lines from threads do not mix.
LogLevel logLevel();
void setLogLevel(LogLevel level);
bool parseLogLevel(const char* name, LogLevel& out);

void logLine(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace switchyard::common

#define SY_LOG(level, ...)                                                               \
  do {                                                                                   \
    if (::switchyard::common::LogLevel::level >= ::switchyard::common::logLevel())       \
      ::switchyard::common::logLine(::switchyard::common::LogLevel::level, __VA_ARGS__); \
  } while (0)
