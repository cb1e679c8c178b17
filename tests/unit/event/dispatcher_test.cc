#include "proxy/event/dispatcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy/common/time.h"

namespace switchyard::event {
namespace {

using std::chrono::milliseconds;

class DispatcherSimulatedTest : public testing::Test {
 protected:
  // Milliseconds since the test started, on the simulated clock.
  long nowMs() const {
    return std::chrono::duration_cast<milliseconds>(time_.monotonicNow() - start_).count();
  }
  // A timer that records "<name>@<ms>" when it fires.
  TimerPtr recordingTimer(const std::string& name) {
    return dispatcher_.createTimer(
        [this, name] { fired_.push_back(name + "@" + std::to_string(nowMs())); });
  }

  common::SimulatedTimeSource time_;
  const common::MonotonicTime start_ = time_.monotonicNow();
  SimulatedDispatcher dispatcher_{time_};
  std::vector<std::string> fired_;
};

TEST_F(DispatcherSimulatedTest, TimersFireInDeadlineOrderAtTheirDeadline) {
  auto t30 = recordingTimer("t30");
  auto t10 = recordingTimer("t10");
  auto t20 = recordingTimer("t20");
  t30->enable(milliseconds(30));
  t10->enable(milliseconds(10));
  t20->enable(milliseconds(20));
  EXPECT_EQ(dispatcher_.pendingTimers(), 3u);
  EXPECT_TRUE(t10->enabled());

  dispatcher_.advance(milliseconds(50));
  EXPECT_EQ(fired_, (std::vector<std::string>{"t10@10", "t20@20", "t30@30"}));
  EXPECT_EQ(nowMs(), 50);
  EXPECT_EQ(dispatcher_.pendingTimers(), 0u);
  EXPECT_FALSE(t10->enabled());
}

TEST_F(DispatcherSimulatedTest, TimersWithTheSameDeadlineFireInEnableOrder) {
  auto a = recordingTimer("a");
  auto b = recordingTimer("b");
  auto c = recordingTimer("c");
  b->enable(milliseconds(5));
  c->enable(milliseconds(5));
  a->enable(milliseconds(5));
  dispatcher_.advance(milliseconds(5));
  EXPECT_EQ(fired_, (std::vector<std::string>{"b@5", "c@5", "a@5"}));
}

TEST_F(DispatcherSimulatedTest, TimerFiresOnlyOnceItsDeadlineIsReached) {
  auto t = recordingTimer("t");
  t->enable(milliseconds(100));
  dispatcher_.advance(milliseconds(99));
  EXPECT_TRUE(fired_.empty());
  EXPECT_TRUE(t->enabled());
  dispatcher_.advance(milliseconds(1));
  EXPECT_EQ(fired_, (std::vector<std::string>{"t@100"}));
  dispatcher_.advance(milliseconds(1000));
  EXPECT_EQ(fired_.size(), 1u);  // one-shot
}

TEST_F(DispatcherSimulatedTest, ZeroDelayTimerFiresOnTheNextAdvance) {
  auto t = recordingTimer("t");
  t->enable(milliseconds(0));
  EXPECT_TRUE(fired_.empty());
  dispatcher_.advance(milliseconds(0));
  EXPECT_EQ(fired_, (std::vector<std::string>{"t@0"}));
}

TEST_F(DispatcherSimulatedTest, DisabledTimersDoNotFire) {
  auto a = recordingTimer("a");
  auto b = recordingTimer("b");
  a->enable(milliseconds(10));
  b->enable(milliseconds(20));
  a->disable();
  EXPECT_FALSE(a->enabled());
  EXPECT_EQ(dispatcher_.pendingTimers(), 1u);
  dispatcher_.advance(milliseconds(100));
  EXPECT_EQ(fired_, (std::vector<std::string>{"b@20"}));
}

TEST_F(DispatcherSimulatedTest, DestroyedTimersDoNotFire) {
  auto a = recordingTimer("a");
  a->enable(milliseconds(10));
  a.reset();
  EXPECT_EQ(dispatcher_.pendingTimers(), 0u);
  dispatcher_.advance(milliseconds(100));
  EXPECT_TRUE(fired_.empty());
}

TEST_F(DispatcherSimulatedTest, ReEnablingReschedulesFromNow) {
  auto t = recordingTimer("t");
  t->enable(milliseconds(10));
  dispatcher_.advance(milliseconds(5));
  t->enable(milliseconds(10));
  dispatcher_.advance(milliseconds(5));
  EXPECT_TRUE(fired_.empty());
  dispatcher_.advance(milliseconds(10));
  EXPECT_EQ(fired_, (std::vector<std::string>{"t@15"}));

  // Re-enabling a disabled timer arms it again; an earlier deadline wins as well.
  t->enable(milliseconds(50));
  t->disable();
  t->enable(milliseconds(3));
  dispatcher_.advance(milliseconds(100));
  EXPECT_EQ(fired_, (std::vector<std::string>{"t@15", "t@23"}));
}

TEST_F(DispatcherSimulatedTest, TimerCreatedInsideACallbackFiresInTheSameAdvance) {
  TimerPtr inner;
  auto outer = dispatcher_.createTimer([&] {
    fired_.push_back("outer@" + std::to_string(nowMs()));
    inner = recordingTimer("inner");
    inner->enable(milliseconds(15));
  });
  auto late = recordingTimer("late");
  outer->enable(milliseconds(10));
  late->enable(milliseconds(20));
  dispatcher_.advance(milliseconds(40));
  EXPECT_EQ(fired_, (std::vector<std::string>{"outer@10", "late@20", "inner@25"}));
}

TEST_F(DispatcherSimulatedTest, TimerCreatedInsideACallbackPastTheTargetWaits) {
  TimerPtr inner;
  auto outer = dispatcher_.createTimer([&] {
    inner = recordingTimer("inner");
    inner->enable(milliseconds(100));
  });
  outer->enable(milliseconds(10));
  dispatcher_.advance(milliseconds(50));
  EXPECT_TRUE(fired_.empty());
  EXPECT_EQ(dispatcher_.pendingTimers(), 1u);
  dispatcher_.advance(milliseconds(60));
  EXPECT_EQ(fired_, (std::vector<std::string>{"inner@110"}));
}

TEST_F(DispatcherSimulatedTest, TimerCanReArmItself) {
  TimerPtr t;
  t = dispatcher_.createTimer([&] {
    fired_.push_back("tick@" + std::to_string(nowMs()));
    t->enable(milliseconds(10));
  });
  t->enable(milliseconds(10));
  dispatcher_.advance(milliseconds(35));
  EXPECT_EQ(fired_, (std::vector<std::string>{"tick@10", "tick@20", "tick@30"}));
  EXPECT_TRUE(t->enabled());
}

TEST_F(DispatcherSimulatedTest, CallbackMayDisableOrDestroyAnotherDueTimer) {
  TimerPtr victim = recordingTimer("victim");
  TimerPtr disabled = recordingTimer("disabled");
  auto killer = dispatcher_.createTimer([&] {
    fired_.push_back("killer");
    victim.reset();
    disabled->disable();
  });
  killer->enable(milliseconds(5));
  victim->enable(milliseconds(5));
  disabled->enable(milliseconds(6));
  dispatcher_.advance(milliseconds(10));
  EXPECT_EQ(fired_, (std::vector<std::string>{"killer"}));
}

TEST_F(DispatcherSimulatedTest, PostQueuesUntilRunPosted) {
  std::vector<int> ran;
  dispatcher_.post([&] { ran.push_back(1); });
  dispatcher_.post([&] { ran.push_back(2); });
  EXPECT_TRUE(ran.empty());
  dispatcher_.advance(milliseconds(10));  // time passing does not run posted work
  EXPECT_TRUE(ran.empty());
  dispatcher_.runPosted();
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
  dispatcher_.runPosted();
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
}

TEST_F(DispatcherSimulatedTest, WorkPostedFromPostedWorkRunsInTheSameRunPosted) {
  std::vector<int> ran;
  dispatcher_.post([&] {
    ran.push_back(1);
    dispatcher_.post([&] { ran.push_back(3); });
  });
  dispatcher_.post([&] { ran.push_back(2); });
  dispatcher_.runPosted();
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3}));
}

