#include "proxy/upstream/runtime_state.h"

namespace switchyard::upstream {

void RuntimeStateRegistry::beginActivation() {
  std::lock_guard lock(mutex_);
  for (auto& [key, entry] : live_) entry.claimed = false;
}

void RuntimeStateRegistry::endActivation() {
  std::lock_guard lock(mutex_);
  for (auto it = live_.begin(); it != live_.end();) {
    if (it->second.claimed) {
      ++it;
      continue;
    }
    retired_.emplace(it->first, std::move(it->second.state));
    it = live_.erase(it);
  }
  collectLocked();
}

std::shared_ptr<RuntimeState> RuntimeStateRegistry::claimBase(
    std::string_view owner, std::string_view name,
    const std::function<std::shared_ptr<RuntimeState>()>& make) {
  std::lock_guard lock(mutex_);
  Key key(owner, name);
  auto it = live_.find(key);
  if (it == live_.end()) {
    Entry entry;
    if (auto retired = retired_.find(key); retired != retired_.end()) {
      entry.state = std::move(retired->second);
      retired_.erase(retired);
    } else {
      entry.state = make();
    }
    it = live_.emplace(std::move(key), std::move(entry)).first;
  }
  it->second.claimed = true;
  return it->second.state;
}

size_t RuntimeStateRegistry::collect() {
  std::lock_guard lock(mutex_);
  return collectLocked();
}

size_t RuntimeStateRegistry::collectLocked() {
  size_t destroyed = 0;
  for (auto it = retired_.begin(); it != retired_.end();) {
    // Only the registry holds it: no snapshot can reach it, and only claim() (under the mutex)
    // could hand it out again.
    if (it->second.use_count() == 1) {
      it = retired_.erase(it);
      ++destroyed;
    } else {
      ++it;
    }
  }
  return destroyed;
}

size_t RuntimeStateRegistry::liveCount() const {
  std::lock_guard lock(mutex_);
  return live_.size();
}

size_t RuntimeStateRegistry::retiredCount() const {
  std::lock_guard lock(mutex_);
  return retired_.size();
}

std::vector<std::string> RuntimeStateRegistry::liveNames() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [key, entry] : live_) out.push_back(key.first + "/" + key.second);
  return out;
}

}  // namespace switchyard::upstream
