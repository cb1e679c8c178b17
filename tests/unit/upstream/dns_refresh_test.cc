#include "proxy/upstream/dns_refresh.h"

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "proxy/common/time.h"
#include "proxy/event/dispatcher.h"
#include "tests/support/quiet_logs.h"

namespace switchyard::upstream {
namespace {

using common::SocketAddress;
using std::chrono::milliseconds;
using std::chrono::seconds;
using namespace std::chrono_literals;

SocketAddress addr(const std::string& host, uint16_t port = 80) {
  const bool v6 = host.find(':') != std::string::npos;
  return {host, port, (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port)};
}

std::vector<std::string> texts(const std::vector<SocketAddress>& addresses) {
  std::vector<std::string> out;
  for (const SocketAddress& a : addresses) out.push_back(a.text);
  return out;
}

DnsResult ok(std::vector<SocketAddress> addresses, seconds ttl = 60s) {
  DnsResult r;
  r.status = DnsStatus::Ok;
  r.addresses = std::move(addresses);
  r.ttl = ttl;
  return r;
}

DnsResult failed(DnsStatus status = DnsStatus::Timeout) {
  DnsResult r;
  r.status = status;
  r.message = "no answer";
  return r;
}

DnsConfig config() {
  DnsConfig c;
  c.refresh = 30s;
  c.min_refresh = 1s;
  c.retry_base = 1s;
  c.retry_max = 8s;
  return c;
}

TEST(DnsRefreshTest, NormalizedAddressesAreOrderedNumericallyIpv4FirstWithoutDuplicates) {
  EXPECT_EQ(texts(normalizedAddresses({addr("fd00::1"), addr("10.0.0.10"), addr("10.0.0.9"),
                                       addr("10.0.0.9"), addr("10.0.0.9", 81), addr("::1")})),
            (std::vector<std::string>{"10.0.0.9:80", "10.0.0.9:81", "10.0.0.10:80", "[::1]:80",
                                      "[fd00::1]:80"}));
  EXPECT_TRUE(normalizedAddresses({}).empty());
}

TEST(DnsRefreshTest, DiffNamesWhatWasAddedRemovedAndKept) {
  const AddressDiff d = diffAddresses({addr("10.0.0.1"), addr("10.0.0.2"), addr("10.0.0.3")},
                                      {addr("10.0.0.4"), addr("10.0.0.2"), addr("10.0.0.1")});
  EXPECT_TRUE(d.changed());
  EXPECT_EQ(texts(d.added), std::vector<std::string>{"10.0.0.4:80"});
  EXPECT_EQ(texts(d.removed), std::vector<std::string>{"10.0.0.3:80"});
  EXPECT_EQ(texts(d.kept), (std::vector<std::string>{"10.0.0.1:80", "10.0.0.2:80"}));
}

TEST(DnsRefreshTest, DiffIgnoresOrderAndDuplicates) {
  const AddressDiff d = diffAddresses({addr("10.0.0.1"), addr("fd00::1"), addr("10.0.0.1")},
                                      {addr("fd00::1"), addr("fd00::1"), addr("10.0.0.1")});
  EXPECT_FALSE(d.changed());
  EXPECT_TRUE(d.added.empty());
  EXPECT_TRUE(d.removed.empty());
  EXPECT_EQ(texts(d.kept), (std::vector<std::string>{"10.0.0.1:80", "[fd00::1]:80"}));
}

TEST(DnsRefreshTest, APortIsPartOfTheAddress) {
  const AddressDiff d = diffAddresses({addr("10.0.0.1", 80)}, {addr("10.0.0.1", 81)});
  EXPECT_EQ(texts(d.added), std::vector<std::string>{"10.0.0.1:81"});
  EXPECT_EQ(texts(d.removed), std::vector<std::string>{"10.0.0.1:80"});
}

TEST(DnsRefreshTest, DiffFromAndToNothing) {
  EXPECT_EQ(diffAddresses({}, {addr("10.0.0.1")}).added.size(), 1u);
  EXPECT_EQ(diffAddresses({addr("10.0.0.1")}, {}).removed.size(), 1u);
  EXPECT_FALSE(diffAddresses({}, {}).changed());
}

TEST(DnsRefreshTest, AnAnswerLivesForItsTtlBoundedByMinAndMaxRefresh) {
  const DnsConfig c = config();
  EXPECT_EQ(answerLifetime(0s, c), 1s);
  EXPECT_EQ(answerLifetime(1s, c), 1s);
  EXPECT_EQ(answerLifetime(7s, c), 7s);
  EXPECT_EQ(answerLifetime(30s, c), 30s);
  EXPECT_EQ(answerLifetime(86400s, c), 30s);
}

TEST(DnsRefreshTest, RetryDelaysDoubleUpToTheMax) {
  const DnsConfig c = config();
  EXPECT_EQ(retryDelay(1, c), 1s);
  EXPECT_EQ(retryDelay(2, c), 2s);
  EXPECT_EQ(retryDelay(3, c), 4s);
  EXPECT_EQ(retryDelay(4, c), 8s);
  EXPECT_EQ(retryDelay(5, c), 8s);
  EXPECT_EQ(retryDelay(UINT32_MAX, c), 8s);
  DnsConfig odd = c;
  odd.retry_base = 3s;
  odd.retry_max = 10s;
  EXPECT_EQ(retryDelay(2, odd), 6s);
  EXPECT_EQ(retryDelay(3, odd), 10s);
}

class DnsNameRefreshTest : public ::testing::Test {
 protected:
  DnsRefreshDecision result(const DnsResult& r) {
    return refresh_.onResult(time_.monotonicNow(), r);
  }

