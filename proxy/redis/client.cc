#include "proxy/redis/client.h"

#include <adapters/libevent.h>
#include <async.h>
#include <hiredis.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include <algorithm>
#include <chrono>
#include <string_view>

#include "proxy/common/duration.h"
#include "proxy/common/logging.h"

namespace switchyard::redis {
namespace {

using common::formatDuration;

// A handshake reply's privdata: the generation of its connection and the step.
enum HandshakeStep : uintptr_t { Auth = 0, Select = 1, LoadScript = 2, LateLoadScript = 3 };
constexpr uintptr_t StepBits = 2;
constexpr uintptr_t StepMask = (uintptr_t{1} << StepBits) - 1;

uintptr_t handshakeTag(uint64_t generation, HandshakeStep step) {
  return (static_cast<uintptr_t>(generation) << StepBits) | step;
}

void* toPrivdata(uintptr_t value) { return reinterpret_cast<void*>(value); }

// What the context says went wrong; hiredis keeps the text in the context itself.
std::string contextError(const redisAsyncContext* ac) {
  if (ac->c.err != 0 && ac->c.errstr[0] != '\0') return ac->c.errstr;
  return "connection closed";
}

size_t kindIndex(ErrorKind kind) { return static_cast<size_t>(kind); }

}  // namespace

struct Client::Pending {
  Callback cb;
  event::TimerPtr timer;  // the command's timeout; null for a rejected request
  common::MonotonicTime issued{};
  // eval(): the command, kept for the NOSCRIPT retry (argv[1] is the SHA1), and the script's
  // text in scripts_ (whose entries are never removed).
  std::vector<std::string> argv;
  const std::string* lua = nullptr;
  bool retried = false;
  // reject(): the answer delivered from the next turn of the loop.
  ErrorKind rejected = ErrorKind::None;
  std::string message;
};

void Request::cancel() {
  if (client_ != nullptr) client_->cancel(id_);
  client_ = nullptr;
}

Client::Client(event::LibeventDispatcher& dispatcher, common::Random& random,
               const RedisConfig& config, RedisStats& stats, ClientStatus& status, uint32_t worker)
    : dispatcher_(dispatcher),
      random_(random),
      config_(config),
      status_(status),
      duration_(stats.command_duration->Add({})),
      cooldown_(config.failures_before_cooldown, config.cooldown) {
  for (ErrorKind kind : {ErrorKind::Timeout, ErrorKind::Disconnected, ErrorKind::Unavailable,
                         ErrorKind::ServerError, ErrorKind::Protocol}) {
    errors_[kindIndex(kind)] = &stats.errors.Add({{"kind", std::string(errorKindName(kind))}});
  }
  connect_errors_ = &stats.errors.Add({{"kind", "connect"}});
  connected_gauge_ = &stats.connected.Add({{"worker", std::to_string(worker)}});
  connected_gauge_->Set(0);
  deliver_timer_ = dispatcher_.createTimer([this] { deliverRejected(); });
  reconnect_timer_ = dispatcher_.createTimer([this] { connect(); });
  connect_timer_ = dispatcher_.createTimer([this] { onConnectTimeout(); });
  status_.setConsecutiveFailures(0);
  status_.setLastError("");
  connect();
}

Client::~Client() {
  destroying_ = true;
  deliver_timer_.reset();
  reconnect_timer_.reset();
  connect_timer_.reset();
  if (ctx_ != nullptr) {
    redisAsyncContext* ac = ctx_;
    ctx_ = nullptr;
    // The callbacks hiredis runs while freeing it (a NULL reply for each pending command, the
    // disconnect) find no client; the pending commands are answered below.
    ac->data = nullptr;
    redisAsyncFree(ac);
  }
  connected_gauge_->Set(0);
  status_.setState(ClientState::Stopped);
  // A callback may issue another command: it is rejected, and answered here too.
  while (!pending_.empty()) {
    const auto it = pending_.begin();
    Result result;
    result.error =
        it->second->rejected != ErrorKind::None ? it->second->rejected : ErrorKind::Disconnected;
    result.message =
        it->second->rejected != ErrorKind::None ? it->second->message : "the client was destroyed";
    finish(it->first, std::move(result));
  }
}

void Client::setState(ClientState state) {
  state_ = state;
  status_.setState(state);
}

void Client::connect() {
  setState(ClientState::Connecting);
  redisAsyncContext* ac = redisAsyncConnect(config_.address.host.c_str(), config_.address.port);
  if (ac == nullptr) {
    connectionEnded("connect: out of memory", true, false);
    return;
  }
  if (ac->err != 0) {
    // Refused at once (or no socket): the context never had events or callbacks.
    const std::string error = contextError(ac);
    redisAsyncFree(ac);
    connectionEnded("connect: " + error, true, false);
    return;
  }
  ac->data = this;
  if (redisLibeventAttach(ac, dispatcher_.base()) != REDIS_OK) {
    redisAsyncFree(ac);
    connectionEnded("connect: cannot attach to the event loop", true, false);
    return;
  }
  redisAsyncSetConnectCallback(ac, &Client::connectTrampoline);
  redisAsyncSetDisconnectCallback(ac, &Client::disconnectTrampoline);
  ctx_ = ac;
  ++generation_;
  tcp_connected_ = false;
  ready_ = false;
  handshake_pending_ = 0;
  sendHandshake();
  connect_timer_->enable(config_.connect_timeout);
}

void Client::sendHandshake() {
  auto step = [this](const std::vector<std::string>& argv, HandshakeStep s) {
    if (send(argv, &Client::handshakeTrampoline, handshakeTag(generation_, s))) {
      ++handshake_pending_;
    }
  };
  if (!config_.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!config_.username.empty()) auth.push_back(config_.username);
    auth.push_back(config_.password);
    step(auth, Auth);
  }
  if (config_.database != 0) step({"SELECT", std::to_string(config_.database)}, Select);
  for (const auto& [sha, lua] : scripts_) step({"SCRIPT", "LOAD", lua}, LoadScript);
}

