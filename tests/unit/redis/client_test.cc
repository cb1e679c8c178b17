#include "proxy/redis/client.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "proxy/common/socket_address.h"
#include "proxy/common/time.h"
#include "proxy/event/dispatcher.h"
#include "tests/support/process.h"
#include "tests/support/quiet_logs.h"
#include "tests/support/redis_server.h"
#include "tests/support/run_loop.h"

namespace switchyard::redis {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int listenOnLoopback(uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd, 16) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  port = ntohs(addr.sin_port);
  return fd;
}

// A socket that listens and never accepts: the kernel completes the TCP handshakes, so a client
// connects, and its commands are never answered.
class SilentServer {
 public:
  SilentServer() : fd_(listenOnLoopback(port_)) {}
  ~SilentServer() { ::close(fd_); }
  uint16_t port() const { return port_; }

 private:
  uint16_t port_ = 0;
  int fd_;
};

// Removes the complete RESP commands at the front of `buf`; returns how many there were.
int takeCommands(std::string& buf) {
  int count = 0;
  size_t pos = 0;
  while (pos < buf.size() && buf[pos] == '*') {
    size_t p = buf.find("\r\n", pos);
    if (p == std::string::npos) break;
    const long args = std::strtol(buf.c_str() + pos + 1, nullptr, 10);
    p += 2;
    bool complete = true;
    for (long i = 0; i < args && complete; ++i) {
      const size_t eol = p < buf.size() && buf[p] == '$' ? buf.find("\r\n", p) : std::string::npos;
      if (eol == std::string::npos) {
        complete = false;
        break;
      }
      p = eol + 2 + static_cast<size_t>(std::strtol(buf.c_str() + p + 1, nullptr, 10)) + 2;
      complete = p <= buf.size();
    }
    if (!complete) break;
    pos = p;
    ++count;
  }
  buf.erase(0, pos);
  return count;
}

// A Redis stand-in on the test's own loop, for replies that come late: it answers each command
// with ":<n>" (n counts the commands), `delay` after it arrived, in order. One connection.
class SlowServer {
 public:
  SlowServer(event::LibeventDispatcher& dispatcher, std::chrono::milliseconds delay)
      : dispatcher_(dispatcher), delay_(delay), listen_fd_(listenOnLoopback(port_)) {
    accept_.reset(event_new(dispatcher.base(), listen_fd_, EV_READ | EV_PERSIST,
                            &SlowServer::onAccept, this));
    event_add(accept_.get(), nullptr);
    timer_ = dispatcher.createTimer([this] { answerDue(); });
  }
  ~SlowServer() {
    read_.reset();
    accept_.reset();
    if (conn_fd_ >= 0) ::close(conn_fd_);
    ::close(listen_fd_);
  }

  uint16_t port() const { return port_; }
  void setDelay(std::chrono::milliseconds delay) { delay_ = delay; }
  int answered() const { return answered_; }

 private:
  static void onAccept(int fd, short, void* arg) noexcept {
    auto* self = static_cast<SlowServer*>(arg);
    const int conn = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn < 0) return;
    self->read_.reset();
    if (self->conn_fd_ >= 0) ::close(self->conn_fd_);
    self->conn_fd_ = conn;
    self->read_.reset(
        event_new(self->dispatcher_.base(), conn, EV_READ | EV_PERSIST, &SlowServer::onRead, self));
    event_add(self->read_.get(), nullptr);
  }

  static void onRead(int fd, short, void* arg) noexcept {
    auto* self = static_cast<SlowServer*>(arg);
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) {
      self->read_.reset();
      return;
    }
    self->input_.append(buf, static_cast<size_t>(n));
    const auto due = Clock::now() + self->delay_;
    for (int i = takeCommands(self->input_); i > 0; --i) self->due_.push_back(due);
    self->answerDue();
  }

  void answerDue() {
    while (!due_.empty() && due_.front() <= Clock::now()) {
      due_.pop_front();
      const std::string reply = ":" + std::to_string(++answered_) + "\r\n";
      if (::write(conn_fd_, reply.data(), reply.size()) < 0) return;
    }
    if (!due_.empty()) {
      timer_->enable(std::chrono::ceil<std::chrono::milliseconds>(due_.front() - Clock::now()));
    }
  }

  event::LibeventDispatcher& dispatcher_;
  std::chrono::milliseconds delay_;
  uint16_t port_ = 0;
  int listen_fd_;
  int conn_fd_ = -1;
  event::EventPtr accept_;
  event::EventPtr read_;
  event::TimerPtr timer_;
  std::string input_;
  std::deque<Clock::time_point> due_;
  int answered_ = 0;
};

