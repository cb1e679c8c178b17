#include "filters/rate_limit/local_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "filters/rate_limit/gcra.h"
#include "proxy/common/random.h"

namespace switchyard::filters::rate_limit {
namespace {

constexpr int64_t Ms = 1'000'000;
constexpr int64_t S = 1'000 * Ms;
constexpr int64_t T0 = 1'000 * S;

// 10 per second, burst 10: T = 100 ms.
GcraParams tenPerSecond() { return GcraParams::make(10, S); }

// What a store that never forgets says: one TAT per key, written only when allowed.
struct Model {
  GcraParams params;
  std::map<std::string, int64_t> tats;

  GcraDecision admit(const std::string& key, int64_t now, int64_t cost = 1) {
    GcraDecision decision = gcraDecide(tats[key], now, params, cost);
    if (decision.allowed) tats[key] = decision.tat;
    return decision;
  }
};

void expectSame(const GcraDecision& got, const GcraDecision& want) {
  EXPECT_EQ(got.allowed, want.allowed);
  EXPECT_EQ(got.tat, want.tat);
  EXPECT_EQ(got.retry_after_ns, want.retry_after_ns);
  EXPECT_EQ(got.remaining, want.remaining);
  EXPECT_EQ(got.reset_ns, want.reset_ns);
}

TEST(LocalLimiterTest, KeysAreIsolated) {
  LocalLimiter limiter(tenPerSecond(), 1000);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(limiter.admit("a", T0).allowed) << i;
  GcraDecision denied = limiter.admit("a", T0);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.retry_after_ns, 100 * Ms);
  // "b" (and the empty key) have their own buckets.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(limiter.admit("b", T0).allowed) << i;
  EXPECT_FALSE(limiter.admit("b", T0).allowed);
  EXPECT_TRUE(limiter.admit("", T0).allowed);
  EXPECT_EQ(limiter.size(), 3u);
  EXPECT_EQ(limiter.overflowed(), 0u);
  // Keys are compared whole, not by hash or prefix.
  EXPECT_TRUE(limiter.admit("a ", T0).allowed);
  EXPECT_TRUE(limiter.admit(std::string("a\0", 2), T0).allowed);
}

TEST(LocalLimiterTest, DecisionsAreThoseOfGcra) {
  const GcraParams params = GcraParams::make(5, 2 * S, 7);
  LocalLimiter limiter(params, 1000);
  Model model{params, {}};
  common::SeededRandom random(11);
  int64_t now = T0;
  for (int i = 0; i < 20'000; ++i) {
    now += static_cast<int64_t>(random.uniform(200 * Ms));
    const std::string key = "client-" + std::to_string(random.uniform(20));
    const int64_t cost = static_cast<int64_t>(random.uniform(4));
    GcraDecision got = limiter.admit(key, now, cost);
    GcraDecision want = model.admit(key, now, cost);
    expectSame(got, want);
    if (HasFailure()) FAIL() << "step " << i << " key " << key;
  }
}

TEST(LocalLimiterTest, ShardsAndCapacity) {
  EXPECT_THROW(LocalLimiter(tenPerSecond(), 0), std::invalid_argument);
  EXPECT_EQ(LocalLimiter(tenPerSecond(), 1).shardCount(), 1u);
  EXPECT_EQ(LocalLimiter(tenPerSecond(), 127).shardCount(), 1u);
  EXPECT_EQ(LocalLimiter(tenPerSecond(), 128).shardCount(), 2u);
  EXPECT_EQ(LocalLimiter(tenPerSecond(), 1000).shardCount(), 8u);
  EXPECT_EQ(LocalLimiter(tenPerSecond(), 4096).shardCount(), 64u);
  EXPECT_EQ(LocalLimiter(tenPerSecond(), 1'000'000).shardCount(), 64u);

  // However many keys come, the table holds at most max_keys, and all of it is used before a
  // key overflows (a shard may hold more than its share).
  LocalLimiter limiter(tenPerSecond(), 5000);
  EXPECT_EQ(limiter.maxKeys(), 5000u);
  int first_overflow = -1;
  for (int i = 0; i < 50'000; ++i) {
    limiter.admit("k" + std::to_string(i), T0);
    if (first_overflow < 0 && limiter.overflowed() > 0) first_overflow = i;
  }
  EXPECT_EQ(first_overflow, 5000);
  EXPECT_EQ(limiter.size(), 5000u);
  EXPECT_EQ(limiter.overflowed(), 45'000u);
  EXPECT_EQ(limiter.evictions(), 0u);  // nothing was full again
}

TEST(LocalLimiterTest, APartlyUsedBucketIsNeverEvicted) {
  const GcraParams params = tenPerSecond();
  LocalLimiter limiter(params, 16);  // one shard
  Model model{params, {}};
  // 16 keys, each partly used (one request at T0: full again at T0 + 100 ms).
  for (int i = 0; i < 16; ++i) {
    const std::string key = "used-" + std::to_string(i);
    for (int j = 0; j <= i % 5; ++j) expectSame(limiter.admit(key, T0), model.admit(key, T0));
  }
  ASSERT_EQ(limiter.size(), 16u);

  // A new key while they are all partly used: the table is full, nothing may go.
  EXPECT_TRUE(limiter.admit("new", T0 + 50 * Ms).allowed);
  EXPECT_EQ(limiter.overflowed(), 1u);
  EXPECT_EQ(limiter.evictions(), 0u);
  EXPECT_EQ(limiter.size(), 16u);
  // None of them was forgotten.
  for (int i = 0; i < 16; ++i) {
    const std::string key = "used-" + std::to_string(i);
    expectSame(limiter.admit(key, T0 + 50 * Ms), model.admit(key, T0 + 50 * Ms));
  }
}

TEST(LocalLimiterTest, FullBucketsMakeRoomForNewKeys) {
  const GcraParams params = tenPerSecond();
  LocalLimiter limiter(params, 16);
  Model model{params, {}};
  // 8 heavy users (whole burst at T0: full again at T0 + 1 s) and 8 light ones (one request:
  // full again at T0 + 100 ms).
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 10; ++j) {
      const std::string key = "heavy-" + std::to_string(i);
      expectSame(limiter.admit(key, T0), model.admit(key, T0));
    }
    const std::string key = "light-" + std::to_string(i);
    expectSame(limiter.admit(key, T0), model.admit(key, T0));
  }
  ASSERT_EQ(limiter.size(), 16u);