void Client::becomeReady() {
  ready_ = true;
  connect_timer_->disable();
  const bool after_failures = reconnect_attempt_ > 0 || cooldown_.consecutiveFailures() > 0;
  reconnect_attempt_ = 0;
  connected_gauge_->Set(1);
  setState(ClientState::Connected);
  if (after_failures) {
    SY_LOG(Info, "redis %s: connected again", config_.address.text.c_str());
  } else {
    SY_LOG(Debug, "redis %s: connected", config_.address.text.c_str());
  }
}

redisAsyncContext* Client::detach() {
  redisAsyncContext* ac = ctx_;
  ctx_ = nullptr;
  ready_ = false;
  tcp_connected_ = false;
  handshake_pending_ = 0;
  connect_timer_->disable();
  connected_gauge_->Set(0);
  return ac;
}

void Client::connectionEnded(const std::string& message, bool connect_failure, bool free_context) {
  redisAsyncContext* ac = detach();
  if (connect_failure) connect_errors_->Increment();
  // One line when trouble starts; the attempts that follow are for the debug log.
  if (cooldown_.consecutiveFailures() == 0) {
    SY_LOG(Warn, "redis %s: %s", config_.address.text.c_str(), message.c_str());
  } else {
    SY_LOG(Debug, "redis %s: %s", config_.address.text.c_str(), message.c_str());
  }
  recordFailure(message);
  scheduleReconnect();
  // Last: freeing the context answers the commands still on it, whose callbacks may issue
  // more (rejected now that there is no connection).
  if (free_context && ac != nullptr) redisAsyncFree(ac);
}