  common::SimulatedTimeSource time_;
  DnsNameRefresh refresh_{config()};
};

TEST_F(DnsNameRefreshTest, NeverResolvedUntilTheFirstSuccess) {
  EXPECT_EQ(refresh_.state(), DnsNameState::Unresolved);
  EXPECT_FALSE(refresh_.lastResultAt());
  EXPECT_FALSE(refresh_.nextLookupAt());
  const DnsRefreshDecision first = result(failed(DnsStatus::NoSuchName));
  EXPECT_EQ(refresh_.state(), DnsNameState::Unresolved);
  EXPECT_TRUE(refresh_.addresses().empty());
  EXPECT_FALSE(first.diff.changed());
  EXPECT_EQ(first.log, DnsLogEvent::FirstFailure);
  EXPECT_EQ(first.next_lookup, 1s);
  EXPECT_EQ(refresh_.lastStatus(), DnsStatus::NoSuchName);
  EXPECT_FALSE(refresh_.lastSuccessAt());

  time_.advance(1s);
  const DnsRefreshDecision second = result(ok({addr("10.0.0.2"), addr("10.0.0.1")}, 20s));
  EXPECT_EQ(refresh_.state(), DnsNameState::Resolved);
  EXPECT_EQ(texts(refresh_.addresses()), (std::vector<std::string>{"10.0.0.1:80", "10.0.0.2:80"}));
  EXPECT_EQ(texts(second.diff.added), texts(refresh_.addresses()));
  EXPECT_EQ(second.log, DnsLogEvent::Recovered);
  EXPECT_EQ(second.next_lookup, 20s);
  EXPECT_EQ(refresh_.lastTtl(), 20s);
  EXPECT_EQ(refresh_.lastSuccessAt(), time_.monotonicNow());
  EXPECT_EQ(refresh_.nextLookupAt(), time_.monotonicNow() + 20s);
}

TEST_F(DnsNameRefreshTest, TheFirstSuccessIsAChangeAndNotLogged) {
  const DnsRefreshDecision d = result(ok({addr("10.0.0.1")}));
  EXPECT_TRUE(d.diff.changed());
  EXPECT_EQ(d.log, DnsLogEvent::None);
  EXPECT_EQ(d.next_lookup, 30s);
}

TEST_F(DnsNameRefreshTest, AFailureKeepsTheLastGoodAddresses) {
  result(ok({addr("10.0.0.1"), addr("fd00::1")}));
  for (DnsStatus status : {DnsStatus::Timeout, DnsStatus::NoSuchName, DnsStatus::NoData,
                           DnsStatus::ServerFailure, DnsStatus::Error}) {
    const DnsRefreshDecision d = result(failed(status));
    EXPECT_FALSE(d.diff.changed());
    EXPECT_EQ(refresh_.state(), DnsNameState::Stale);
    EXPECT_EQ(texts(refresh_.addresses()),
              (std::vector<std::string>{"10.0.0.1:80", "[fd00::1]:80"}));
    EXPECT_EQ(refresh_.lastStatus(), status);
    EXPECT_EQ(refresh_.lastMessage(), "no answer");
  }
  const DnsRefreshDecision back = result(ok({addr("10.0.0.1"), addr("fd00::1")}));
  EXPECT_FALSE(back.diff.changed());
  EXPECT_EQ(refresh_.state(), DnsNameState::Resolved);
}

TEST_F(DnsNameRefreshTest, FailuresAreRetriedWithABoundedBackoffAndTheStreakEndsOnSuccess) {
  result(ok({addr("10.0.0.1")}, 5s));
  std::vector<milliseconds> delays;
  for (int i = 0; i < 6; ++i) delays.push_back(*result(failed()).next_lookup);
  EXPECT_EQ(delays, (std::vector<milliseconds>{1s, 2s, 4s, 8s, 8s, 8s}));
  EXPECT_EQ(refresh_.consecutiveFailures(), 6u);
  EXPECT_EQ(result(ok({addr("10.0.0.1")}, 5s)).next_lookup, 5s);
  EXPECT_EQ(refresh_.consecutiveFailures(), 0u);
  EXPECT_EQ(result(failed()).next_lookup, 1s);
}

TEST_F(DnsNameRefreshTest, OnlyTheFirstFailureOfAStreakAndTheRecoveryAreLogged) {
  std::vector<DnsLogEvent> logs;
  for (const DnsResult& r :
       {ok({addr("10.0.0.1")}), failed(), failed(), failed(), ok({addr("10.0.0.1")}),
        ok({addr("10.0.0.2")}), failed(), ok({addr("10.0.0.2")})}) {
    logs.push_back(result(r).log);
  }
  EXPECT_EQ(logs, (std::vector<DnsLogEvent>{DnsLogEvent::None, DnsLogEvent::FirstFailure,
                                            DnsLogEvent::None, DnsLogEvent::None,
                                            DnsLogEvent::Recovered, DnsLogEvent::None,
                                            DnsLogEvent::FirstFailure, DnsLogEvent::Recovered}));
}

TEST_F(DnsNameRefreshTest, EveryResultCountsOnce) {
  result(failed());
  result(ok({addr("10.0.0.1")}));
  result(ok({addr("10.0.0.1")}));
  result(ok({addr("10.0.0.1"), addr("10.0.0.1")}));
  result(ok({addr("10.0.0.2")}));
  result(failed());
  EXPECT_EQ(refresh_.counts().success, 2u);
  EXPECT_EQ(refresh_.counts().no_change, 2u);
  EXPECT_EQ(refresh_.counts().failure, 2u);
}

TEST_F(DnsNameRefreshTest, AChangedAnswerGivesTheDiff) {
  result(ok({addr("10.0.0.1"), addr("10.0.0.2")}));
  const DnsRefreshDecision d = result(ok({addr("10.0.0.3"), addr("10.0.0.2")}));
  EXPECT_EQ(texts(d.diff.added), std::vector<std::string>{"10.0.0.3:80"});
  EXPECT_EQ(texts(d.diff.removed), std::vector<std::string>{"10.0.0.1:80"});
  EXPECT_EQ(texts(d.diff.kept), std::vector<std::string>{"10.0.0.2:80"});
  EXPECT_EQ(texts(refresh_.addresses()), (std::vector<std::string>{"10.0.0.2:80", "10.0.0.3:80"}));
}

TEST_F(DnsNameRefreshTest, ALiteralIsNeverLookedUpAgain) {
  DnsResult r = ok({addr("10.0.0.1")}, 0s);
  r.literal = true;
  const DnsRefreshDecision d = result(r);
  EXPECT_TRUE(d.diff.changed());
  EXPECT_FALSE(d.next_lookup);
  EXPECT_FALSE(refresh_.nextLookupAt());
  EXPECT_EQ(refresh_.state(), DnsNameState::Resolved);
}

// A DnsLookup the test answers by hand, oldest lookup first.
class FakeLookup final : public DnsLookup {
 public:
  struct Call {
    uint64_t id;
    std::string name;
    uint16_t port;
    DnsCallback cb;
    DnsQuery* handle = nullptr;
  };