class RedisClientTest : public ::testing::Test {
 protected:
  // hiredis writes with write(2): a peer that went away would raise SIGPIPE (the server ignores
  // it the same way).
  static void SetUpTestSuite() { std::signal(SIGPIPE, SIG_IGN); }

  RedisConfig config(uint16_t port) const {
    RedisConfig c;
    common::parseSocketAddress("127.0.0.1:" + std::to_string(port), c.address);
    c.timeout = 2s;
    c.connect_timeout = 2s;
    c.failures_before_cooldown = 3;
    c.cooldown = 200ms;
    c.reconnect_base = 10ms;
    c.reconnect_max = 50ms;
    return c;
  }

  void start(const RedisConfig& c) {
    client_ = std::make_unique<Client>(dispatcher_, random_, c, stats_, status_, 0);
  }

  // Runs the loop until `done` or `timeout`, never longer.
  bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
    return test::runLoopUntil(dispatcher_, done, timeout);
  }
  bool connected(Client* client = nullptr) {
    Client& c = client != nullptr ? *client : *client_;
    return runUntil([&c] { return c.state() == ClientState::Connected; });
  }

  // Results land in results_, which outlives every client of the test.
  Callback record() {
    return [this](Result r) { results_.push_back(std::move(r)); };
  }
  Request issue(std::vector<std::string> argv, Client* client = nullptr) {
    return (client != nullptr ? *client : *client_).command(std::move(argv), record());
  }
  // Issues one command and runs the loop until its callback.
  Result call(std::vector<std::string> argv, Client* client = nullptr) {
    const size_t before = results_.size();
    Request request = issue(std::move(argv), client);
    return wait(request, before);
  }
  Result evalCall(const Script& script, const std::vector<std::string>& keys,
                  const std::vector<std::string>& args) {
    const size_t before = results_.size();
    Request request = client_->eval(script, keys, args, record());
    return wait(request, before);
  }
  Result wait(Request& request, size_t before) {
    if (!runUntil([&] { return results_.size() > before; })) {
      request.cancel();
      Result r;
      r.error = ErrorKind::Timeout;
      r.message = "test: no callback within 5s";
      return r;
    }
    EXPECT_EQ(results_.size(), before + 1);
    return results_.back();
  }

  double errors(const std::string& kind) { return stats_.errors.Add({{"kind", kind}}).Value(); }
  double connectedGauge() { return stats_.connected.Add({{"worker", "0"}}).Value(); }

  test::QuietLogs quiet_;
  common::RealTimeSource time_;
  event::LibeventDispatcher dispatcher_{time_};
  common::SeededRandom random_{11};
  prometheus::Registry registry_;
  RedisStats stats_{registry_};
  ClientStatus status_;
  std::vector<Result> results_;
  int unexpected_calls_ = 0;
  Request victim_;
  std::unique_ptr<Client> client_;
};