TEST_F(DispatcherSimulatedTest, PostFromAnotherThreadIsQueued) {
  std::vector<int> ran;
  std::thread poster([&] {
    for (int i = 0; i < 100; ++i) dispatcher_.post([&ran, i] { ran.push_back(i); });
  });
  poster.join();
  dispatcher_.runPosted();
  ASSERT_EQ(ran.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(ran[i], i);
}

class Tracked : public DeferredDeletable {
 public:
  explicit Tracked(int& destroyed) : destroyed_(destroyed) {}
  ~Tracked() override { ++destroyed_; }

 private:
  int& destroyed_;
};

TEST_F(DispatcherSimulatedTest, DeferredDeleteWaitsForRunPosted) {
  int destroyed = 0;
  dispatcher_.deferredDelete(std::make_unique<Tracked>(destroyed));
  dispatcher_.deferredDelete(std::make_unique<Tracked>(destroyed));
  EXPECT_EQ(destroyed, 0);
  dispatcher_.runPosted();
  EXPECT_EQ(destroyed, 2);
}

TEST_F(DispatcherSimulatedTest, ObjectDeferredInATimerCallbackIsFreedAfterTheCallback) {
  int destroyed = 0;
  int destroyed_seen_in_callback = -1;
  auto t = dispatcher_.createTimer([&] {
    dispatcher_.deferredDelete(std::make_unique<Tracked>(destroyed));
    destroyed_seen_in_callback = destroyed;
  });
  t->enable(milliseconds(1));
  dispatcher_.advance(milliseconds(1));
  EXPECT_EQ(destroyed_seen_in_callback, 0);
  EXPECT_EQ(destroyed, 1);
}

TEST_F(DispatcherSimulatedTest, ObjectMayDeferItselfFromItsOwnCallback) {
  // The pattern deferredDelete() exists for: an object whose timer callback ends its life.
  struct SelfEnding : DeferredDeletable {
    SelfEnding(Dispatcher& d, std::unique_ptr<SelfEnding>& owner, int& destroyed)
        : destroyed_(destroyed) {
      timer_ = d.createTimer([this, &d, &owner] {
        d.deferredDelete(std::move(owner));
        still_alive_after_defer_ = true;  // touching members here must be safe
      });
      timer_->enable(milliseconds(7));
    }
    ~SelfEnding() override { ++destroyed_; }
    int& destroyed_;
    TimerPtr timer_;
    bool still_alive_after_defer_ = false;
  };
  int destroyed = 0;
  std::unique_ptr<SelfEnding> owner;
  owner = std::make_unique<SelfEnding>(dispatcher_, owner, destroyed);
  dispatcher_.advance(milliseconds(7));
  EXPECT_FALSE(owner);
  EXPECT_EQ(destroyed, 1);
}

TEST_F(DispatcherSimulatedTest, DispatcherDestructorFreesDeferredObjects) {
  int destroyed = 0;
  {
    common::SimulatedTimeSource time;
    SimulatedDispatcher dispatcher(time);
    dispatcher.deferredDelete(std::make_unique<Tracked>(destroyed));
  }
  EXPECT_EQ(destroyed, 1);
}

class Chained : public DeferredDeletable {
 public:
  Chained(Dispatcher& d, int& destroyed, int depth) : d_(d), destroyed_(destroyed), depth_(depth) {}
  ~Chained() override {
    ++destroyed_;
    if (depth_ > 0) d_.deferredDelete(std::make_unique<Chained>(d_, destroyed_, depth_ - 1));
  }

 private:
  Dispatcher& d_;
  int& destroyed_;
  int depth_;
};

// Exits 0 when a chain of four objects, each deferring the next from its destructor, has been
// freed by one runPosted().
void runChainedDeferredDeletes() {
  int destroyed = 0;
  common::SimulatedTimeSource time;
  SimulatedDispatcher dispatcher(time);
  dispatcher.deferredDelete(std::make_unique<Chained>(dispatcher, destroyed, 3));
  dispatcher.runPosted();
  std::exit(destroyed == 4 ? 0 : 10 + destroyed);
}

// A destructor run by the deferred-delete pass may itself defer more objects (a stream's
// destructor handing over its last filter, say). LibeventDispatcher::clearDeferred() loops for
// exactly this; the simulated dispatcher must free those too. Runs in a child process, since
// growing the vector that is being cleared is undefined behaviour and may crash.
TEST(DispatcherSimulatedDeathTest, DestructorDeferringAnotherObjectIsHandled) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(runChainedDeferredDeletes(), testing::ExitedWithCode(0), "");
}

