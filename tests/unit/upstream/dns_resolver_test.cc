#include "proxy/upstream/dns_resolver.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <event2/event.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "proxy/common/time.h"
#include "proxy/event/dispatcher.h"
#include "proxy/upstream/dns_refresh.h"
#include "tests/support/dnsmasq.h"
#include "tests/support/quiet_logs.h"
#include "tests/support/run_loop.h"

namespace switchyard::upstream {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using common::SocketAddress;
using std::chrono::milliseconds;

std::vector<std::string> texts(const std::vector<SocketAddress>& addresses) {
  std::vector<std::string> out;
  for (const SocketAddress& a : addresses) out.push_back(a.text);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<test::Dnsmasq::Record> records() {
  return {{"both.test", "10.0.0.1"},
          {"both.test", "10.0.0.2"},
          {"both.test", "fd00::1"},
          {"v4.test", "10.0.0.3"},
          {"v6.test", "fd00::3"}};
}

// A DNS server on the test's own loop that answers A queries with one record and never answers
// AAAA queries: the IPv6 half of a lookup times out while the IPv4 half has its answer.
class HalfDeafServer {
 public:
  explicit HalfDeafServer(event::LibeventDispatcher& dispatcher) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot bind a UDP socket on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
    ev_.reset(
        event_new(dispatcher.base(), fd_, EV_READ | EV_PERSIST, &HalfDeafServer::onRead, this));
    event_add(ev_.get(), nullptr);
  }
  ~HalfDeafServer() {
    ev_.reset();
    ::close(fd_);
  }

  uint16_t port() const { return port_; }
  int ignored() const { return ignored_; }

 private:
  static void onRead(int fd, short, void* arg) noexcept {
    auto* self = static_cast<HalfDeafServer*>(arg);
    unsigned char buf[512];
    sockaddr_in from{};
    socklen_t from_len = sizeof(from);
    const ssize_t n =
        ::recvfrom(fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < NS_HFIXEDSZ) return;
    size_t p = NS_HFIXEDSZ;
    while (p < static_cast<size_t>(n) && buf[p] != 0) p += buf[p] + 1u;
    if (p + 5 > static_cast<size_t>(n)) return;
    const int type = (buf[p + 1] << 8) | buf[p + 2];
    const size_t question_end = p + 5;
    if (type != ns_t_a) {
      ++self->ignored_;
      return;
    }
    // The query's header and question, then one A record: 10.0.0.7, TTL 300.
    std::vector<unsigned char> reply(buf, buf + question_end);
    reply[2] = 0x81;  // QR, RD
    reply[3] = 0x80;  // RA, NOERROR
    reply[6] = 0;
    reply[7] = 1;  // ANCOUNT
    std::fill(reply.begin() + 8, reply.begin() + 12, 0);
    const unsigned char record[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 10, 0, 0, 7};
    reply.insert(reply.end(), std::begin(record), std::end(record));
    ::sendto(fd, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  int ignored_ = 0;
  event::EventPtr ev_;
};

class DnsResolverTest : public ::testing::Test {
 protected:
  DnsConfig config(milliseconds timeout = 2s, uint32_t attempts = 2) const {
    return configFor(dns_.port(), timeout, attempts);
  }
  static DnsConfig configFor(uint16_t port, milliseconds timeout, uint32_t attempts) {
    DnsConfig c;
    SocketAddress server;
    EXPECT_TRUE(common::parseSocketAddress("127.0.0.1:" + std::to_string(port), server));
    c.resolvers = {server};
    c.timeout = timeout;
    c.attempts = attempts;
    return c;
  }

  // One lookup, run on the loop until it is answered (at most 5 s).
  DnsResult resolve(DnsResolver& resolver, const std::string& name, uint16_t port = 8080) {
    std::optional<DnsResult> result;
    DnsQuery query =
        resolver.resolve(name, port, [&](DnsResult r) { result.emplace(std::move(r)); });
    EXPECT_TRUE(test::runLoopUntil(
        dispatcher_, [&] { return result.has_value(); }, 5s))
        << name;
    if (!result) return DnsResult{};
    EXPECT_FALSE(query.pending());
    return std::move(*result);
  }

  test::QuietLogs quiet_;
  common::RealTimeSource time_;
  event::LibeventDispatcher dispatcher_{time_};
  test::Dnsmasq dns_{records(), std::chrono::seconds(42)};
};

TEST_F(DnsResolverTest, UsesTheConfiguredResolvers) {
  DnsResolver resolver(dispatcher_, config());
  EXPECT_EQ(resolver.servers(), std::vector<std::string>{dns_.address()});
  DnsConfig two = config();
  SocketAddress v6;
  ASSERT_TRUE(common::parseSocketAddress("[::1]:5353", v6));
  two.resolvers.push_back(v6);
  DnsResolver both(dispatcher_, two);
  EXPECT_EQ(both.servers(), (std::vector<std::string>{dns_.address(), "[::1]:5353"}));
}

TEST_F(DnsResolverTest, WithoutResolversUsesTheSystemConfiguration) {
  // Only set up: the system's servers are not for tests to query.
  DnsResolver resolver(dispatcher_, DnsConfig{});
  EXPECT_FALSE(resolver.servers().empty());
  EXPECT_EQ(texts(resolve(resolver, "localhost").addresses),
            std::vector<std::string>{"127.0.0.1:8080"});
}

TEST_F(DnsResolverTest, ResolvesBothFamilies) {
  DnsResolver resolver(dispatcher_, config());
  const DnsResult r = resolve(resolver, "both.test", 8080);
  EXPECT_EQ(r.status, DnsStatus::Ok) << r.message;
  EXPECT_EQ(r.message, "");
  EXPECT_FALSE(r.literal);
  EXPECT_EQ(texts(r.addresses),
            (std::vector<std::string>{"10.0.0.1:8080", "10.0.0.2:8080", "[fd00::1]:8080"}));
  for (const SocketAddress& a : r.addresses) EXPECT_EQ(a.port, 8080);
  // IPv4 first.
  ASSERT_EQ(r.addresses.size(), 3u);
  EXPECT_EQ(r.addresses[2].host, "fd00::1");
}

TEST_F(DnsResolverTest, ANameWithIpv4OnlyResolves) {
  DnsResolver resolver(dispatcher_, config());
  const DnsResult r = resolve(resolver, "v4.test");
  EXPECT_EQ(r.status, DnsStatus::Ok) << r.message;
  EXPECT_EQ(texts(r.addresses), std::vector<std::string>{"10.0.0.3:8080"});
  EXPECT_EQ(r.message, "");  // no AAAA records is not worth a word
}

TEST_F(DnsResolverTest, ANameWithIpv6OnlyResolves) {
  DnsResolver resolver(dispatcher_, config());
  const DnsResult r = resolve(resolver, "v6.test", 443);
  EXPECT_EQ(r.status, DnsStatus::Ok) << r.message;
  EXPECT_EQ(texts(r.addresses), std::vector<std::string>{"[fd00::3]:443"});
  EXPECT_EQ(r.message, "");
}

TEST_F(DnsResolverTest, ReportsTheRecordTtl) {
  DnsResolver resolver(dispatcher_, config());
  EXPECT_EQ(resolve(resolver, "both.test").ttl, std::chrono::seconds(42));
  EXPECT_EQ(resolve(resolver, "v6.test").ttl, std::chrono::seconds(42));
}

TEST_F(DnsResolverTest, AnUnknownNameIsNoSuchName) {
  DnsResolver resolver(dispatcher_, config());
  const DnsResult r = resolve(resolver, "missing.test");
  EXPECT_EQ(r.status, DnsStatus::NoSuchName) << r.message;
  EXPECT_TRUE(r.addresses.empty());
  EXPECT_FALSE(r.message.empty());
}

TEST_F(DnsResolverTest, ARefusedQueryIsAServerFailure) {
  DnsResolver resolver(dispatcher_, config());
  const DnsResult r = resolve(resolver, "api.example.com");
  EXPECT_EQ(r.status, DnsStatus::ServerFailure) << r.message;
  EXPECT_TRUE(r.addresses.empty());
}

TEST_F(DnsResolverTest, SeesNewAnswersOnceTheRecordsChange) {
  DnsResolver resolver(dispatcher_, config());
  EXPECT_EQ(texts(resolve(resolver, "v4.test").addresses),
            std::vector<std::string>{"10.0.0.3:8080"});
  dns_.setRecords({{"v4.test", "10.0.0.4"}, {"v4.test", "10.0.0.5"}, {"new.test", "fd00::9"}});
  EXPECT_EQ(texts(resolve(resolver, "v4.test").addresses),
            (std::vector<std::string>{"10.0.0.4:8080", "10.0.0.5:8080"}));
  EXPECT_EQ(texts(resolve(resolver, "new.test").addresses),
            std::vector<std::string>{"[fd00::9]:8080"});
  EXPECT_EQ(resolve(resolver, "both.test").status, DnsStatus::NoSuchName);
}

TEST_F(DnsResolverTest, LiteralsAndLocalhostNeedNoQuery) {
  // Nothing would answer a query in time.
  dns_.pause();
  DnsResolver resolver(dispatcher_, config(5s, 1));
  const auto start = Clock::now();
  const std::vector<std::pair<std::string, std::string>> cases = {{"10.1.2.3", "10.1.2.3:80"},
                                                                  {"::1", "[::1]:80"},
                                                                  {"[fd00::0009]", "[fd00::9]:80"},
                                                                  {"localhost", "127.0.0.1:80"},
                                                                  {"LocalHost.", "127.0.0.1:80"}};
  for (const auto& [name, expected] : cases) {
    std::optional<DnsResult> result;
    DnsQuery q = resolver.resolve(name, 80, [&](DnsResult r) { result.emplace(std::move(r)); });
    EXPECT_FALSE(result) << name << ": answered from inside resolve()";
    ASSERT_TRUE(test::runLoopUntil(
        dispatcher_, [&] { return result.has_value(); }, 1s))
        << name;
    EXPECT_EQ(result->status, DnsStatus::Ok) << name;
    EXPECT_TRUE(result->literal) << name;
    EXPECT_EQ(texts(result->addresses), std::vector<std::string>{expected}) << name;
  }
  EXPECT_LT(Clock::now() - start, 1s);
  dns_.resume();
}

TEST_F(DnsResolverTest, AMalformedNameFailsFromALaterTurn) {
  DnsResolver resolver(dispatcher_, config());
  for (const std::string& name : {std::string(), std::string(64, 'a') + ".test"}) {
    bool called = false;
    DnsQuery q = resolver.resolve(name, 80, [&](DnsResult r) {
      called = true;
      EXPECT_EQ(r.status, DnsStatus::Error) << r.message;
    });
    EXPECT_FALSE(called);
    EXPECT_TRUE(test::runLoopUntil(
        dispatcher_, [&] { return called; }, 1s))
        << name;
  }
}

TEST_F(DnsResolverTest, APausedServerTimesOutWithinTheTimeoutAndTheLoopKeepsTurning) {
  dns_.pause();
  DnsResolver resolver(dispatcher_, config(600ms, 2));
  // A timer on the same loop every 10 ms: a resolver that blocked would leave a gap.
  std::vector<Clock::time_point> ticks;
  event::TimerPtr tick;
  tick = dispatcher_.createTimer([&] {
    ticks.push_back(Clock::now());
    tick->enable(10ms);
  });
  tick->enable(10ms);
  const auto start = Clock::now();
  std::optional<DnsResult> result;
  DnsQuery q =
      resolver.resolve("both.test", 80, [&](DnsResult r) { result.emplace(std::move(r)); });
  ASSERT_TRUE(test::runLoopUntil(
      dispatcher_, [&] { return result.has_value(); }, 5s));
  const auto elapsed = Clock::now() - start;
  dns_.resume();
  EXPECT_EQ(result->status, DnsStatus::Timeout) << result->message;
  EXPECT_GE(elapsed, 550ms);
  EXPECT_LT(elapsed, 1500ms);
  ASSERT_GE(ticks.size(), 10u);
  Clock::duration longest{0};
  for (size_t i = 1; i < ticks.size(); ++i) longest = std::max(longest, ticks[i] - ticks[i - 1]);
  EXPECT_LT(longest, 250ms);
  EXPECT_EQ(resolver.pendingLookups(), 0u);
}

TEST_F(DnsResolverTest, AStoppedServerFailsBeforeTheTimeout) {
  dns_.stop();
  DnsResolver resolver(dispatcher_, config(3s, 2));
  const auto start = Clock::now();
  const DnsResult r = resolve(resolver, "both.test");
  // Nothing listens: the kernel refuses each try at once.
  EXPECT_EQ(r.status, DnsStatus::ServerFailure) << r.message;
  EXPECT_LT(Clock::now() - start, 1s);
}

TEST_F(DnsResolverTest, OneFamilyTimingOutWhileTheOtherAnswersIsASuccess) {
  HalfDeafServer server(dispatcher_);
  DnsResolver resolver(dispatcher_, configFor(server.port(), 300ms, 1));
  const auto start = Clock::now();
  const DnsResult r = resolve(resolver, "half.test");
  EXPECT_GE(Clock::now() - start, 250ms);
  EXPECT_EQ(r.status, DnsStatus::Ok) << r.message;
  EXPECT_EQ(texts(r.addresses), std::vector<std::string>{"10.0.0.7:8080"});
  EXPECT_EQ(r.ttl, std::chrono::seconds(300));
  EXPECT_EQ(r.message.rfind("AAAA: ", 0), 0u) << r.message;
  EXPECT_GE(server.ignored(), 1);
}

TEST_F(DnsResolverTest, ManyLookupsAtOnce) {
  DnsResolver resolver(dispatcher_, config());
  const std::vector<std::string> names = {"both.test", "v4.test", "v6.test", "missing.test"};
  std::vector<DnsQuery> queries;
  std::vector<std::optional<DnsResult>> results(40);
  for (size_t i = 0; i < results.size(); ++i) {
    queries.push_back(resolver.resolve(names[i % names.size()], 80,
                                       [&results, i](DnsResult r) { results[i] = std::move(r); }));
  }
  ASSERT_TRUE(test::runLoopUntil(
      dispatcher_,
      [&] { return std::all_of(results.begin(), results.end(), [](auto& r) { return !!r; }); },
      5s));
  for (size_t i = 0; i < results.size(); ++i) {
    const size_t expected = std::vector<size_t>{3, 1, 1, 0}[i % names.size()];
    EXPECT_EQ(results[i]->addresses.size(), expected) << names[i % names.size()];
  }
  EXPECT_EQ(resolver.pendingLookups(), 0u);
}

TEST_F(DnsResolverTest, ACancelledLookupNeverCallsBack) {
  DnsResolver resolver(dispatcher_, config());
  int cancelled_calls = 0;
  DnsQuery cancelled = resolver.resolve("both.test", 80, [&](DnsResult) { ++cancelled_calls; });
  EXPECT_TRUE(cancelled.pending());
  cancelled.cancel();
  EXPECT_FALSE(cancelled.pending());
  {
    DnsQuery dropped = resolver.resolve("v4.test", 80, [&](DnsResult) { ++cancelled_calls; });
  }
  DnsQuery literal = resolver.resolve("10.0.0.1", 80, [&](DnsResult) { ++cancelled_calls; });
  literal.cancel();
  // Asked after them, answered after them.
  EXPECT_EQ(resolve(resolver, "v6.test").status, DnsStatus::Ok);
  EXPECT_EQ(resolve(resolver, "v4.test").status, DnsStatus::Ok);
  EXPECT_EQ(cancelled_calls, 0);
  EXPECT_EQ(resolver.pendingLookups(), 0u);
}

TEST_F(DnsResolverTest, AHandleCanBeMoved) {
  DnsResolver resolver(dispatcher_, config());
  std::optional<DnsResult> result;
  DnsQuery first = resolver.resolve("v4.test", 80, [&](DnsResult r) { result = std::move(r); });
  DnsQuery second = std::move(first);
  EXPECT_FALSE(first.pending());
  EXPECT_TRUE(second.pending());
  std::vector<DnsQuery> moved;
  moved.push_back(std::move(second));
  ASSERT_TRUE(test::runLoopUntil(
      dispatcher_, [&] { return result.has_value(); }, 5s));
  EXPECT_FALSE(moved[0].pending());
  // Assigning over a pending handle cancels its lookup.
  int calls = 0;
  DnsQuery a = resolver.resolve("v4.test", 80, [&](DnsResult) { ++calls; });
  a = resolver.resolve("v6.test", 80, [&](DnsResult) { calls += 10; });
  ASSERT_TRUE(test::runLoopUntil(
      dispatcher_, [&] { return calls != 0; }, 5s));
  EXPECT_EQ(calls, 10);
}

TEST_F(DnsResolverTest, ACallbackMayStartAnotherLookup) {
  DnsResolver resolver(dispatcher_, config());
  DnsQuery second;
  std::optional<DnsResult> result;
  DnsQuery first = resolver.resolve("v4.test", 80, [&](DnsResult) {
    second = resolver.resolve("v6.test", 80, [&](DnsResult r) { result = std::move(r); });
  });
  ASSERT_TRUE(test::runLoopUntil(
      dispatcher_, [&] { return result.has_value(); }, 5s));
  EXPECT_EQ(texts(result->addresses), std::vector<std::string>{"[fd00::3]:80"});
}

TEST_F(DnsResolverTest, DestroyingTheResolverWithLookupsInFlightCallsNobody) {
  dns_.pause();
  int calls = 0;
  std::vector<DnsQuery> queries;
  {
    DnsResolver resolver(dispatcher_, config(2s, 1));
    for (const char* name : {"both.test", "v4.test", "10.0.0.1", "missing.test"}) {
      queries.push_back(resolver.resolve(name, 80, [&](DnsResult) { ++calls; }));
    }
    // The queries are out on the resolver's socket.
    EXPECT_EQ(resolver.pendingLookups(), 4u);
  }
  for (const DnsQuery& q : queries) EXPECT_FALSE(q.pending());
  dns_.resume();
  // Its answers to the queries (sent before this one's) reach a closed socket, and a turn of
  // the loop finds nothing of the resolver (under ASan: no event pointing at freed memory).
  EXPECT_TRUE(dns_.query("v4.test", ns_t_a, 1s).has_value());
  event_base_loop(dispatcher_.base(), EVLOOP_NONBLOCK);
  EXPECT_EQ(calls, 0);
  queries.clear();  // handles outliving their resolver are harmless
}

TEST_F(DnsResolverTest, AWatcherFollowsTheRecords) {
  DnsConfig c = config();
  // Far below the TTL: the watcher looks again every 20 ms.
  c.refresh = 20ms;
  c.min_refresh = 20ms;
  DnsResolver resolver(dispatcher_, c);
  std::vector<AddressDiff> diffs;
  DnsNameWatcher watcher(
      dispatcher_, resolver, "v4.test", 9000, c,
      [&](const std::vector<SocketAddress>&, const AddressDiff& diff) { diffs.push_back(diff); });
  watcher.start();
  ASSERT_TRUE(test::runLoopUntil(
      dispatcher_, [&] { return diffs.size() == 1; }, 5s));
  EXPECT_EQ(texts(diffs[0].added), std::vector<std::string>{"10.0.0.3:9000"});
  dns_.setRecords({{"v4.test", "10.0.0.3"}, {"v4.test", "fd00::4"}});
  ASSERT_TRUE(test::runLoopUntil(
      dispatcher_, [&] { return diffs.size() == 2; }, 5s));
  EXPECT_EQ(texts(diffs[1].added), std::vector<std::string>{"[fd00::4]:9000"});
  EXPECT_TRUE(diffs[1].removed.empty());
  EXPECT_EQ(texts(diffs[1].kept), std::vector<std::string>{"10.0.0.3:9000"});
  EXPECT_EQ(watcher.refresh().state(), DnsNameState::Resolved);
  EXPECT_GE(watcher.refresh().counts().success, 2u);
}

}  // namespace
}  // namespace switchyard::upstream