  ~FakeLookup() override {
    for (Call& c : calls_) {
      if (c.handle != nullptr) releaseQuery(*c.handle);
    }
  }

  DnsQuery resolve(std::string name, uint16_t port, DnsCallback cb) override {
    const uint64_t id = next_id_++;
    calls_.push_back({id, std::move(name), port, std::move(cb)});
    ++lookups_;
    return makeQuery(id);
  }

  void answer(DnsResult result) {
    ASSERT_FALSE(calls_.empty());
    Call call = std::move(calls_.front());
    calls_.pop_front();
    if (call.handle != nullptr) releaseQuery(*call.handle);
    call.cb(std::move(result));
  }

  size_t inFlight() const { return calls_.size(); }
  const Call& front() const { return calls_.front(); }
  int lookups() const { return lookups_; }
  int cancelled() const { return cancelled_; }

 private:
  void bindQuery(uint64_t id, DnsQuery* handle) override {
    for (Call& c : calls_) {
      if (c.id == id) c.handle = handle;
    }
  }
  void cancelQuery(uint64_t id) override {
    for (auto it = calls_.begin(); it != calls_.end(); ++it) {
      if (it->id == id) {
        calls_.erase(it);
        ++cancelled_;
        return;
      }
    }
  }

  std::deque<Call> calls_;
  uint64_t next_id_ = 1;
  int lookups_ = 0;
  int cancelled_ = 0;
};

struct Change {
  std::vector<std::string> now;
  std::vector<std::string> added;
  std::vector<std::string> removed;
};

class DnsNameWatcherTest : public ::testing::Test {
 protected:
  DnsNameWatcherTest() {
    watcher_ = std::make_unique<DnsNameWatcher>(
        dispatcher_, lookup_, "api.test", 8080, config(),
        [this](const std::vector<SocketAddress>& now, const AddressDiff& diff) {
          changes_.push_back({texts(now), texts(diff.added), texts(diff.removed)});
        });
  }