// LibeventDispatcher's timers record deadlines and add their libevent event lazily. These tests
// drive the deadlines with a simulated clock, so what fires does not depend on the machine's
// speed: libevent only decides when the loop wakes up (at once, for the 0 ms events used here).
class DispatcherLibeventTimerTest : public testing::Test {
 protected:
  // Runs the loop until `exit_after` has fired.
  void runUntil(Timer& exit_after) {
    exit_after.enable(milliseconds(0));
    dispatcher_.run();
  }
  TimerPtr exitTimer() {
    return dispatcher_.createTimer([this] { dispatcher_.exit(); });
  }

  common::SimulatedTimeSource time_;
  LibeventDispatcher dispatcher_{time_};
};

TEST_F(DispatcherLibeventTimerTest, ADisabledTimerWhoseEventStillFiresDoesNotRunItsCallback) {
  int fired = 0;
  TimerPtr timer = dispatcher_.createTimer([&] { ++fired; });
  timer->enable(milliseconds(0));  // adds the libevent event
  timer->disable();                // only records that it is off
  EXPECT_FALSE(timer->enabled());
  TimerPtr exit = exitTimer();
  runUntil(*exit);
  EXPECT_EQ(fired, 0);
}

TEST_F(DispatcherLibeventTimerTest, AnEventThatFiresBeforeTheDeadlineWaitsForIt) {
  int fired = 0;
  TimerPtr timer = dispatcher_.createTimer([&] { ++fired; });
  timer->enable(milliseconds(0));     // the event is added for now
  timer->enable(milliseconds(5000));  // pushed back: nothing is added
  EXPECT_TRUE(timer->enabled());
  TimerPtr exit = exitTimer();
  runUntil(*exit);
  // The event fired, found the deadline 5 s away on the simulated clock and re-armed itself.
  EXPECT_EQ(fired, 0);
  EXPECT_TRUE(timer->enabled());
  // Brought forward again, the deadline is earlier than the re-armed event: it is added anew
  // and the callback runs, once.
  timer->enable(milliseconds(0));
  runUntil(*exit);
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE(timer->enabled());
}

