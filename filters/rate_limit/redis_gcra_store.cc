#include "filters/rate_limit/redis_gcra_store.h"

#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/redis/client.h"
#include "proxy/redis/script.h"

namespace switchyard::filters::rate_limit {
namespace {

const redis::Script& gcraScript() {
  static const redis::Script script(GcraScript);
  return script;
}

class RedisGcraStore final : public GcraStore {
 public:
  explicit RedisGcraStore(redis::Client& client) : client_(client) {
    client_.loadScript(gcraScript());
  }
  ~RedisGcraStore() override {
    for (auto& [handle, request] : requests_) request.cancel();
  }

  Handle decide(std::string_view key, const GcraScriptArgs& args, Callback done) override {
    const Handle handle = ++next_;
    redis::Request request = client_.eval(
        gcraScript(), {std::string(key)},
        {std::to_string(args.emission_interval_us), std::to_string(args.tolerance_us), "1"},
        [this, handle, done = std::move(done)](redis::Result result) {
          requests_.erase(handle);
          done(gcraStoreResult(result));
        });
    requests_.emplace(handle, request);
    return handle;
  }

  void cancel(Handle handle) override {
    auto it = requests_.find(handle);
    if (it == requests_.end()) return;
    it->second.cancel();
    requests_.erase(it);
  }

 private:
  redis::Client& client_;
  std::unordered_map<Handle, redis::Request> requests_;
  Handle next_ = 0;
};

}  // namespace

std::unique_ptr<GcraStore> makeRedisGcraStore(redis::Client& client) {
  return std::make_unique<RedisGcraStore>(client);
}

StoreResult gcraStoreResult(const redis::Result& result) {
  StoreResult out;
  if (!result.ok()) {
    out.error_kind = redis::errorKindName(result.error);
    return out;
  }
  const redis::Value& v = result.value;
  const bool shape = v.type == redis::Value::Type::Array && v.array.size() == 4 &&
                     v.array[0].type == redis::Value::Type::Integer &&
                     v.array[1].type == redis::Value::Type::Integer &&
                     v.array[2].type == redis::Value::Type::Integer &&
                     v.array[3].type == redis::Value::Type::Integer;
  if (!shape || v.array[1].integer < 0 || v.array[2].integer < 0 || v.array[3].integer < 0) {
    out.error_kind = "protocol";
    return out;
  }
  out.ok = true;
  GcraDecision& d = out.decision;
  d.allowed = v.array[0].integer == 1;
  d.remaining = v.array[1].integer;
  d.retry_after_ns = v.array[2].integer * 1000;
  d.reset_ns = v.array[3].integer * 1000;
  return out;
}

}  // namespace switchyard::filters::rate_limit