  test::QuietLogs quiet_;
  common::SimulatedTimeSource time_;
  event::SimulatedDispatcher dispatcher_{time_};
  FakeLookup lookup_;
  std::vector<Change> changes_;
  std::unique_ptr<DnsNameWatcher> watcher_;
};

TEST_F(DnsNameWatcherTest, LooksUpOnStartThenWhenTheTtlRunsOut) {
  EXPECT_EQ(lookup_.inFlight(), 0u);
  watcher_->start();
  ASSERT_EQ(lookup_.inFlight(), 1u);
  EXPECT_EQ(lookup_.front().name, "api.test");
  EXPECT_EQ(lookup_.front().port, 8080);
  EXPECT_TRUE(watcher_->lookupInFlight());
  lookup_.answer(ok({addr("10.0.0.1", 8080)}, 5s));
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].now, std::vector<std::string>{"10.0.0.1:8080"});
  EXPECT_EQ(changes_[0].added, std::vector<std::string>{"10.0.0.1:8080"});
  EXPECT_FALSE(watcher_->lookupInFlight());

  dispatcher_.advance(4999ms);
  EXPECT_EQ(lookup_.inFlight(), 0u);
  dispatcher_.advance(1ms);
  EXPECT_EQ(lookup_.inFlight(), 1u);
  EXPECT_EQ(lookup_.lookups(), 2);
}

TEST_F(DnsNameWatcherTest, AnUnchangedAnswerCallsNobody) {
  watcher_->start();
  lookup_.answer(ok({addr("10.0.0.1", 8080), addr("10.0.0.2", 8080)}, 1s));
  dispatcher_.advance(1s);
  lookup_.answer(ok({addr("10.0.0.2", 8080), addr("10.0.0.1", 8080)}, 1s));
  EXPECT_EQ(changes_.size(), 1u);
  EXPECT_EQ(watcher_->refresh().counts().no_change, 1u);
}

TEST_F(DnsNameWatcherTest, AChangedAnswerCallsBackWithTheDiff) {
  watcher_->start();
  lookup_.answer(ok({addr("10.0.0.1", 8080), addr("10.0.0.2", 8080)}, 1s));
  dispatcher_.advance(1s);
  lookup_.answer(ok({addr("10.0.0.2", 8080), addr("fd00::1", 8080)}, 1s));
  ASSERT_EQ(changes_.size(), 2u);
  EXPECT_EQ(changes_[1].now, (std::vector<std::string>{"10.0.0.2:8080", "[fd00::1]:8080"}));
  EXPECT_EQ(changes_[1].added, std::vector<std::string>{"[fd00::1]:8080"});
  EXPECT_EQ(changes_[1].removed, std::vector<std::string>{"10.0.0.1:8080"});
}

TEST_F(DnsNameWatcherTest, FailuresKeepTheAddressesAndAreRetriedWithBackoff) {
  watcher_->start();
  lookup_.answer(ok({addr("10.0.0.1", 8080)}, 30s));
  dispatcher_.advance(30s);
  lookup_.answer(failed());
  EXPECT_EQ(watcher_->refresh().state(), DnsNameState::Stale);
  // Looked up again after 1 s, 2 s, 4 s, 8 s, 8 s.
  for (milliseconds delay : {1000ms, 2000ms, 4000ms, 8000ms, 8000ms}) {
    dispatcher_.advance(delay - 1ms);
    EXPECT_EQ(lookup_.inFlight(), 0u) << delay.count();
    dispatcher_.advance(1ms);
    ASSERT_EQ(lookup_.inFlight(), 1u) << delay.count();
    lookup_.answer(failed());
  }
  EXPECT_EQ(changes_.size(), 1u);
  EXPECT_EQ(watcher_->refresh().addresses().size(), 1u);
  dispatcher_.advance(8s);
  lookup_.answer(ok({addr("10.0.0.1", 8080)}, 30s));
  EXPECT_EQ(watcher_->refresh().state(), DnsNameState::Resolved);
  EXPECT_EQ(changes_.size(), 1u);
}

