#pragma once

// Where a provider's keys come from.
//
// FileKeys: the set read from jwks.file at load; a reload reads the file again (a new factory).
//
// UrlKeySource: the set behind jwks.url, fetched by a thread of its own (never on a worker: the
// data path only reads the current set, an atomic pointer load). The thread fetches at start,
// then every `refresh`; a token with an unknown kid asks for a fetch sooner, granted at most once
// per `min_refetch` (so a flood of made-up kids costs one fetch per interval). A fetch that
// fails (no answer, a non-2xx status, a body that is not a usable JWKS) keeps the last good keys,
// counts in switchyard_jwt_authn_jwks_fetch_failures_total{provider}, is logged once until a
// fetch succeeds again (logged too), and is retried after `min_refetch`. Claimed from the
// server's runtime-state registry by (provider name, URL), so a reload keeps the keys and the
// thread; stopped when no configuration uses it any more.

#include <prometheus/counter.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "filters/jwt_authn/verifier.h"
#include "proxy/common/time.h"
#include "proxy/http/json_post.h"
#include "proxy/upstream/runtime_state.h"

namespace switchyard::filters::jwt_authn {

class FileKeys final : public KeyProvider {
 public:
  explicit FileKeys(std::shared_ptr<const KeySet> keys) : keys_(std::move(keys)) {}
  std::shared_ptr<const KeySet> keys() const override { return keys_; }
  uint64_t generation() const override { return 1; }

 private:
  const std::shared_ptr<const KeySet> keys_;
};

// Whether an unknown kid at `now` may trigger a fetch, the last one having started at `last`
// (nanoseconds on the monotonic clock; 0: never).
inline bool refetchDue(int64_t now, int64_t last, int64_t min_refetch) {
  return last == 0 || now - last >= min_refetch;
}

class UrlKeySource final : public upstream::RuntimeState, public KeyProvider {
 public:
  struct Settings {
    std::chrono::milliseconds refresh;
    std::chrono::milliseconds min_refetch;
    std::chrono::milliseconds timeout;
  };

  // `time` (a real clock) and `failures` outlive the source. Starts no thread: see start().
  UrlKeySource(std::string provider, http::HttpUrl url, const common::TimeSource& time,
               prometheus::Counter& failures);
  ~UrlKeySource() override;
  UrlKeySource(const UrlKeySource&) = delete;
  UrlKeySource& operator=(const UrlKeySource&) = delete;

  // Applies a configuration's settings (each activation) and starts the thread on the first
  // call. Then waits up to `first_wait` for the first fetch to end, if none has yet, so that a
  // starting proxy does not refuse its first tokens for want of keys.
  void start(const Settings& settings, std::chrono::milliseconds first_wait);

  std::shared_ptr<const KeySet> keys() const override { return keys_.load(); }
  uint64_t generation() const override { return generation_.load(std::memory_order_acquire); }
  void onUnknownKid() const override;

  uint64_t fetches() const { return fetches_.load(); }

 private:
  void run();
  void fetch();

  const std::string provider_;
  const http::HttpUrl url_;
  const common::TimeSource& time_;
  prometheus::Counter& failures_;

  std::atomic<std::shared_ptr<const KeySet>> keys_;
  std::atomic<uint64_t> generation_{0};
  mutable std::atomic<int64_t> last_fetch_ns_{0};
  std::atomic<int64_t> min_refetch_ns_{0};
  std::atomic<uint64_t> fetches_{0};
  std::atomic<bool> stop_{false};

  mutable std::mutex mutex_;
  mutable std::condition_variable wake_;
  std::condition_variable fetched_;
  mutable bool wake_requested_ = false;
  bool first_done_ = false;
  Settings settings_{};
  std::string last_body_;  // the thread's: the last good document
  bool failing_ = false;   // the thread's: logged, until a fetch succeeds
  std::thread thread_;
};

}  // namespace switchyard::filters::jwt_authn
