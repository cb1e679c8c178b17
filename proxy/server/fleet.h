#pragma once

// Fleet-wide migration state: the replicas of one service, each with `redis:` (and `fleet:`
// left on), share their rollbacks, runtime weights and halt through Redis, so that an
// Alertmanager webhook that reaches one replica behind a Service rolls back every replica.
//
// In Redis, under `fleet.key_prefix` (P):
//   P:state   a hash: "route:<name>" -> the route's rollback state, "migration" -> the runtime
//             weights and the halt; each value {"seq", "origin", "data"}, seq from INCR P:seq
//   P:changes a channel: the name of each field written, published after the write
//   P:alert:<idempotency key>   SET NX with a day's expiry: an alert acts on one replica only
//
// A replica publishes its own changes (never those it applied from the fleet, nor a value equal
// to what the fleet already holds) and applies every newer value another replica wrote: on a
// message at once, and by reading the whole hash every `reconcile_interval`, at start and after
// every reconnection, so a replica that missed a message or started later converges.
//
// Redis down: local changes wait (the latest per field) and go out once it is back; the replica
// keeps its last state, its guard keeps working, and nothing rolls forward by itself.
//
// Threads: a thread of its own with two blocking connections (commands, and the subscription);
// publishRoute()/publishMigration() only queue and may be called from any thread (under the
// caller's locks: they take only the fleet's own). The apply hooks run on the fleet's thread,
// without the fleet's lock. claimAlertKey() runs a command of its own, on the caller's thread
// (the admin thread), on a third connection.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "config/config.h"
#include "proxy/redis/config.h"
#include "proxy/redis/sync_connection.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
}  // namespace prometheus

namespace switchyard::server {

class FleetSync {
 public:
  struct Hooks {
    // A route's rollback state another replica wrote (RollbackManager::applyFleetState).
    std::function<void(const std::string& route, const nlohmann::json& state)> apply_route;
    // The runtime weights and the halt another replica wrote (encodeMigrationState()'s form).
    std::function<void(const nlohmann::json& migration)> apply_migration;
  };

  FleetSync(config::FleetConfig config, redis::RedisConfig redis, Hooks hooks,
            prometheus::Registry& registry);
  ~FleetSync();
  FleetSync(const FleetSync&) = delete;
  FleetSync& operator=(const FleetSync&) = delete;

  void start();
  void stop();  // idempotent

  // Local changes to share; queued, the latest per route (and for the migration) kept.
  void publishRoute(const std::string& route, nlohmann::json state);
  void publishMigration(nlohmann::json state);

  // Whether this replica is the first of the fleet to see the alert key (SET NX). True when
  // Redis cannot be asked: the local check alone decides then.
  bool claimAlertKey(const std::string& key);

  const std::string& instance() const { return config_.instance; }
  // GET /fleet: {"instance", "key_prefix", "connected", "fields": {field: {"seq", "origin"}}}.
  nlohmann::json view() const;

 private:
  void threadLoop();
  // Subscribes (connecting both connections); false when Redis cannot be reached.
  bool subscribe();
  // Writes the queued local changes; false on a failure (they stay queued).
  bool flush();
  // Reads the hash and applies what is newer; false on a failure.
  bool reconcile();
  void setConnected(bool connected);

  config::FleetConfig config_;
  const std::string state_key_;
  const std::string seq_key_;
  const std::string channel_;
  Hooks hooks_;
  redis::SyncConnection commands_;
  redis::SyncConnection subscription_;
  std::mutex claim_mutex_;
  redis::SyncConnection claims_;  // guarded by claim_mutex_

  prometheus::Gauge& connected_gauge_;
  prometheus::Counter& published_;
  prometheus::Counter& applied_;
  prometheus::Counter& errors_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool connected_ = false;
  bool synced_ = false;                            // the whole state was read once
  std::map<std::string, nlohmann::json> pending_;  // field -> data, local changes not yet written
  struct Known {
    uint64_t seq = 0;
    std::string origin;
    nlohmann::json data;
  };
  std::map<std::string, Known> known_;  // field -> the newest value seen in Redis
  std::thread thread_;
};

// The instance name when `fleet.instance` is not given: "<host name>-<process id>".
std::string defaultFleetInstance();

}  // namespace switchyard::server
