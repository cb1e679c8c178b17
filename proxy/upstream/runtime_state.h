#pragma once

// State that outlives configuration snapshots: circuit breakers, bulkheads, retry budgets, and
// anything else a filter must not lose on a reload (rate-limit buckets, a cache). Owned by the
// server for the life of the process.
//
// A configuration is put into effect by an activation: between beginActivation() and
// endActivation() each filter factory claims the state it uses by (owner, name), e.g.
// ("circuit_breaker", "legacy"), and applies its new settings to it; state the new configuration
// does not claim is retired. A retired object is destroyed by collect() once the registry holds
// the only reference (streams of an older snapshot may still be using it through that snapshot's
// factories); claiming a retired name before then revives the same object. So there is never more
// than one object per (owner, name): a breaker stays open across a SIGHUP, and a bulkhead counts
// the requests of every snapshot against one limit.
//
// Threads: every method takes the registry's mutex; they run where configurations are activated
// (the main thread, or the admin thread on POST /reload) and from a periodic collect(), never per
// request. The state objects themselves are shared by the workers and must be thread-safe.

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard::upstream {

class RuntimeState {
 public:
  virtual ~RuntimeState() = default;
};

class RuntimeStateRegistry {
 public:
  RuntimeStateRegistry() = default;
  RuntimeStateRegistry(const RuntimeStateRegistry&) = delete;
  RuntimeStateRegistry& operator=(const RuntimeStateRegistry&) = delete;

  void beginActivation();
  // Retires what the activation did not claim; then collect().
  void endActivation();

  // The state of (owner, name): the live or retired one if there is one, else make()'s. Every
  // claim of one (owner, name) must use the same T (an owner names one kind of state).
  template <class T>
  std::shared_ptr<T> claim(std::string_view owner, std::string_view name,
                           const std::function<std::shared_ptr<T>()>& make) {
    return std::static_pointer_cast<T>(
        claimBase(owner, name, [&make]() -> std::shared_ptr<RuntimeState> { return make(); }));
  }

  // Destroys retired state that nothing outside the registry holds any more. Returns how many.
  size_t collect();

  size_t liveCount() const;
  size_t retiredCount() const;
  // "owner/name" of every live entry, sorted (for tests and the admin page).
  std::vector<std::string> liveNames() const;

 private:
  using Key = std::pair<std::string, std::string>;
  struct Entry {
    std::shared_ptr<RuntimeState> state;
    bool claimed = false;
  };

  std::shared_ptr<RuntimeState> claimBase(
      std::string_view owner, std::string_view name,
      const std::function<std::shared_ptr<RuntimeState>()>& make);
  size_t collectLocked();

  mutable std::mutex mutex_;
  std::map<Key, Entry> live_;
  std::map<Key, std::shared_ptr<RuntimeState>> retired_;
};

}  // namespace switchyard::upstream