TEST_F(DispatcherLibeventTimerTest, AReusedSlotServesTheNextTimerAndNotTheOldCallback) {
  int old_fired = 0;
  int new_fired = 0;
  {
    TimerPtr old_timer = dispatcher_.createTimer([&] { ++old_fired; });
    old_timer->enable(milliseconds(0));
  }  // destroyed while its event is still added
  TimerPtr timer = dispatcher_.createTimer([&] { ++new_fired; });
  timer->enable(milliseconds(0));
  TimerPtr exit = exitTimer();
  runUntil(*exit);
  EXPECT_EQ(old_fired, 0);
  EXPECT_EQ(new_fired, 1);
}

TEST_F(DispatcherLibeventTimerTest, ACallbackMayReEnableItsOwnTimer) {
  int fired = 0;
  TimerPtr timer;
  timer = dispatcher_.createTimer([&] {
    if (++fired < 3) timer->enable(milliseconds(0));
  });
  timer->enable(milliseconds(0));
  TimerPtr exit = dispatcher_.createTimer([&] {
    if (fired < 3) {
      exit->enable(milliseconds(0));
      return;
    }
    dispatcher_.exit();
  });
  runUntil(*exit);
  EXPECT_EQ(fired, 3);
}

TEST(DispatcherLibeventTest, PostFromAnotherThreadRunsOnTheLoopThreadThenExit) {
  common::RealTimeSource time;
  LibeventDispatcher dispatcher(time);
  std::thread loop([&] { dispatcher.run(); });
  const std::thread::id loop_id = loop.get_id();

  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> order;
  std::vector<std::thread::id> ran_on;
  // Posted from this thread, which is not the loop's.
  for (int i = 0; i < 3; ++i) {
    dispatcher.post([&, i] {
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(i);
      ran_on.push_back(std::this_thread::get_id());
      cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return order.size() == 3; }));
  }
  dispatcher.post([&] { dispatcher.exit(); });
  loop.join();

  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  for (const auto& id : ran_on) EXPECT_EQ(id, loop_id);
  EXPECT_NE(loop_id, std::this_thread::get_id());
}

TEST(DispatcherLibeventTest, DeferredDeleteRunsOnTheLoopAfterTheCallback) {
  common::RealTimeSource time;
  LibeventDispatcher dispatcher(time);
  int destroyed = 0;
  int seen_in_callback = -1;
  dispatcher.post([&] {
    dispatcher.deferredDelete(std::make_unique<Tracked>(destroyed));
    seen_in_callback = destroyed;
    // Exit from work posted after the deferred deletion has been scheduled.
    dispatcher.post([&] { dispatcher.exit(); });
  });
  dispatcher.run();
  EXPECT_EQ(seen_in_callback, 0);
  EXPECT_EQ(destroyed, 1);
}

}  // namespace
}  // namespace switchyard::event