void Client::recordFailure(const std::string& message) {
  status_.setLastError(message);
  const bool started = cooldown_.onFailure(dispatcher_.timeSource().monotonicNow());
  status_.setConsecutiveFailures(cooldown_.consecutiveFailures());
  if (!started) return;
  SY_LOG(Warn, "redis %s: %u failures in a row (last: %s); answering without Redis for %s",
         config_.address.text.c_str(), cooldown_.consecutiveFailures(), message.c_str(),
         formatDuration(config_.cooldown).c_str());
  if (ctx_ == nullptr) return;  // connectionEnded() schedules the next attempt
  // Timeouts on a live connection: its pipeline is stalled behind them, so a fresh connection
  // after the cooldown. Its commands fail now rather than at their timeouts.
  redisAsyncContext* ac = detach();
  reconnect_attempt_ = 0;
  scheduleReconnect();
  redisAsyncFree(ac);
}

void Client::scheduleReconnect() {
  if (destroying_) return;
  const common::MonotonicTime now = dispatcher_.timeSource().monotonicNow();
  common::Duration delay =
      reconnectDelay(reconnect_attempt_, config_.reconnect_base, config_.reconnect_max, random_);
  if (reconnect_attempt_ < 64) ++reconnect_attempt_;
  const bool cooling = cooldown_.coolingDown(now);
  if (cooling) delay = std::max(delay, cooldown_.until() - now);
  setState(cooling ? ClientState::CoolingDown : ClientState::Disconnected);
  reconnect_timer_->enable(std::chrono::ceil<std::chrono::milliseconds>(delay));
}

bool Client::send(const std::vector<std::string>& argv,
                  void (*fn)(redisAsyncContext*, void*, void*), uintptr_t privdata) {
  constexpr size_t Inline = 16;
  const char* inline_args[Inline];
  size_t inline_lengths[Inline];
  std::vector<const char*> heap_args;
  std::vector<size_t> heap_lengths;
  const char** args = inline_args;
  size_t* lengths = inline_lengths;
  if (argv.size() > Inline) {
    heap_args.resize(argv.size());
    heap_lengths.resize(argv.size());
    args = heap_args.data();
    lengths = heap_lengths.data();
  }
  for (size_t i = 0; i < argv.size(); ++i) {
    args[i] = argv[i].data();
    lengths[i] = argv[i].size();
  }
  return redisAsyncCommandArgv(ctx_, fn, toPrivdata(privdata), static_cast<int>(argv.size()), args,
                               lengths) == REDIS_OK;
}

Request Client::command(std::vector<std::string> argv, Callback cb) {
  return issue(std::move(argv), std::move(cb), nullptr);
}

Request Client::eval(const Script& script, const std::vector<std::string>& keys,
                     const std::vector<std::string>& args, Callback cb) {
  const auto entry = scripts_.emplace(script.sha1(), script.lua()).first;
  std::vector<std::string> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.emplace_back("EVALSHA");
  argv.push_back(script.sha1());
  argv.push_back(std::to_string(keys.size()));
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return issue(std::move(argv), std::move(cb), &entry->second);
}

void Client::loadScript(const Script& script) {
  const bool added = scripts_.emplace(script.sha1(), script.lua()).second;
  if (added && ctx_ != nullptr) {
    send({"SCRIPT", "LOAD", script.lua()}, &Client::handshakeTrampoline,
         handshakeTag(generation_, LateLoadScript));
  }
}

Request Client::issue(std::vector<std::string> argv, Callback cb, const std::string* lua) {
  if (destroying_) return reject(std::move(cb), ErrorKind::Disconnected, "the client is stopping");
  if (argv.empty()) return reject(std::move(cb), ErrorKind::ServerError, "empty command");
  const common::MonotonicTime now = dispatcher_.timeSource().monotonicNow();
  if (cooldown_.coolingDown(now)) {
    return reject(std::move(cb), ErrorKind::Unavailable,
                  "cooling down after " + std::to_string(cooldown_.consecutiveFailures()) +
                      " failures in a row");
  }
  if (ctx_ == nullptr) return reject(std::move(cb), ErrorKind::Unavailable, "not connected");
  const uint64_t id = next_id_++;
  if (!send(argv, &Client::replyTrampoline, id)) {
    return reject(std::move(cb), ErrorKind::Unavailable, "the connection is closing");
  }
  auto p = std::make_unique<Pending>();
  p->cb = std::move(cb);
  p->issued = now;
  p->timer = dispatcher_.createTimer([this, id] { onTimeout(id); });
  p->timer->enable(config_.timeout);
  if (lua != nullptr) {
    p->argv = std::move(argv);
    p->lua = lua;
  }
  pending_.emplace(id, std::move(p));
  return Request(this, id);
}

