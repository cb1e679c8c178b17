#include "proxy/event/dispatcher.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "proxy/common/logging.h"
#include "proxy/common/pooled.h"

namespace switchyard::event {
namespace {

// Destructors may defer more deletions; loop until none are left. `scratch` holds each batch
// while it is destroyed; both vectors keep their capacity, so deferring allocates nothing.
void deleteAll(std::vector<std::unique_ptr<DeferredDeletable>>& deferred,
               std::vector<std::unique_ptr<DeferredDeletable>>& scratch) {
  while (!deferred.empty()) {
    scratch.swap(deferred);
    scratch.clear();
  }
}

}  // namespace

// A timer's libevent event, with its deadline. Timers are re-armed lazily: most are pushed back
// or cancelled long before they fire (a keep-alive connection's idle timer, a request's response
// timeout), so enable() and disable() only record the deadline. The event is added only when it
// would otherwise fire too late; when it fires early (the deadline moved on, or the timer was
// disabled) it is re-added for the rest or ignored. A timer thus costs at most one extra wakeup
// per period instead of an event_add and an event_del per use.
//
// Slots outlive their timers: a destroyed timer's slot goes back to the dispatcher, possibly
// still added, and the next timer created takes it over. A request's response timer then finds
// its event already added for a deadline no later than its own and adds nothing.
struct TimerSlot {
  TimerSlot(event_base* base, const common::TimeSource& time) : time(time) {
    if (event_get_struct_event_size() > sizeof(storage)) abort();
    evtimer_assign(ev(), base, &TimerSlot::onFire, this);
  }
  ~TimerSlot() {
    if (armed) evtimer_del(ev());
  }

  void enable(std::chrono::milliseconds after) {
    const common::MonotonicTime now = time.monotonicNow();
    due = now + after;
    enabled = true;
    if (armed && armed_for <= due) return;  // fires in time; onFire re-arms for the rest
    arm(now, after);
  }

  void arm(common::MonotonicTime now, common::Duration after) {
    // Whole milliseconds, rounded up, so the event never fires before the deadline it was
    // added for (a wakeup before it would only re-arm).
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(after).count();
    timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
    evtimer_add(ev(), &tv);
    armed = true;
    armed_for = now + std::chrono::milliseconds(ms);
  }

  static void onFire(int, short, void* arg) noexcept {
    common::CachedClockScope clock;
    auto* self = static_cast<TimerSlot*>(arg);
    self->armed = false;
    if (!self->enabled) return;
    const common::MonotonicTime now = self->time.monotonicNow();
    if (now < self->due) {
      self->arm(now, self->due - now);
      return;
    }
    self->enabled = false;
    self->cb();
  }
  ::event* ev() { return reinterpret_cast<::event*>(storage); }

  // Exactly a struct event (128 bytes with Debian's libevent 2.1): a keep-alive connection holds
  // one slot while it waits, so every byte here counts per idle connection. The constructor
  // checks that the library in use was built with the same size.
  alignas(struct event) unsigned char storage[sizeof(struct event)];
  const common::TimeSource& time;
  std::function<void()> cb;
  common::MonotonicTime due{};
  common::MonotonicTime armed_for{};  // when the added event fires (valid while armed)
  bool enabled = false;
  bool armed = false;
};

class LibeventTimer final : public Timer, public common::ThreadPooled {
 public:
  LibeventTimer(LibeventDispatcher& dispatcher, TimerSlot* slot)
      : dispatcher_(dispatcher), slot_(slot) {}
  ~LibeventTimer() override { dispatcher_.releaseTimerSlot(slot_); }

  void enable(std::chrono::milliseconds after) override { slot_->enable(after); }
  void disable() override { slot_->enabled = false; }
  bool enabled() const override { return slot_->enabled; }

 private:
  LibeventDispatcher& dispatcher_;
  TimerSlot* const slot_;
};

TimerSlot* LibeventDispatcher::acquireTimerSlot(std::function<void()> cb) {
  TimerSlot* slot;
  if (free_timer_slots_.empty()) {
    slot = new TimerSlot(base_.get(), time_);
  } else {
    slot = free_timer_slots_.back();
    free_timer_slots_.pop_back();
  }
  slot->cb = std::move(cb);
  return slot;
}

void LibeventDispatcher::releaseTimerSlot(TimerSlot* slot) {
  slot->enabled = false;
  slot->cb = nullptr;
  if (free_timer_slots_.size() >= kMaxFreeTimerSlots) {
    delete slot;
    return;
  }
  free_timer_slots_.push_back(slot);
}

LibeventDispatcher::LibeventDispatcher(const common::TimeSource& time) : time_(time) {
  EventConfigPtr cfg(event_config_new());
  // Locking is not needed: each base is used by one thread; cross-thread wakeups use eventfd.
  event_config_set_flag(cfg.get(), EVENT_BASE_FLAG_NOLOCK);
  base_.reset(event_base_new_with_config(cfg.get()));
  if (base_ == nullptr) throw std::runtime_error("event_base_new failed");
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("eventfd failed");
  post_event_.reset(
      event_new(base_.get(), wake_fd_, EV_READ | EV_PERSIST, &LibeventDispatcher::onPost, this));
  event_add(post_event_.get(), nullptr);
  deferred_event_.reset(event_new(base_.get(), -1, 0, &LibeventDispatcher::onDeferred, this));
}

LibeventDispatcher::~LibeventDispatcher() {
  clearDeferred();
  for (TimerSlot* slot : free_timer_slots_) delete slot;
  // The wakeup event goes before the descriptor it watches.
  post_event_.reset();
  deferred_event_.reset();
  close(wake_fd_);
}

TimerPtr LibeventDispatcher::createTimer(std::function<void()> cb) {
  return std::make_unique<LibeventTimer>(*this, acquireTimerSlot(std::move(cb)));
}

void LibeventDispatcher::post(std::function<void()> fn) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(post_mutex_);
    wake = posted_.empty();
    posted_.push_back(std::move(fn));
  }
  if (wake) {
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof(one));
    (void)ignored;
  }
}

