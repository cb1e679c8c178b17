#include "filters/cache/coalescer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace switchyard::filters::cache {
namespace {

using namespace std::chrono_literals;

struct RecordingWaiter final : CoalesceWaiter {
  void onCoalesced(CoalesceOutcome outcome) override {
    ++calls;
    last = outcome;
  }
  int calls = 0;
  CoalesceOutcome last = CoalesceOutcome::Failed;
};

class CoalescerTest : public ::testing::Test {
 protected:
  common::MonotonicTime now() const { return time_.monotonicNow(); }

  common::SimulatedTimeSource time_;
  event::SimulatedDispatcher dispatcher_{time_};
  Coalescer coalescer_{10s};
  CoalesceTicketPtr out_;  // the last waiter's ticket
};

TEST_F(CoalescerTest, OneLeaderPerKeyAndWaitersWokenOnTheirOwnDispatcher) {
  RecordingWaiter a, b, c;
  EXPECT_EQ(coalescer_.join("k", dispatcher_, &a, 2, now(), &out_), Coalescer::Join::Leader);
  EXPECT_EQ(coalescer_.join("other", dispatcher_, &a, 2, now(), &out_), Coalescer::Join::Leader);
  EXPECT_EQ(coalescer_.join("k", dispatcher_, &b, 2, now(), &out_), Coalescer::Join::Waiting);
  EXPECT_EQ(coalescer_.join("k", dispatcher_, &c, 2, now(), &out_), Coalescer::Join::Waiting);
  RecordingWaiter d;
  EXPECT_EQ(coalescer_.join("k", dispatcher_, &d, 2, now(), &out_), Coalescer::Join::Full);
  EXPECT_EQ(coalescer_.inFlight(), 2u);
  EXPECT_EQ(coalescer_.waiting(), 2u);

  coalescer_.finish("k", CoalesceOutcome::Stored, now());
  EXPECT_EQ(b.calls, 0);  // posted, not called from the finishing thread
  dispatcher_.runPosted();
  EXPECT_EQ(b.calls, 1);
  EXPECT_EQ(c.calls, 1);
  EXPECT_EQ(b.last, CoalesceOutcome::Stored);
  EXPECT_EQ(coalescer_.waiting(), 0u);
  // A second finish is harmless; the key is free again.
  coalescer_.finish("k", CoalesceOutcome::Stored, now());
  EXPECT_EQ(coalescer_.join("k", dispatcher_, &a, 2, now(), &out_), Coalescer::Join::Leader);
}

TEST_F(CoalescerTest, WaitersThatLeftOrEndedAreNotWoken) {
  RecordingWaiter a, b, c;
  coalescer_.join("k", dispatcher_, &a, 10, now(), &out_);
  CoalesceTicketPtr tb, tc;
  EXPECT_EQ(coalescer_.join("k", dispatcher_, &b, 10, now(), &tb), Coalescer::Join::Waiting);
  EXPECT_EQ(coalescer_.join("k", dispatcher_, &c, 10, now(), &tc), Coalescer::Join::Waiting);
  coalescer_.leave("k", tb.get());
  EXPECT_EQ(coalescer_.waiting(), 1u);
  coalescer_.finish("k", CoalesceOutcome::Failed, now());
  tc->waiter = nullptr;  // its request ended after the outcome was posted
  dispatcher_.runPosted();
  EXPECT_EQ(b.calls, 0);
  EXPECT_EQ(c.calls, 0);
  // Failed marks nothing.
  EXPECT_EQ(coalescer_.join("k", dispatcher_, &a, 10, now(), &out_), Coalescer::Join::Leader);
}

TEST_F(CoalescerTest, AnUncacheableOutcomeMarksTheKeyForAWhile) {
  RecordingWaiter a, b;
  coalescer_.join("k", dispatcher_, &a, 10, now(), &out_);
  coalescer_.join("k", dispatcher_, &b, 10, now(), &out_);
  coalescer_.finish("k", CoalesceOutcome::Uncacheable, now());
  dispatcher_.runPosted();
  EXPECT_EQ(b.last, CoalesceOutcome::Uncacheable);
  EXPECT_EQ(coalescer_.marked(), 1u);
  EXPECT_EQ(coalescer_.join("k", dispatcher_, &a, 10, now(), &out_), Coalescer::Join::Pass);
  time_.advance(9s);
  EXPECT_EQ(coalescer_.join("k", dispatcher_, &a, 10, now(), &out_), Coalescer::Join::Pass);
  time_.advance(1s);
  EXPECT_EQ(coalescer_.join("k", dispatcher_, &a, 10, now(), &out_), Coalescer::Join::Leader);
  EXPECT_EQ(coalescer_.marked(), 0u);
  coalescer_.finish("k", CoalesceOutcome::Uncacheable, now());
  coalescer_.clearMark("k");
  EXPECT_EQ(coalescer_.join("k", dispatcher_, &a, 10, now(), &out_), Coalescer::Join::Leader);
}

TEST_F(CoalescerTest, ManyThreadsOneLeaderAtATimeEveryWaiterWokenOnce) {
  constexpr int Threads = 4;
  constexpr int Rounds = 2000;
  std::vector<std::unique_ptr<event::SimulatedDispatcher>> loops;
  for (int t = 0; t < Threads; ++t) {
    loops.push_back(std::make_unique<event::SimulatedDispatcher>(time_));
  }
  std::vector<std::vector<std::unique_ptr<RecordingWaiter>>> waiters(Threads);
  std::atomic<int> leaders{0};
  std::atomic<int> queued{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < Threads; ++t) {
    threads.emplace_back([&, t] {
      const common::MonotonicTime at{};
      for (int i = 0; i < Rounds; ++i) {
        const std::string key = "k" + std::to_string(i % 8);
        auto w = std::make_unique<RecordingWaiter>();
        CoalesceTicketPtr tk;
        switch (coalescer_.join(key, *loops[t], w.get(), 1000, at, &tk)) {
          case Coalescer::Join::Leader:
            ++leaders;
            coalescer_.finish(key, CoalesceOutcome::Stored, at);
            break;
          case Coalescer::Join::Waiting:
            ++queued;
            waiters[t].push_back(std::move(w));
            break;
          default:
            ADD_FAILURE();
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(leaders + queued, Threads * Rounds);
  // Whoever is still queued behind a leader that has not finished: none, every leader finished.
  EXPECT_EQ(coalescer_.inFlight(), 0u);
  EXPECT_EQ(coalescer_.waiting(), 0u);
  int woken = 0;
  for (int t = 0; t < Threads; ++t) {
    loops[t]->runPosted();
    for (const auto& w : waiters[t]) {
      EXPECT_EQ(w->calls, 1);
      woken += w->calls;
    }
  }
  EXPECT_EQ(woken, queued.load());
}

}  // namespace
}  // namespace switchyard::filters::cache
