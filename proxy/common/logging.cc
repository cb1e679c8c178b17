#include "proxy/common/logging.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>

namespace switchyard::common {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::Info)};

const char* levelName(LogLevel level) {
  switch (level) {
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Error:
      return "error";
  }
  return "?";
}

}  // namespace

LogLevel logLevel() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

void setLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool parseLogLevel(const char* name, LogLevel& out) {
  for (auto l : {LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error}) {
    if (strcmp(name, levelName(l)) == 0) {
      out = l;
      return true;
    }
  }
  return false;
}

void logLine(LogLevel level, const char* fmt, ...) {
  char buf[2048];
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  int n = snprintf(buf, sizeof(buf),
                   "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s switchyard: ", t.tm_year + 1900,
                   t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000000,
                   levelName(level));
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
  va_end(ap);
  size_t len = n + (m < 0 ? 0 : std::min<size_t>(m, sizeof(buf) - n - 2));
  buf[len++] = '\n';
  ssize_t ignored = write(STDERR_FILENO, buf, len);
  (void)ignored;
}

}  // namespace switchyard::common