void LibeventDispatcher::onPost(int fd, short, void* arg) noexcept {
  uint64_t v;
  ssize_t ignored = read(fd, &v, sizeof(v));
  (void)ignored;
  static_cast<LibeventDispatcher*>(arg)->runPosted();
}

void LibeventDispatcher::runPosted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(post_mutex_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

void LibeventDispatcher::deferredDelete(std::unique_ptr<DeferredDeletable> obj) {
  deferred_.push_back(std::move(obj));
  if (!deferred_scheduled_) {
    deferred_scheduled_ = true;
    event_active(deferred_event_.get(), 0, 0);
  }
}

void LibeventDispatcher::onDeferred(int, short, void* arg) noexcept {
  static_cast<LibeventDispatcher*>(arg)->clearDeferred();
}

void LibeventDispatcher::clearDeferred() {
  deleteAll(deferred_, deleting_);
  deferred_scheduled_ = false;
}

void LibeventDispatcher::run() { event_base_loop(base_.get(), 0); }

void LibeventDispatcher::exit() { event_base_loopbreak(base_.get()); }

class SimulatedDispatcher::SimTimer final : public Timer {
 public:
  SimTimer(SimulatedDispatcher& parent, std::function<void()> cb)
      : parent_(parent), cb_(std::move(cb)) {
    parent_.timers_.push_back(this);
  }
  ~SimTimer() override {
    auto& v = parent_.timers_;
    v.erase(std::remove(v.begin(), v.end(), this), v.end());
  }
  void enable(std::chrono::milliseconds after) override {
    deadline_ = parent_.time_.monotonicNow() + after;
    armed_ = true;
    seq_ = ++parent_.timer_seq_;
  }
  void disable() override { armed_ = false; }
  bool enabled() const override { return armed_; }

  SimulatedDispatcher& parent_;
  std::function<void()> cb_;
  common::MonotonicTime deadline_{};
  bool armed_ = false;
  uint64_t seq_ = 0;
};

SimulatedDispatcher::~SimulatedDispatcher() { clearDeferred(); }

void SimulatedDispatcher::clearDeferred() { deleteAll(deferred_, deleting_); }

TimerPtr SimulatedDispatcher::createTimer(std::function<void()> cb) {
  return std::make_unique<SimTimer>(*this, std::move(cb));
}

void SimulatedDispatcher::post(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(post_mutex_);
  posted_.push_back(std::move(fn));
}

void SimulatedDispatcher::deferredDelete(std::unique_ptr<DeferredDeletable> obj) {
  deferred_.push_back(std::move(obj));
}

void SimulatedDispatcher::runPosted() {
  for (;;) {
    std::vector<std::function<void()>> batch;
    {
      std::lock_guard<std::mutex> lock(post_mutex_);
      batch.swap(posted_);
    }
    if (batch.empty()) break;
    for (auto& fn : batch) fn();
  }
  clearDeferred();
}

void SimulatedDispatcher::advance(common::Duration d) {
  const common::MonotonicTime target = time_.monotonicNow() + d;
  for (;;) {
    SimTimer* next = nullptr;
    for (SimTimer* t : timers_) {
      if (!t->armed_ || t->deadline_ > target) continue;
      if (next == nullptr || t->deadline_ < next->deadline_ ||
          (t->deadline_ == next->deadline_ && t->seq_ < next->seq_)) {
        next = t;
      }
    }
    if (next == nullptr) break;
    if (next->deadline_ > time_.monotonicNow())
      time_.advance(next->deadline_ - time_.monotonicNow());
    next->armed_ = false;
    next->cb_();
    clearDeferred();
  }
  if (target > time_.monotonicNow()) time_.advance(target - time_.monotonicNow());
}

size_t SimulatedDispatcher::pendingTimers() const {
  return std::count_if(timers_.begin(), timers_.end(), [](SimTimer* t) { return t->armed_; });
}

}  // namespace switchyard::event
