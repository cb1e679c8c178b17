#include "proxy/redis/sync_connection.h"

#include <hiredis.h>
#include <poll.h>
#include <sys/time.h>

#include <cerrno>

namespace switchyard::redis {
namespace {

timeval toTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

}  // namespace

SyncConnection::SyncConnection(RedisConfig config) : config_(std::move(config)) {}

SyncConnection::~SyncConnection() { close(); }

void SyncConnection::close() {
  if (context_ != nullptr) redisFree(context_);
  context_ = nullptr;
}

bool SyncConnection::connect(std::string& error) {
  if (context_ != nullptr) return true;
  context_ = redisConnectWithTimeout(config_.address.host.c_str(), config_.address.port,
                                     toTimeval(config_.connect_timeout));
  if (context_ == nullptr || context_->err != 0) {
    error = context_ != nullptr ? context_->errstr : "cannot allocate a connection";
    close();
    return false;
  }
  redisSetTimeout(context_, toTimeval(config_.timeout));
  std::vector<std::vector<std::string>> setup;
  if (!config_.password.empty()) {
    if (config_.username.empty()) {
      setup.push_back({"AUTH", config_.password});
    } else {
      setup.push_back({"AUTH", config_.username, config_.password});
    }
  }
  if (config_.database != 0) setup.push_back({"SELECT", std::to_string(config_.database)});
  for (const auto& args : setup) {
    Result r = send(args);
    if (!r.ok()) {
      error = args[0] + ": " + r.message;
      close();
      return false;
    }
  }
  return true;
}

Result SyncConnection::send(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
  if (reply == nullptr) {
    Result r;
    const bool timed_out = context_->err == REDIS_ERR_IO &&
                           (errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT);
    r.error = timed_out ? ErrorKind::Timeout : ErrorKind::Disconnected;
    r.message = context_->errstr[0] != '\0' ? context_->errstr : "connection lost";
    close();
    return r;
  }
  Result r = convertReply(*reply);
  freeReplyObject(reply);
  if (r.error == ErrorKind::Protocol) close();
  return r;
}

Result SyncConnection::command(const std::vector<std::string>& args) {
  std::string error;
  if (!connect(error)) return Result{ErrorKind::Disconnected, error, {}};
  return send(args);
}

std::optional<SyncConnection::Message> SyncConnection::nextMessage(
    std::chrono::milliseconds timeout, bool& failed) {
  failed = false;
  if (context_ == nullptr) {
    failed = true;
    return std::nullopt;
  }
  void* raw = nullptr;
  // A reply hiredis has read already is not in the socket any more.
  if (redisReaderGetReply(context_->reader, &raw) != REDIS_OK) {
    failed = true;
    close();
    return std::nullopt;
  }
  if (raw == nullptr) {
    pollfd p{context_->fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (ready == 0) return std::nullopt;
    if (ready < 0 && errno == EINTR) return std::nullopt;
    if (ready < 0 || redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
      failed = true;
      close();
      return std::nullopt;
    }
  }
  auto* reply = static_cast<redisReply*>(raw);
  std::optional<Message> out;
  // ["message", channel, payload]; subscription confirmations and the like are not messages.
  if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
      reply->element[0]->type == REDIS_REPLY_STRING &&
      std::string(reply->element[0]->str, reply->element[0]->len) == "message") {
    out = Message{std::string(reply->element[1]->str, reply->element[1]->len),
                  std::string(reply->element[2]->str, reply->element[2]->len)};
  }
  freeReplyObject(reply);
  return out ? out : std::optional<Message>(Message{});
}

}  // namespace switchyard::redis
