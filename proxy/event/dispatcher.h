#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "proxy/common/time.h"
#include "proxy/event/libevent.h"

namespace switchyard::event {

// A one-shot timer owned by whoever created it. Destroying it cancels it. Only touched on the
// dispatcher's thread.
class Timer {
 public:
  virtual ~Timer() = default;
  virtual void enable(std::chrono::milliseconds after) = 0;
  virtual void disable() = 0;
  virtual bool enabled() const = 0;
};
using TimerPtr = std::unique_ptr<Timer>;

// Objects that may be destroyed from inside their own callbacks are handed to deferredDelete()
// and freed once the current callback has returned.
class DeferredDeletable {
 public:
  virtual ~DeferredDeletable() = default;
};

// The event loop seen by everything that runs on one thread. Every method except post() must be
// called on the dispatcher's own thread; post() may be called from any thread and runs the
// function on the dispatcher's thread, in order.
class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  virtual TimerPtr createTimer(std::function<void()> cb) = 0;
  virtual void post(std::function<void()> fn) = 0;
  virtual void deferredDelete(std::unique_ptr<DeferredDeletable> obj) = 0;
  virtual const common::TimeSource& timeSource() const = 0;
};

struct TimerSlot;

// Dispatcher over a libevent event_base: the production implementation.
class LibeventDispatcher final : public Dispatcher {
 public:
  explicit LibeventDispatcher(const common::TimeSource& time);
  ~LibeventDispatcher() override;
  LibeventDispatcher(const LibeventDispatcher&) = delete;
  LibeventDispatcher& operator=(const LibeventDispatcher&) = delete;

  TimerPtr createTimer(std::function<void()> cb) override;
  void post(std::function<void()> fn) override;
  void deferredDelete(std::unique_ptr<DeferredDeletable> obj) override;
  const common::TimeSource& timeSource() const override { return time_; }

  // Runs until exit() is called (from this thread, or via post() from another).
  void run();
  void exit();
  event_base* base() const { return base_.get(); }

 private:
  friend class LibeventTimer;
  // Timers' libevent events are reused: see TimerSlot in dispatcher.cc.
  TimerSlot* acquireTimerSlot(std::function<void()> cb);
  void releaseTimerSlot(TimerSlot* slot);
  static constexpr size_t kMaxFreeTimerSlots = 4096;

  static void onPost(int fd, short what, void* arg) noexcept;
  static void onDeferred(int fd, short what, void* arg) noexcept;
  void runPosted();
  void clearDeferred();

  const common::TimeSource& time_;
  EventBasePtr base_;  // declared before the events on it: freed after them
  EventPtr post_event_;
  EventPtr deferred_event_;
  int wake_fd_;
  std::mutex post_mutex_;
  std::vector<std::function<void()>> posted_;
  std::vector<std::unique_ptr<DeferredDeletable>> deferred_;
  std::vector<std::unique_ptr<DeferredDeletable>> deleting_;
  bool deferred_scheduled_ = false;
  std::vector<TimerSlot*> free_timer_slots_;
};

// A dispatcher for unit tests: time moves only through advance(), which fires every timer that
// falls due, in deadline order, on the calling thread. post() queues until runPosted().
class SimulatedDispatcher final : public Dispatcher {
 public:
  explicit SimulatedDispatcher(common::SimulatedTimeSource& time) : time_(time) {}
  ~SimulatedDispatcher() override;

  TimerPtr createTimer(std::function<void()> cb) override;
  void post(std::function<void()> fn) override;
  void deferredDelete(std::unique_ptr<DeferredDeletable> obj) override;
  const common::TimeSource& timeSource() const override { return time_; }

  void advance(common::Duration d);
  void runPosted();
  size_t pendingTimers() const;

 private:
  class SimTimer;
  void clearDeferred();
  friend class SimTimer;
  common::SimulatedTimeSource& time_;
  std::vector<SimTimer*> timers_;
  uint64_t timer_seq_ = 0;
  std::mutex post_mutex_;
  std::vector<std::function<void()>> posted_;
  std::vector<std::unique_ptr<DeferredDeletable>> deferred_;
  std::vector<std::unique_ptr<DeferredDeletable>> deleting_;
};

}  // namespace switchyard::event
