#include "proxy/server/fleet.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "proxy/common/logging.h"
#include "proxy/common/time.h"

namespace switchyard::server {
namespace {

using nlohmann::json;

constexpr std::chrono::milliseconds MessageWait{100};
constexpr std::chrono::milliseconds MaxBackoff{5000};

// The registry merges the second registration of a family into the first.
prometheus::Family<prometheus::Counter>& updates(prometheus::Registry& registry) {
  return prometheus::BuildCounter()
      .Name("switchyard_fleet_updates_total")
      .Help(
          "Fleet-wide state changes, by direction: published (this replica's own, written to "
          "Redis) and applied (another replica's)")
      .Register(registry);
}

}  // namespace

std::string defaultFleetInstance() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof(host), "switchyard");
  }
  return std::string(host) + "-" + std::to_string(::getpid());
}

FleetSync::FleetSync(config::FleetConfig config, redis::RedisConfig redis, Hooks hooks,
                     prometheus::Registry& registry)
    : config_(std::move(config)),
      state_key_(config_.key_prefix + ":state"),
      seq_key_(config_.key_prefix + ":seq"),
      channel_(config_.key_prefix + ":changes"),
      hooks_(std::move(hooks)),
      commands_(redis),
      subscription_(redis),
      claims_(redis),
      connected_gauge_(prometheus::BuildGauge()
                           .Name("switchyard_fleet_connected")
                           .Help("1 while this replica is subscribed to the fleet's changes in "
                                 "Redis, else 0 (it keeps its last state meanwhile)")
                           .Register(registry)
                           .Add({})),
      published_(updates(registry).Add({{"direction", "published"}})),
      applied_(updates(registry).Add({{"direction", "applied"}})),
      errors_(prometheus::BuildCounter()
                  .Name("switchyard_fleet_errors_total")
                  .Help("Failed exchanges with Redis for the fleet-wide state (each one followed "
                        "by a reconnection with backoff)")
                  .Register(registry)
                  .Add({})) {
  if (config_.instance.empty()) config_.instance = defaultFleetInstance();
}

FleetSync::~FleetSync() { stop(); }

void FleetSync::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { threadLoop(); });
}

void FleetSync::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void FleetSync::publishRoute(const std::string& route, json state) {
  std::lock_guard<std::mutex> lock(mutex_);
  pending_["route:" + route] = std::move(state);
}

void FleetSync::publishMigration(json state) {
  std::lock_guard<std::mutex> lock(mutex_);
  pending_["migration"] = std::move(state);
}

bool FleetSync::claimAlertKey(const std::string& key) {
  std::lock_guard<std::mutex> lock(claim_mutex_);
  redis::Result r = claims_.command(
      {"SET", config_.key_prefix + ":alert:" + key, config_.instance, "NX", "EX", "86400"});
  if (!r.ok()) {
    SY_LOG(Warn, "fleet: cannot check alert key %s in Redis (%s); this replica decides alone",
           key.c_str(), r.message.c_str());
    return true;
  }
  return !r.value.isNil();
}

void FleetSync::setConnected(bool connected) {
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    changed = connected_ != connected;
    connected_ = connected;
  }
  connected_gauge_.Set(connected ? 1 : 0);
  if (!changed) return;
  if (connected) {
    SY_LOG(Info, "fleet: %s shares its migration state through Redis (%s)",
           config_.instance.c_str(), config_.key_prefix.c_str());
  } else {
    SY_LOG(Warn, "fleet: Redis is unreachable; %s keeps its last state and queues its changes",
           config_.instance.c_str());
  }
}

bool FleetSync::subscribe() {
  subscription_.close();
  redis::Result r = subscription_.command({"SUBSCRIBE", channel_});
  if (!r.ok()) {
    SY_LOG(Debug, "fleet: subscribe: %s", r.message.c_str());
    return false;
  }
  return true;
}

