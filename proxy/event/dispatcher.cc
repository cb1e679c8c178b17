#include "proxy/event/dispatcher.h"

#include <event2/event.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "proxy/common/logging.h"

namespace switchyard::event {
namespace {

// The libevent event lives inside the timer (event_assign), so a timer is one allocation.
class LibeventTimer final : public Timer {
 public:
  LibeventTimer(event_base* base, std::function<void()> cb) : cb_(std::move(cb)) {
    if (event_get_struct_event_size() > sizeof(storage_)) abort();
    evtimer_assign(ev(), base, &LibeventTimer::onFire, this);
  }
  ~LibeventTimer() override { evtimer_del(ev()); }

  void enable(std::chrono::milliseconds after) override {
    timeval tv{static_cast<time_t>(after.count() / 1000),
               static_cast<suseconds_t>((after.count() % 1000) * 1000)};
    evtimer_add(ev(), &tv);
  }
  void disable() override { evtimer_del(ev()); }
  bool enabled() const override {
    return evtimer_pending(const_cast<LibeventTimer*>(this)->ev(), nullptr) != 0;
  }

 private:
  static void onFire(int, short, void* arg) noexcept {
    auto* self = static_cast<LibeventTimer*>(arg);
    self->cb_();
  }
  ::event* ev() { return reinterpret_cast<::event*>(storage_); }

  alignas(16) unsigned char storage_[256];
  std::function<void()> cb_;
};

// Destructors may defer more deletions; loop until none are left.
void deleteAll(std::vector<std::unique_ptr<DeferredDeletable>>& deferred) {
  while (!deferred.empty()) {
    std::vector<std::unique_ptr<DeferredDeletable>> batch;
    batch.swap(deferred);
    batch.clear();
  }
}

}  // namespace

LibeventDispatcher::LibeventDispatcher(const common::TimeSource& time) : time_(time) {
  event_config* cfg = event_config_new();
  // Locking is not needed: each base is used by one thread; cross-thread wakeups use eventfd.
  event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
  base_ = event_base_new_with_config(cfg);
  event_config_free(cfg);
  if (base_ == nullptr) throw std::runtime_error("event_base_new failed");
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("eventfd failed");
  post_event_ = event_new(base_, wake_fd_, EV_READ | EV_PERSIST, &LibeventDispatcher::onPost, this);
  event_add(post_event_, nullptr);
  deferred_event_ = event_new(base_, -1, 0, &LibeventDispatcher::onDeferred, this);
}

LibeventDispatcher::~LibeventDispatcher() {
  clearDeferred();
  event_free(post_event_);
  event_free(deferred_event_);
  close(wake_fd_);
  event_base_free(base_);
}

TimerPtr LibeventDispatcher::createTimer(std::function<void()> cb) {
  return std::make_unique<LibeventTimer>(base_, std::move(cb));
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
    event_active(deferred_event_, 0, 0);
  }
}

void LibeventDispatcher::onDeferred(int, short, void* arg) noexcept {
  static_cast<LibeventDispatcher*>(arg)->clearDeferred();
}

void LibeventDispatcher::clearDeferred() {
  deleteAll(deferred_);
  deferred_scheduled_ = false;
}

void LibeventDispatcher::run() { event_base_loop(base_, 0); }

void LibeventDispatcher::exit() { event_base_loopbreak(base_); }

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

void SimulatedDispatcher::clearDeferred() { deleteAll(deferred_); }

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
