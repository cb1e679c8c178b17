#pragma once

#include <memory>

#include "filters/rate_limit/gcra_store.h"
#include "proxy/redis/reply.h"

namespace switchyard::redis {
class Client;
}

namespace switchyard::filters::rate_limit {

// The GcraStore of a worker: GcraScript by EVALSHA on the worker's Redis client (loaded on every
// connection, reloaded on NOSCRIPT by the client). Lives on the worker's thread and must be
// destroyed before the client; it cancels what it still has outstanding.
std::unique_ptr<GcraStore> makeRedisGcraStore(redis::Client& client);

// The StoreResult of one GcraScript call: the decision of a well-formed reply ({allowed,
// remaining, retry_after_us, reset_us}), else an error of the client's kind ("timeout", ...), or
// "protocol" for a reply of another shape.
StoreResult gcraStoreResult(const redis::Result& result);

}  // namespace switchyard::filters::rate_limit
