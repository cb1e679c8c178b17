#pragma once

// Driving a real event loop in a test that talks to a real server (redis-server): the loop runs
// until `done` says so or `timeout` passes, never longer (a timer wakes it at the deadline).

#include <chrono>
#include <functional>

#include "proxy/event/dispatcher.h"
#include "proxy/event/libevent.h"

namespace switchyard::test {

inline bool runLoopUntil(event::LibeventDispatcher& dispatcher, const std::function<bool()>& done,
                         std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  event::TimerPtr wake = dispatcher.createTimer([] {});
  while (!done()) {
    const auto now = Clock::now();
    if (now >= deadline) return false;
    wake->enable(std::chrono::ceil<std::chrono::milliseconds>(deadline - now));
    event_base_loop(dispatcher.base(), EVLOOP_ONCE);
  }
  return true;
}

}  // namespace switchyard::test