TEST_F(RedisClientTest, SetAndGet) {
  test::RedisServer redis;
  start(config(redis.port()));
  ASSERT_TRUE(connected());
  EXPECT_EQ(status_.read().state, ClientState::Connected);
  EXPECT_EQ(connectedGauge(), 1);

  const std::string binary("hi\0there\r\n", 10);
  Result set = call({"SET", "greeting", binary});
  ASSERT_TRUE(set.ok()) << set.message;
  EXPECT_EQ(set.value.type, Value::Type::Status);
  EXPECT_EQ(set.value.string, "OK");
  Result get = call({"GET", "greeting"});
  ASSERT_TRUE(get.ok()) << get.message;
  EXPECT_EQ(get.value.type, Value::Type::String);
  EXPECT_EQ(get.value.string, binary);
  EXPECT_TRUE(call({"GET", "missing"}).value.isNil());
  EXPECT_EQ(call({"INCRBY", "n", "41"}).value.integer, 41);
  ASSERT_TRUE(call({"RPUSH", "list", "a", "b"}).ok());
  Result range = call({"LRANGE", "list", "0", "-1"});
  ASSERT_EQ(range.value.type, Value::Type::Array);
  ASSERT_EQ(range.value.array.size(), 2u);
  EXPECT_EQ(range.value.array[1].string, "b");

  // An error reply is an answer: no failure towards the cooldown.
  Result wrong = call({"INCR", "greeting"});
  EXPECT_EQ(wrong.error, ErrorKind::ServerError);
  EXPECT_NE(wrong.message.find("ERR"), std::string::npos) << wrong.message;
  EXPECT_EQ(status_.read().consecutive_failures, 0u);
  EXPECT_EQ(errors("server_error"), 1);
  EXPECT_EQ(errors("timeout"), 0);

  const auto families = stats_.command_duration->Collect();
  ASSERT_EQ(families.size(), 1u);
  ASSERT_EQ(families[0].metric.size(), 1u);
  EXPECT_EQ(families[0].metric[0].histogram.sample_count, 7u);
}

TEST_F(RedisClientTest, PipelinedCommandsKeepTheirOrder) {
  test::RedisServer redis;
  start(config(redis.port()));
  ASSERT_TRUE(connected());
  constexpr int Count = 500;
  for (int i = 0; i < Count; ++i) issue({"INCR", "n"});
  ASSERT_TRUE(runUntil([&] { return results_.size() == Count; }));
  for (int i = 0; i < Count; ++i) {
    ASSERT_TRUE(results_[i].ok()) << results_[i].message;
    EXPECT_EQ(results_[i].value.integer, i + 1);
  }
}

TEST_F(RedisClientTest, CommandsIssuedWhileConnectingGoOutBehindTheHandshake) {
  test::RedisServer redis({.password = "pw"});
  RedisConfig c = config(redis.port());
  c.password = "pw";
  c.database = 2;
  start(c);
  ASSERT_EQ(client_->state(), ClientState::Connecting);
  issue({"SET", "k", "v"});
  issue({"CLIENT", "INFO"});
  ASSERT_TRUE(runUntil([&] { return results_.size() == 2; }));
  EXPECT_TRUE(results_[0].ok()) << results_[0].message;
  EXPECT_NE(results_[1].value.string.find(" db=2 "), std::string::npos) << results_[1].value.string;
}

