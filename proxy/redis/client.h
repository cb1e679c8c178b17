#pragma once

// One worker's Redis client: one hiredis connection on the worker's event loop, commands
// pipelined on it as they come.
//
// Threading: everything, construction and destruction included, happens on the thread of the
// dispatcher the client was made with. The client is not thread-safe; other threads see it only
// through its ClientStatus.
//
// Callbacks: each command's callback is called at most once, on that thread, and never from
// inside command() or eval() (a command the client cannot send is answered from the next turn of
// the loop), so a caller may issue commands and cancel requests from inside a callback. It is not
// called after Request::cancel(). Destroying the client calls the callback of every command
// still pending with Disconnected before the destructor returns (the worker is stopping: a
// stream waiting for Redis hears of it and lets go of its handle). Do not destroy the client from
// inside one of its callbacks.
//
// Failures: a command gets no reply within `timeout` -> Timeout; its connection is lost first ->
// Disconnected (Protocol when the reply could not be parsed). Timeouts, lost connections and
// failed connection attempts count as failures; any reply (error replies included) ends the
// streak. After `failures_before_cooldown` failures in a row the client drops its connection and
// answers every command with Unavailable, without the network, for `cooldown`; then it connects
// again, and the next failure starts another cooldown at once. Between a lost connection and the
// next one (reconnect delays: reconnectDelay()) commands are answered Unavailable too: a caller
// on the request path never waits for a connection.
//
// Connecting: the address is numeric, so redisAsyncConnect() does not block. AUTH (when a
// password is configured), SELECT (when database is not 0) and a SCRIPT LOAD of every script the
// client knows go out first on every connection; commands issued meanwhile are pipelined behind
// them. The connection counts as connected once they have answered; an AUTH or SELECT error, or
// no answer within `connect_timeout`, fails the attempt.
//
// Not for SUBSCRIBE, MONITOR or blocking commands meant to outlive `timeout`: replies are matched
// to commands in order.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/common/random.h"
#include "proxy/event/dispatcher.h"
#include "proxy/redis/backoff.h"
#include "proxy/redis/config.h"
#include "proxy/redis/reply.h"
#include "proxy/redis/script.h"
#include "proxy/redis/stats.h"

struct redisAsyncContext;
struct redisReply;

namespace prometheus {
class Counter;
class Gauge;
}  // namespace prometheus

namespace switchyard::redis {

class Client;

using Callback = std::function<void(Result result)>;

// A command in flight, as its caller holds it. A plain value: a handle whose command has finished
// (its callback ran, or it was cancelled) is harmless, and cancel() on it does nothing.
class Request {
 public:
  Request() = default;
  // The callback will not be called. On the client's thread, while the client exists.
  void cancel();
  explicit operator bool() const { return client_ != nullptr; }

 private:
  friend class Client;
  Request(Client* client, uint64_t id) : client_(client), id_(id) {}
  Client* client_ = nullptr;
  uint64_t id_ = 0;
};

class Client {
 public:
  // Starts connecting at once. `random` (jitter of the reconnect delays), `stats` and `status`
  // must outlive the client; `worker` labels switchyard_redis_connected.
  Client(event::LibeventDispatcher& dispatcher, common::Random& random, const RedisConfig& config,
         RedisStats& stats, ClientStatus& status, uint32_t worker);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `argv` (the command and its arguments, binary-safe).
  Request command(std::vector<std::string> argv, Callback cb);
  // EVALSHA of `script` with `keys` and `args`. A NOSCRIPT error reply (the server restarted, or
  // SCRIPT FLUSH) is retried once, transparently, as an EVAL, which loads the script again; the
  // script is also remembered and loaded on every connection from then on.
  Request eval(const Script& script, const std::vector<std::string>& keys,
               const std::vector<std::string>& args, Callback cb);
  // Remembers `script` so that it is loaded on every connection, and loads it now when
  // connected. For callers that know their scripts up front (workerLocal()).
  void loadScript(const Script& script);

  ClientState state() const { return state_; }
  const RedisConfig& config() const { return config_; }

 private:
  friend class Request;
  struct Pending;

  void connect();
  // Forgets the current context (not connected, gauge 0) and returns it for the caller to free.
  redisAsyncContext* detach();
  void sendHandshake();
  void becomeReady();
  // The connection ended (or never came up): counts the failure, schedules the next attempt and,
  // when `free_context`, frees the context, which fails the commands still on it.
  void connectionEnded(const std::string& message, bool connect_failure, bool free_context);
  void recordFailure(const std::string& message);
  void scheduleReconnect();
  void setState(ClientState state);

  bool send(const std::vector<std::string>& argv, void (*fn)(redisAsyncContext*, void*, void*),
            uintptr_t privdata);
  // `lua`: the script's text for an eval() (its NOSCRIPT retry), else null.
  Request issue(std::vector<std::string> argv, Callback cb, const std::string* lua);
  // A request answered without the network, from the next turn of the loop.
  Request reject(Callback cb, ErrorKind kind, std::string message);
  void deliverRejected();
  void finish(uint64_t id, Result result);
  void cancel(uint64_t id);

  void onReply(redisAsyncContext* ac, redisReply* reply, uint64_t id);
  void onHandshakeReply(redisAsyncContext* ac, redisReply* reply, uintptr_t tag);
  void onConnect(const redisAsyncContext* ac, int status);
  void onDisconnect(const redisAsyncContext* ac);
  void onTimeout(uint64_t id);
  void onConnectTimeout();

  static void replyTrampoline(redisAsyncContext* ac, void* reply, void* privdata) noexcept;
  static void handshakeTrampoline(redisAsyncContext* ac, void* reply, void* privdata) noexcept;
  static void connectTrampoline(const redisAsyncContext* ac, int status) noexcept;
  static void disconnectTrampoline(const redisAsyncContext* ac, int status) noexcept;

  event::LibeventDispatcher& dispatcher_;
  common::Random& random_;
  const RedisConfig config_;
  ClientStatus& status_;
  // Resolved once: [ErrorKind] per command, plus the failed connection attempts.
  prometheus::Counter* errors_[6] = {};
  prometheus::Counter* connect_errors_ = nullptr;
  prometheus::Gauge* connected_gauge_ = nullptr;
  stats::LatencyHistogram& duration_;

  FailureCooldown cooldown_;
  ClientState state_ = ClientState::Connecting;
  redisAsyncContext* ctx_ = nullptr;  // null between connections
  uint64_t generation_ = 0;           // of ctx_; tags its handshake replies
  bool tcp_connected_ = false;
  uint32_t handshake_pending_ = 0;
  bool ready_ = false;
  uint32_t reconnect_attempt_ = 0;
  bool destroying_ = false;

  // Known scripts by SHA1, loaded on every connection.
  std::map<std::string, std::string> scripts_;
  // Commands whose callback has not run, by id. hiredis gets the id as its privdata, never a
  // pointer: a reply (or the NULL reply of a dying connection) for a command that timed out or
  // was cancelled finds nothing here and is dropped.
  std::unordered_map<uint64_t, std::unique_ptr<Pending>> pending_;
  uint64_t next_id_ = 1;
  std::vector<uint64_t> rejected_;  // answered by deliver_timer_
  event::TimerPtr deliver_timer_;
  event::TimerPtr reconnect_timer_;
  event::TimerPtr connect_timer_;
};

}  // namespace switchyard::redis