TEST_F(DnsNameWatcherTest, ANameThatNeverResolvedHasNoAddresses) {
  watcher_->start();
  lookup_.answer(failed(DnsStatus::NoSuchName));
  EXPECT_EQ(watcher_->refresh().state(), DnsNameState::Unresolved);
  EXPECT_TRUE(changes_.empty());
  const nlohmann::json j = watcher_->toJson();
  EXPECT_EQ(j["state"], "unresolved");
  EXPECT_EQ(j["addresses"], nlohmann::json::array());
  EXPECT_EQ(j["last_result"]["status"], "no_such_name");
  EXPECT_FALSE(j.contains("last_success"));
}

TEST_F(DnsNameWatcherTest, LookupNowStartsNoSecondLookup) {
  watcher_->start();
  watcher_->lookupNow();
  EXPECT_EQ(lookup_.lookups(), 1);
  lookup_.answer(ok({addr("10.0.0.1", 8080)}, 30s));
  watcher_->lookupNow();
  EXPECT_EQ(lookup_.lookups(), 2);
  lookup_.answer(ok({addr("10.0.0.1", 8080)}, 30s));
  // The refresh was rescheduled from the latest answer.
  dispatcher_.advance(29s);
  EXPECT_EQ(lookup_.lookups(), 2);
  dispatcher_.advance(1s);
  EXPECT_EQ(lookup_.lookups(), 3);
}

TEST_F(DnsNameWatcherTest, DestroyingTheWatcherCancelsItsLookupAndTimer) {
  watcher_->start();
  watcher_.reset();
  EXPECT_EQ(lookup_.cancelled(), 1);
  EXPECT_EQ(lookup_.inFlight(), 0u);
  EXPECT_EQ(dispatcher_.pendingTimers(), 0u);
}

TEST_F(DnsNameWatcherTest, TheWatcherMayBeDestroyedFromItsCallback) {
  std::unique_ptr<DnsNameWatcher> watcher;
  int calls = 0;
  watcher =
      std::make_unique<DnsNameWatcher>(dispatcher_, lookup_, "api.test", 8080, config(),
                                       [&](const std::vector<SocketAddress>&, const AddressDiff&) {
                                         ++calls;
                                         watcher.reset();
                                       });
  watcher->start();
  lookup_.answer(ok({addr("10.0.0.1", 8080)}));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(watcher, nullptr);
  EXPECT_EQ(dispatcher_.pendingTimers(), 0u);
}

TEST_F(DnsNameWatcherTest, ToJsonShowsTheState) {
  watcher_->start();
  EXPECT_EQ(watcher_->toJson()["lookup_in_flight"], true);
  lookup_.answer(ok({addr("10.0.0.1", 8080), addr("fd00::1", 8080)}, 10s));
  dispatcher_.advance(10s);
  DnsResult partial = failed();
  lookup_.answer(partial);
  dispatcher_.advance(300ms);
  const nlohmann::json j = watcher_->toJson();
  EXPECT_EQ(j["name"], "api.test");
  EXPECT_EQ(j["port"], 8080);
  EXPECT_EQ(j["state"], "stale");
  EXPECT_EQ(j["addresses"], nlohmann::json::array({"10.0.0.1:8080", "[fd00::1]:8080"}));
  EXPECT_EQ(j["consecutive_failures"], 1);
  EXPECT_EQ(j["results"]["success"], 1);
  EXPECT_EQ(j["results"]["no_change"], 0);
  EXPECT_EQ(j["results"]["failure"], 1);
  EXPECT_EQ(j["last_result"]["status"], "timeout");
  EXPECT_EQ(j["last_result"]["message"], "no answer");
  EXPECT_EQ(j["last_result"]["ago"], "300ms");
  EXPECT_EQ(j["last_success"]["ttl"], "10s");
  EXPECT_EQ(j["last_success"]["ago"], "10300ms");
  EXPECT_EQ(j["next_lookup_in"], "700ms");
  EXPECT_EQ(j["lookup_in_flight"], false);
}

}  // namespace
}  // namespace switchyard::upstream