Request Client::reject(Callback cb, ErrorKind kind, std::string message) {
  const uint64_t id = next_id_++;
  auto p = std::make_unique<Pending>();
  p->cb = std::move(cb);
  p->rejected = kind;
  p->message = std::move(message);
  pending_.emplace(id, std::move(p));
  if (!destroying_) {
    rejected_.push_back(id);
    deliver_timer_->enable(std::chrono::milliseconds(0));
  }
  return Request(this, id);
}

void Client::deliverRejected() {
  // Requests rejected by these callbacks wait for the next turn.
  std::vector<uint64_t> ids;
  ids.swap(rejected_);
  for (uint64_t id : ids) {
    const auto it = pending_.find(id);
    if (it == pending_.end()) continue;  // cancelled
    Result result;
    result.error = it->second->rejected;
    result.message = std::move(it->second->message);
    finish(id, std::move(result));
  }
}

void Client::finish(uint64_t id, Result result) {
  const auto it = pending_.find(id);
  if (it == pending_.end()) return;
  std::unique_ptr<Pending> p = std::move(it->second);
  pending_.erase(it);
  if (!result.ok()) errors_[kindIndex(result.error)]->Increment();
  Callback cb = std::move(p->cb);
  p.reset();  // its timer may be the one running this
  cb(std::move(result));
}

void Client::cancel(uint64_t id) { pending_.erase(id); }

void Client::onReply(redisAsyncContext* ac, redisReply* reply, uint64_t id) {
  if (reply == nullptr) {
    // The context is going (lost, or freed by us): hiredis answers what was pending on it with
    // NULL, before calling the disconnect callback. The first NULL of the current connection is
    // the news of its end.
    const bool protocol = ac->c.err == REDIS_ERR_PROTOCOL;
    const std::string why = contextError(ac);
    if (ac == ctx_) connectionEnded("connection lost: " + why, false, false);
    Result result;
    result.error = protocol ? ErrorKind::Protocol : ErrorKind::Disconnected;
    result.message = "connection lost before the reply: " + why;
    finish(id, std::move(result));
    return;
  }
  const auto it = pending_.find(id);
  // Timed out or cancelled: a late reply proves nothing about the next command, so the failure
  // streak stands.
  if (it == pending_.end()) return;
  Pending& p = *it->second;
  Result result = convertReply(*reply);
  if (result.error == ErrorKind::ServerError && p.lua != nullptr && !p.retried &&
      std::string_view(result.message).substr(0, 8) == "NOSCRIPT") {
    // The server has lost the script (restart, SCRIPT FLUSH): EVAL it, which loads it again,
    // under the same deadline. A script that does not compile answers with its compile error.
    p.retried = true;
    p.argv[0] = "EVAL";
    p.argv[1] = *p.lua;
    if (ctx_ == ac && send(p.argv, &Client::replyTrampoline, id)) return;
    result = Result{};
    result.error = ErrorKind::Disconnected;
    result.message = "the connection closed before the script could be loaded";
  }
  cooldown_.onSuccess();
  status_.setConsecutiveFailures(0);
  duration_.observe(dispatcher_.timeSource().monotonicNow() - p.issued);
  finish(id, std::move(result));
}