TEST_F(RedisClientTest, EvalShaRecoversFromNoScript) {
  test::RedisServer redis;
  start(config(redis.port()));
  ASSERT_TRUE(connected());
  const Script incrby("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  Result loaded = call({"SCRIPT", "LOAD", incrby.lua()});
  ASSERT_TRUE(loaded.ok()) << loaded.message;
  EXPECT_EQ(loaded.value.string, incrby.sha1());

  Result first = evalCall(incrby, {"counter"}, {"5"});
  ASSERT_TRUE(first.ok()) << first.message;
  EXPECT_EQ(first.value.integer, 5);
  ASSERT_TRUE(call({"SCRIPT", "FLUSH"}).ok());
  Result second = evalCall(incrby, {"counter"}, {"2"});
  ASSERT_TRUE(second.ok()) << second.message;
  EXPECT_EQ(second.value.integer, 7);
  // The retry loaded it again: the next EVALSHA needs no retry.
  Result exists = call({"SCRIPT", "EXISTS", incrby.sha1()});
  ASSERT_EQ(exists.value.array.size(), 1u);
  EXPECT_EQ(exists.value.array[0].integer, 1);

  // Never loaded before.
  const Script echo("return {KEYS[1], ARGV[1], ARGV[2]}");
  Result echoed = evalCall(echo, {"k"}, {"a", "b"});
  ASSERT_TRUE(echoed.ok()) << echoed.message;
  ASSERT_EQ(echoed.value.array.size(), 3u);
  EXPECT_EQ(echoed.value.array[2].string, "b");

  // A script that does not compile: one retry, and its compile error.
  Result broken = evalCall(Script("return +"), {}, {});
  EXPECT_EQ(broken.error, ErrorKind::ServerError);
  EXPECT_NE(broken.message.find("compiling"), std::string::npos) << broken.message;
  EXPECT_EQ(status_.read().consecutive_failures, 0u);
}

TEST_F(RedisClientTest, AuthAndSelect) {
  test::RedisServer redis({.password = "s3cret"});
  RedisConfig c = config(redis.port());
  c.password = "s3cret";
  c.database = 3;
  start(c);
  ASSERT_TRUE(connected());
  ASSERT_TRUE(call({"SET", "where", "db3"}).ok());
  Result info = call({"CLIENT", "INFO"});
  EXPECT_NE(info.value.string.find(" db=3 "), std::string::npos) << info.value.string;

  // The ACL form (AUTH default <password>), database 0: the key is not there.
  RedisConfig acl = c;
  acl.username = "default";
  acl.database = 0;
  ClientStatus other_status;
  Client other(dispatcher_, random_, acl, stats_, other_status, 1);
  ASSERT_TRUE(connected(&other));
  EXPECT_TRUE(call({"GET", "where"}, &other).value.isNil());
  ASSERT_TRUE(call({"SELECT", "3"}, &other).ok());
  EXPECT_EQ(call({"GET", "where"}, &other).value.string, "db3");
}

TEST_F(RedisClientTest, AWrongPasswordNeverConnects) {
  test::RedisServer redis({.password = "s3cret"});
  RedisConfig c = config(redis.port());
  c.password = "guess";
  c.failures_before_cooldown = 0;
  start(c);
  ASSERT_TRUE(runUntil([&] { return errors("connect") >= 2; }));
  EXPECT_NE(client_->state(), ClientState::Connected);
  EXPECT_NE(status_.read().last_error.find("AUTH: WRONGPASS"), std::string::npos)
      << status_.read().last_error;
  const Result r = call({"PING"});
  EXPECT_TRUE(r.error == ErrorKind::Unavailable || r.error == ErrorKind::Disconnected)
      << errorKindName(r.error);
}

TEST_F(RedisClientTest, ATimeoutFiresWithinTheConfiguredTimeout) {
  SilentServer silent;
  RedisConfig c = config(silent.port());
  c.timeout = 50ms;
  start(c);
  ASSERT_TRUE(connected());
  const auto t0 = Clock::now();
  const Result r = call({"GET", "k"});
  const auto elapsed = Clock::now() - t0;
  EXPECT_EQ(r.error, ErrorKind::Timeout);
  EXPECT_GE(elapsed, 50ms);
  EXPECT_LT(elapsed, 400ms);
  EXPECT_EQ(errors("timeout"), 1);
  const ClientStatus::View status = status_.read();
  EXPECT_EQ(status.consecutive_failures, 1u);
  EXPECT_EQ(status.last_error, "no reply within 50ms");
  EXPECT_EQ(status.state, ClientState::Connected);
}

TEST_F(RedisClientTest, ALateReplyIsIgnored) {
  SlowServer slow(dispatcher_, 150ms);
  RedisConfig c = config(slow.port());
  c.timeout = 50ms;
  start(c);
  ASSERT_TRUE(connected());
  EXPECT_EQ(call({"INCR", "a"}).error, ErrorKind::Timeout);
  // The reply to the timed-out command arrives; nothing is waiting for it.
  ASSERT_TRUE(runUntil([&] { return slow.answered() == 1; }));
  slow.setDelay(0ms);
  const Result next = call({"INCR", "a"});
  ASSERT_TRUE(next.ok()) << next.message;
  EXPECT_EQ(next.value.integer, 2);
  EXPECT_EQ(results_.size(), 2u);
  EXPECT_EQ(status_.read().consecutive_failures, 0u);
}

TEST_F(RedisClientTest, FailuresInARowStartACooldown) {
  SilentServer silent;
  RedisConfig c = config(silent.port());
  c.timeout = 30ms;
  c.failures_before_cooldown = 2;
  c.cooldown = 300ms;
  start(c);
  ASSERT_TRUE(connected());
  EXPECT_EQ(call({"GET", "k"}).error, ErrorKind::Timeout);
  EXPECT_EQ(call({"GET", "k"}).error, ErrorKind::Timeout);
  EXPECT_EQ(client_->state(), ClientState::CoolingDown);
  EXPECT_EQ(status_.read().state, ClientState::CoolingDown);
  EXPECT_EQ(status_.read().consecutive_failures, 2u);
  EXPECT_EQ(connectedGauge(), 0);
  const auto cooling_since = Clock::now();

  // Answered at once, but never from inside command().
  const size_t before = results_.size();
  Request request = issue({"GET", "k"});
  EXPECT_EQ(results_.size(), before);
  const Result fast = wait(request, before);
  EXPECT_EQ(fast.error, ErrorKind::Unavailable);
  EXPECT_NE(fast.message.find("cooling down"), std::string::npos) << fast.message;
  EXPECT_LT(Clock::now() - cooling_since, 100ms);
  EXPECT_EQ(errors("unavailable"), 1);

  // Then a fresh connection, and the first failure starts another cooldown.
  ASSERT_TRUE(connected());
  EXPECT_GE(Clock::now() - cooling_since, 250ms);
  EXPECT_EQ(call({"GET", "k"}).error, ErrorKind::Timeout);
  EXPECT_EQ(client_->state(), ClientState::CoolingDown);
  EXPECT_EQ(status_.read().consecutive_failures, 3u);
}

TEST_F(RedisClientTest, ReconnectsAfterRedisRestarts) {
  test::RedisServer redis;
  RedisConfig c = config(redis.port());
  c.failures_before_cooldown = 2;
  c.cooldown = 300ms;
  start(c);
  const Script script("return 'loaded'");
  client_->loadScript(script);
  ASSERT_TRUE(connected());

  // A command blocked in Redis when it dies.
  ClientStatus observer_status;
  Client observer(dispatcher_, random_, c, stats_, observer_status, 1);
  ASSERT_TRUE(connected(&observer));
  const size_t blocked_at = results_.size();
  issue({"BLPOP", "queue", "10"});
  bool blocked = false;
  for (int i = 0; i < 1000 && !blocked; ++i) {
    const Result info = call({"INFO", "clients"}, &observer);
    blocked = info.value.string.find("blocked_clients:1") != std::string::npos;
  }
  ASSERT_TRUE(blocked);
  results_.resize(blocked_at);  // the observer's answers
  redis.kill();
  ASSERT_TRUE(runUntil([&] { return results_.size() > blocked_at; }));
  EXPECT_EQ(results_[blocked_at].error, ErrorKind::Disconnected) << results_[blocked_at].message;

  // The lost connection and a refused reconnect: two failures, a cooldown.
  ASSERT_TRUE(runUntil([&] { return client_->state() == ClientState::CoolingDown; }));
  const auto t0 = Clock::now();
  EXPECT_EQ(call({"GET", "k"}).error, ErrorKind::Unavailable);
  EXPECT_LT(Clock::now() - t0, 100ms);
  EXPECT_GE(errors("connect"), 1);
  EXPECT_GE(errors("disconnected"), 1);

  redis.start();
  ASSERT_TRUE(connected());
  Result set = call({"SET", "k", "v"});
  ASSERT_TRUE(set.ok()) << set.message;
  EXPECT_EQ(status_.read().consecutive_failures, 0u);
  EXPECT_EQ(connectedGauge(), 1);
  // Known scripts are loaded on every connection.
  Result exists = call({"SCRIPT", "EXISTS", script.sha1()});
  ASSERT_EQ(exists.value.array.size(), 1u);
  EXPECT_EQ(exists.value.array[0].integer, 1);
}

TEST_F(RedisClientTest, ACancelledCommandGetsNoCallback) {
  test::RedisServer redis;
  start(config(redis.port()));
  ASSERT_TRUE(connected());
  Request request = client_->command({"SET", "x", "1"}, [this](Result) { ++unexpected_calls_; });
  request.cancel();
  request.cancel();
  // Its reply came first, and went nowhere; the command itself ran.
  EXPECT_EQ(call({"GET", "x"}).value.string, "1");

  // Cancelled from inside the callback of the command before it.
  client_->command({"PING"}, [this](Result) { victim_.cancel(); });
  victim_ = client_->command({"PING"}, [this](Result) { ++unexpected_calls_; });
  EXPECT_TRUE(call({"PING"}).ok());
  EXPECT_EQ(unexpected_calls_, 0);
}

TEST_F(RedisClientTest, CallbacksNeverRunInsideCommand) {
  // Nothing listens: the connection is refused, at once or on the loop.
  start(config(static_cast<uint16_t>(test::freePort())));
  Request cancelled = client_->command({"PING"}, [this](Result) { ++unexpected_calls_; });
  cancelled.cancel();
  const size_t before = results_.size();
  Request request = issue({"PING"});
  EXPECT_EQ(results_.size(), before);
  const Result r = wait(request, before);
  EXPECT_TRUE(r.error == ErrorKind::Unavailable || r.error == ErrorKind::Disconnected)
      << errorKindName(r.error);
  ASSERT_TRUE(runUntil([&] { return errors("connect") >= 2; }));
  EXPECT_NE(status_.read().last_error.find("refused"), std::string::npos)
      << status_.read().last_error;
  EXPECT_EQ(unexpected_calls_, 0);
}

TEST_F(RedisClientTest, AHandshakeWithoutAnswerFailsTheConnect) {
  SilentServer silent;
  RedisConfig c = config(silent.port());
  c.password = "pw";
  c.connect_timeout = 50ms;
  c.failures_before_cooldown = 0;
  start(c);
  issue({"PING"});
  ASSERT_TRUE(runUntil([&] { return errors("connect") >= 1; }));
  EXPECT_EQ(status_.read().last_error, "connect: no answer within 50ms");
  ASSERT_TRUE(runUntil([&] { return !results_.empty(); }));
  EXPECT_EQ(results_[0].error, ErrorKind::Disconnected);
  EXPECT_NE(client_->state(), ClientState::Connected);
}

TEST_F(RedisClientTest, DestroyingTheClientAnswersWhatIsPending) {
  SilentServer silent;
  start(config(silent.port()));
  ASSERT_TRUE(connected());
  issue({"GET", "a"});
  issue({"GET", "b"});
  Client* client = client_.get();
  client_->command({"GET", "c"}, [this, client](Result r) {
    results_.push_back(std::move(r));
    client->command({"GET", "d"}, record());  // during the destruction: answered too
  });
  client_.reset();
  ASSERT_EQ(results_.size(), 4u);
  for (const Result& r : results_) EXPECT_EQ(r.error, ErrorKind::Disconnected) << r.message;
  EXPECT_EQ(status_.read().state, ClientState::Stopped);
  EXPECT_EQ(connectedGauge(), 0);
}

TEST_F(RedisClientTest, DestroyingTheClientWhileItConnects) {
  start(config(static_cast<uint16_t>(test::freePort())));
  issue({"PING"});
  client_.reset();
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_FALSE(results_[0].ok());
  // Nothing of it is left on the loop.
  EXPECT_FALSE(runUntil([] { return false; }, 50ms));
}

}  // namespace
}  // namespace switchyard::redis