  // At T0 + 500 ms the light buckets are full again: they make room, the heavy ones stay.
  const int64_t now = T0 + 500 * Ms;
  for (int i = 0; i < 8; ++i) {
    const std::string key = "new-" + std::to_string(i);
    expectSame(limiter.admit(key, now), model.admit(key, now));
  }
  EXPECT_EQ(limiter.overflowed(), 0u);
  EXPECT_EQ(limiter.evictions(), 8u);
  EXPECT_EQ(limiter.size(), 16u);
  // The ninth new key finds only partly used buckets.
  limiter.admit("new-8", now);
  EXPECT_EQ(limiter.overflowed(), 1u);
  // The heavy users are still held to what they used; a light one comes back with a full bucket,
  // exactly what it would have had if remembered.
  for (int i = 0; i < 8; ++i) {
    const std::string heavy = "heavy-" + std::to_string(i);
    expectSame(limiter.admit(heavy, now), model.admit(heavy, now));
    const std::string fresh = "new-" + std::to_string(i);
    expectSame(limiter.admit(fresh, now), model.admit(fresh, now));
  }
  EXPECT_EQ(limiter.overflowed(), 1u);
}

TEST(LocalLimiterTest, SweepDropsFullBucketsOnly) {
  const GcraParams params = tenPerSecond();
  LocalLimiter limiter(params, 10'000);
  Model model{params, {}};
  // Key i takes i % 10 + 1 requests at T0: full again at T0 + (i % 10 + 1) * 100 ms.
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "k" + std::to_string(i);
    for (int j = 0; j <= i % 10; ++j) {
      model.admit(key, T0);
      limiter.admit(key, T0);
    }
  }
  ASSERT_EQ(limiter.size(), 1000u);
  EXPECT_EQ(limiter.sweep(T0), 0u);
  EXPECT_EQ(limiter.sweep(T0 + 99 * Ms), 0u);
  EXPECT_EQ(limiter.sweep(T0 + 100 * Ms), 100u);  // those with one request
  EXPECT_EQ(limiter.size(), 900u);
  EXPECT_EQ(limiter.sweep(T0 + 450 * Ms), 300u);  // two, three and four
  EXPECT_EQ(limiter.size(), 600u);
  EXPECT_EQ(limiter.swept(), 400u);
  EXPECT_EQ(limiter.evictions(), 0u);
  // Swept or kept, every key answers as if never forgotten.
  const int64_t now = T0 + 450 * Ms;
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "k" + std::to_string(i);
    expectSame(limiter.admit(key, now), model.admit(key, now));
  }
  EXPECT_EQ(limiter.sweep(T0 + 3600 * S), 1000u);
  EXPECT_EQ(limiter.size(), 0u);
}