void Client::onHandshakeReply(redisAsyncContext* ac, redisReply* reply, uintptr_t tag) {
  // A NULL reply: the connection is going, and its end is handled where hiredis reports it.
  if (reply == nullptr || ac != ctx_ || (tag >> StepBits) != generation_) return;
  const auto step = static_cast<HandshakeStep>(tag & StepMask);
  if (reply->type == REDIS_REPLY_ERROR) {
    const std::string error(reply->str, reply->len);
    if (step == Auth || step == Select) {
      // A wrong password or database: this connection is of no use. Freed once this callback
      // returns (hiredis defers it), which fails the commands queued behind.
      connectionEnded((step == Auth ? "AUTH: " : "SELECT: ") + error, true, true);
      return;
    }
    // A script that does not load is its caller's problem (EVAL reports the error); the
    // connection is fine.
    SY_LOG(Warn, "redis %s: SCRIPT LOAD: %s", config_.address.text.c_str(), error.c_str());
    status_.setLastError("SCRIPT LOAD: " + error);
  }
  cooldown_.onSuccess();
  status_.setConsecutiveFailures(0);
  if (step == LateLoadScript || handshake_pending_ == 0) return;
  if (--handshake_pending_ == 0 && tcp_connected_) becomeReady();
}

void Client::onConnect(const redisAsyncContext* ac, int status) {
  if (ac != ctx_) return;
  if (status != REDIS_OK) {
    // hiredis frees the context when this returns, answering the commands queued on it.
    connectionEnded("connect: " + contextError(ac), true, false);
    return;
  }
  tcp_connected_ = true;
  if (handshake_pending_ == 0) becomeReady();
}

void Client::onDisconnect(const redisAsyncContext* ac) {
  // Usually the first NULL reply has reported it already.
  if (ac == ctx_) connectionEnded("connection lost: " + contextError(ac), false, false);
}

void Client::onTimeout(uint64_t id) {
  const auto it = pending_.find(id);
  if (it == pending_.end()) return;
  std::unique_ptr<Pending> p = std::move(it->second);
  pending_.erase(it);
  const std::string message = "no reply within " + formatDuration(config_.timeout);
  // First, so that a command the callback issues already sees a cooldown this one started.
  recordFailure(message);
  errors_[kindIndex(ErrorKind::Timeout)]->Increment();
  Callback cb = std::move(p->cb);
  p.reset();  // its timer is the one running this
  Result result;
  result.error = ErrorKind::Timeout;
  result.message = message;
  cb(std::move(result));
}

void Client::onConnectTimeout() {
  if (ctx_ == nullptr) return;
  connectionEnded("connect: no answer within " + formatDuration(config_.connect_timeout), true,
                  true);
}

void Client::replyTrampoline(redisAsyncContext* ac, void* reply, void* privdata) noexcept {
  auto* self = static_cast<Client*>(ac->data);
  if (self == nullptr) return;
  common::CachedClockScope clock;
  self->onReply(ac, static_cast<redisReply*>(reply), reinterpret_cast<uintptr_t>(privdata));
}

void Client::handshakeTrampoline(redisAsyncContext* ac, void* reply, void* privdata) noexcept {
  auto* self = static_cast<Client*>(ac->data);
  if (self == nullptr) return;
  common::CachedClockScope clock;
  self->onHandshakeReply(ac, static_cast<redisReply*>(reply),
                         reinterpret_cast<uintptr_t>(privdata));
}

void Client::connectTrampoline(const redisAsyncContext* ac, int status) noexcept {
  auto* self = static_cast<Client*>(ac->data);
  if (self == nullptr) return;
  common::CachedClockScope clock;
  self->onConnect(ac, status);
}

void Client::disconnectTrampoline(const redisAsyncContext* ac, int /*status*/) noexcept {
  auto* self = static_cast<Client*>(ac->data);
  if (self == nullptr) return;
  common::CachedClockScope clock;
  self->onDisconnect(ac);
}

}  // namespace switchyard::redis