bool FleetSync::flush() {
  // Routes' states before the migration's weights: a replica that sees a rollback's weights
  // should find the rollback's record already there.
  struct RoutesFirst {
    bool operator()(const std::string& a, const std::string& b) const {
      const bool ra = a.rfind("route:", 0) == 0;
      const bool rb = b.rfind("route:", 0) == 0;
      return ra != rb ? ra : a < b;
    }
  };
  std::map<std::string, json, RoutesFirst> work;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [field, data] : pending_) work.emplace(field, std::move(data));
    pending_.clear();
  }
  auto requeue = [&](decltype(work)::iterator from) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = from; it != work.end(); ++it) pending_.emplace(it->first, std::move(it->second));
  };
  for (auto it = work.begin(); it != work.end(); ++it) {
    const auto& [field, data] = *it;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto known = known_.find(field);
      if (known != known_.end() && known->second.data == data) continue;  // nothing new
    }
    redis::Result seq = commands_.command({"INCR", seq_key_});
    if (!seq.ok() || seq.value.type != redis::Value::Type::Integer) {
      requeue(it);
      return false;
    }
    // A Redis that lost its data (restarted without persistence) counts from 1 again: jump past
    // every sequence number this replica has seen, or the others would take the write for old.
    uint64_t seen = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& [f, known] : known_) seen = std::max(seen, known.seq);
    }
    if (static_cast<uint64_t>(seq.value.integer) <= seen) {
      seq =
          commands_.command({"INCRBY", seq_key_,
                             std::to_string(seen - static_cast<uint64_t>(seq.value.integer) + 1)});
      if (!seq.ok() || seq.value.type != redis::Value::Type::Integer) {
        requeue(it);
        return false;
      }
    }
    const json record = {{"seq", seq.value.integer}, {"origin", config_.instance}, {"data", data}};
    if (!commands_.command({"HSET", state_key_, field, record.dump()}).ok()) {
      requeue(it);
      return false;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      known_[field] = Known{static_cast<uint64_t>(seq.value.integer), config_.instance, data};
    }
    published_.Increment();
    SY_LOG(Info, "fleet: published %s (seq %lld)", field.c_str(),
           static_cast<long long>(seq.value.integer));
    // Written: a replica that misses this message finds it when it reconciles.
    if (!commands_.command({"PUBLISH", channel_, field}).ok()) {
      requeue(std::next(it));
      return false;
    }
  }
  return true;
}

bool FleetSync::reconcile() {
  redis::Result all = commands_.command({"HGETALL", state_key_});
  if (!all.ok() || all.value.type != redis::Value::Type::Array) return false;
  std::vector<std::pair<std::string, json>> newer;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto& items = all.value.array;
    for (size_t i = 0; i + 1 < items.size(); i += 2) {
      const std::string& field = items[i].string;
      const json record = json::parse(items[i + 1].string, nullptr, false);
      if (record.is_discarded() || !record.is_object() || !record.contains("seq") ||
          !record["seq"].is_number_unsigned() || !record.contains("data")) {
        SY_LOG(Warn, "fleet: %s in %s is not a record this version understands; ignored",
               field.c_str(), state_key_.c_str());
        continue;
      }
      const uint64_t seq = record["seq"].get<uint64_t>();
      Known& known = known_[field];
      if (seq <= known.seq) continue;
      known = Known{seq, record.value("origin", std::string()), record["data"]};
      // A change of this replica's own that is still waiting to go out wins over the fleet's:
      // it happened here later than anything this replica has seen. What this replica wrote
      // itself is applied only at start (it may have been restarted without its state file).
      if (pending_.count(field) > 0) continue;
      if (known.origin == config_.instance && synced_) continue;
      newer.emplace_back(field, known.data);
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    synced_ = true;
  }
  for (const auto& [field, data] : newer) {
    SY_LOG(Info, "fleet: applying %s from another replica", field.c_str());
    if (field == "migration") {
      if (hooks_.apply_migration) hooks_.apply_migration(data);
    } else if (field.rfind("route:", 0) == 0) {
      if (hooks_.apply_route) hooks_.apply_route(field.substr(6), data);
    } else {
      continue;
    }
    applied_.Increment();
  }
  return true;
}

void FleetSync::threadLoop() {
  const common::RealTimeSource clock;
  std::chrono::milliseconds backoff{100};
  common::MonotonicTime next_reconcile{};
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
    }
    if (!subscription_.connected()) {
      if (!subscribe() || !reconcile()) {
        subscription_.close();
        commands_.close();
        setConnected(false);
        errors_.Increment();
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait_for(lock, backoff, [this] { return stopping_; });
        backoff = std::min(backoff * 2, MaxBackoff);
        continue;
      }
      backoff = std::chrono::milliseconds(100);
      setConnected(true);
      next_reconcile = clock.monotonicNow() + config_.reconcile_interval;
    }
    bool ok = flush();
    if (ok) {
      bool failed = false;
      std::optional<redis::SyncConnection::Message> message =
          subscription_.nextMessage(MessageWait, failed);
      ok = !failed;
      const bool changed = message && !message->channel.empty();
      if (ok && (changed || clock.monotonicNow() >= next_reconcile)) {
        ok = reconcile();
        next_reconcile = clock.monotonicNow() + config_.reconcile_interval;
      }
    }
    if (!ok) {
      // The subscription is made again (and the whole state read) on the next turn.
      subscription_.close();
      commands_.close();
      setConnected(false);
      errors_.Increment();
    }
  }
}

json FleetSync::view() const {
  std::lock_guard<std::mutex> lock(mutex_);
  json fields = json::object();
  for (const auto& [field, known] : known_) {
    fields[field] = {{"seq", known.seq}, {"origin", known.origin}};
  }
  json pending = json::array();
  for (const auto& [field, data] : pending_) pending.push_back(field);
  return {{"instance", config_.instance},
          {"key_prefix", config_.key_prefix},
          {"connected", connected_},
          {"fields", std::move(fields)},
          {"pending", std::move(pending)}};
}

}  // namespace switchyard::server
