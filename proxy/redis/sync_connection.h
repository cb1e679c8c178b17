#pragma once

// A blocking Redis connection for a thread of its own, never a worker's: commands bounded by the
// configured connect timeout and command timeout, and, once subscribed, a wait for the next
// published message bounded by a timeout of the caller's. AUTH and SELECT as configured go first
// on every connection.
//
// Failures close the connection (a hiredis context is unusable after a timeout or an I/O error);
// the next call connects again. Not thread-safe: one thread uses it at a time.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "proxy/redis/config.h"
#include "proxy/redis/reply.h"

struct redisContext;

namespace switchyard::redis {

class SyncConnection {
 public:
  explicit SyncConnection(RedisConfig config);
  ~SyncConnection();
  SyncConnection(const SyncConnection&) = delete;
  SyncConnection& operator=(const SyncConnection&) = delete;

  bool connected() const { return context_ != nullptr; }
  void close();

  // One command, connecting first if needed. A failed connect or a lost connection is
  // Disconnected (Timeout when the command timed out), with the connection closed; an error
  // reply is ServerError and keeps it.
  Result command(const std::vector<std::string>& args);

  // A published message: the channel and its payload.
  struct Message {
    std::string channel;
    std::string payload;
  };
  // After command({"SUBSCRIBE", ...}): the next thing the server sent, waiting at most `timeout`:
  // a message, or an empty Message (no channel) for a reply that is not one (a subscription's
  // confirmation). nullopt on a timeout (the connection stays); `failed` is set (and the
  // connection closed) when it is lost.
  std::optional<Message> nextMessage(std::chrono::milliseconds timeout, bool& failed);

 private:
  bool connect(std::string& error);
  Result send(const std::vector<std::string>& args);

  const RedisConfig config_;
  redisContext* context_ = nullptr;
};

}  // namespace switchyard::redis