TEST(LocalLimiterTest, SprayingKeysGetsOneKeysLimitInAll) {
  const GcraParams params = tenPerSecond();
  LocalLimiter limiter(params, 64);
  Model model{params, {}};
  // The victim spends its burst; 63 other clients fill the table with partly used buckets.
  for (int i = 0; i < 10; ++i) expectSame(limiter.admit("victim", T0), model.admit("victim", T0));
  for (int i = 0; i < 63; ++i) limiter.admit("client-" + std::to_string(i), T0);
  ASSERT_EQ(limiter.size(), 64u);

  // An attacker sprays 10'000 new keys at one instant: they share one overflow bucket.
  int admitted = 0;
  for (int i = 0; i < 10'000; ++i) {
    admitted += limiter.admit("spray-" + std::to_string(i), T0 + 10 * Ms).allowed ? 1 : 0;
  }
  EXPECT_EQ(admitted, 10);
  EXPECT_EQ(limiter.overflowed(), 10'000u);
  EXPECT_EQ(limiter.evictions(), 0u);

  // Later, the spray evicts the 63 clients, full again, but never the victim, whose bucket is
  // still partly used: it cannot get a fresh bucket by making the proxy forget it.
  const int64_t later = T0 + 500 * Ms;
  admitted = 0;
  for (int i = 0; i < 1000; ++i) {
    admitted += limiter.admit("spray-later-" + std::to_string(i), later).allowed ? 1 : 0;
    if (i % 100 == 0) expectSame(limiter.admit("victim", later), model.admit("victim", later));
  }
  EXPECT_EQ(limiter.evictions(), 63u);
  // 63 fresh entries, and what the overflow bucket, empty at T0 + 10 ms, refilled since: its TAT
  // was T0 + 1.01 s, and it takes requests while the TAT is at most 900 ms ahead: 4.
  EXPECT_EQ(admitted, 63 + 4);
  for (int i = 0; i < 20; ++i)
    expectSame(limiter.admit("victim", later), model.admit("victim", later));
}

TEST(LocalLimiterTest, ARequestDeniedOnAFullBucketStoresNothing) {
  LocalLimiter limiter(tenPerSecond(), 10);
  GcraDecision d = limiter.admit("greedy", T0, 11);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(limiter.size(), 0u);
  EXPECT_TRUE(limiter.admit("greedy", T0, 10).allowed);
  EXPECT_EQ(limiter.size(), 1u);
}

// Threads racing on one key's compare-exchange, and on inserts, evictions and sweeps of the
// same shards: no admission may be lost or doubled (and TSan must find no race).

TEST(LocalLimiterConcurrencyTest, ThreadsOnOneKeyAdmitExactlyTheBurst) {
  constexpr int Threads = 8;
  const GcraParams params = GcraParams::make(1000, S);  // burst 1000
  LocalLimiter limiter(params, 100);
  // Phases at instants 10 s apart, so each starts with a full bucket; a barrier between them.
  constexpr int Phases = 5;
  std::barrier sync(Threads);
  std::vector<std::vector<int>> admitted(Threads, std::vector<int>(Phases, 0));
  std::vector<std::thread> threads;
  for (int t = 0; t < Threads; ++t) {
    threads.emplace_back([&, t] {
      for (int phase = 0; phase < Phases; ++phase) {
        sync.arrive_and_wait();
        const int64_t now = T0 + phase * 10 * S;
        for (int i = 0; i < 500; ++i) admitted[t][phase] += limiter.admit("hot", now).allowed;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int phase = 0; phase < Phases; ++phase) {
    int total = 0;
    for (int t = 0; t < Threads; ++t) total += admitted[t][phase];
    EXPECT_EQ(total, 1000) << "phase " << phase;
  }
  EXPECT_EQ(limiter.size(), 1u);
}

TEST(LocalLimiterConcurrencyTest, ExactCountsWhileKeysComeAndGo) {
  constexpr int Workers = 6;
  const GcraParams params = GcraParams::make(100, S);  // burst 100, T = 10 ms
  LocalLimiter limiter(params, 256);                   // 4 shards of 64
  std::atomic<bool> stop{false};
  std::barrier sync(Workers + 2);

  // The workers' keys exist before the race (a key inserted into a full table would share the
  // overflow bucket, and the counts below would not be exact).
  std::vector<int> own(Workers, 1);
  std::vector<int> shared(Workers, 0);
  shared[0] = 1;
  for (int w = 0; w < Workers; ++w)
    ASSERT_TRUE(limiter.admit("worker-" + std::to_string(w), T0).allowed);
  ASSERT_TRUE(limiter.admit("shared", T0).allowed);

  // A sprayer inserting new keys, each full again by T0 and evicting those full at its own time,
  // and a sweeper dropping them at T0: inserts and erases in every shard while the workers run.
  std::thread sprayer([&] {
    sync.arrive_and_wait();
    for (int i = 0; !stop.load(); ++i) {
      const int64_t at = T0 - S + (i % 1000) * Ms - params.emission_interval_ns;
      limiter.admit("spray-" + std::to_string(i), at);
    }
  });
  std::thread sweeper([&] {
    sync.arrive_and_wait();
    while (!stop.load()) limiter.sweep(T0);
  });

  // Each worker: its own key and a shared one, both at T0: exactly the burst each.
  std::vector<std::thread> workers;
  for (int w = 0; w < Workers; ++w) {
    workers.emplace_back([&, w] {
      const std::string mine = "worker-" + std::to_string(w);
      sync.arrive_and_wait();
      for (int i = 0; i < 2000; ++i) {
        own[w] += limiter.admit(mine, T0).allowed;
        shared[w] += limiter.admit("shared", T0).allowed;
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  stop.store(true);
  sprayer.join();
  sweeper.join();

  int shared_total = 0;
  for (int w = 0; w < Workers; ++w) {
    EXPECT_EQ(own[w], 100) << "worker " << w;
    shared_total += shared[w];
  }
  EXPECT_EQ(shared_total, 100);
  EXPECT_LE(limiter.size(), 256u);
  // The workers' keys are still there, partly used.
  for (int w = 0; w < Workers; ++w) {
    EXPECT_FALSE(limiter.admit("worker-" + std::to_string(w), T0).allowed);
  }
}

}  // namespace
}  // namespace switchyard::filters::rate_limit
