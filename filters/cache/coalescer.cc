#include "filters/cache/coalescer.h"

#include "proxy/common/random.h"

namespace switchyard::filters::cache {

Coalescer::Coalescer(std::chrono::milliseconds pass_for)
    : pass_for_(pass_for), seed_(common::RealRandom().next()) {
  slots_ = Map(0, common::SeededHash(seed_), common::HashedKeyEqual{});
}

Coalescer::Slot& Coalescer::slotFor(std::string_view key) {
  const common::HashedKey k = hashed(key);
  auto it = slots_.find(k);
  if (it == slots_.end()) it = slots_.emplace(std::string(key), Slot{}).first;
  return it->second;
}

bool Coalescer::lead(Slot& slot, common::MonotonicTime now) {
  if (slot.pass_until != common::MonotonicTime{}) {
    if (now < slot.pass_until) return false;
    slot.pass_until = {};
    --marked_;
  }
  slot.in_flight = true;
  ++in_flight_;
  return true;
}

Coalescer::Join Coalescer::join(std::string_view key, event::Dispatcher& dispatcher,
                                CoalesceWaiter* waiter, size_t max_waiters,
                                common::MonotonicTime now, CoalesceTicketPtr* ticket) {
  std::lock_guard<std::mutex> lock(mutex_);
  Slot& slot = slotFor(key);
  if (!slot.in_flight) return lead(slot, now) ? Join::Leader : Join::Pass;
  if (slot.waiters.size() >= max_waiters) return Join::Full;
  *ticket = std::make_shared<CoalesceTicket>(dispatcher, waiter);
  slot.waiters.push_back(*ticket);
  ++waiting_;
  return Join::Waiting;
}

bool Coalescer::tryLead(std::string_view key, common::MonotonicTime now) {
  std::lock_guard<std::mutex> lock(mutex_);
  Slot& slot = slotFor(key);
  return !slot.in_flight && lead(slot, now);
}

void Coalescer::finish(std::string_view key, CoalesceOutcome outcome, common::MonotonicTime now) {
  std::vector<CoalesceTicketPtr> woken;
  {
    const common::HashedKey k = hashed(key);
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = slots_.find(k);
    if (it == slots_.end() || !it->second.in_flight) return;
    Slot& slot = it->second;
    slot.in_flight = false;
    --in_flight_;
    woken.swap(slot.waiters);
    waiting_ -= woken.size();
    if (outcome == CoalesceOutcome::Uncacheable) {
      if (marked_ >= MaxMarks) sweepMarks(now);
      if (marked_ < MaxMarks) {
        if (slot.pass_until == common::MonotonicTime{}) ++marked_;
        slot.pass_until = now + pass_for_;
      }
    }
    if (slot.pass_until == common::MonotonicTime{}) slots_.erase(it);
  }
  // Outside the lock: post() takes the dispatcher's own.
  for (CoalesceTicketPtr& ticket : woken) {
    event::Dispatcher& d = ticket->dispatcher;
    d.post([ticket = std::move(ticket), outcome] {
      if (ticket->waiter == nullptr) return;  // the request ended meanwhile
      CoalesceWaiter* waiter = ticket->waiter;
      ticket->waiter = nullptr;
      waiter->onCoalesced(outcome);
    });
  }
}

void Coalescer::leave(std::string_view key, const CoalesceTicket* ticket) {
  const common::HashedKey k = hashed(key);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = slots_.find(k);
  if (it == slots_.end()) return;
  std::vector<CoalesceTicketPtr>& waiters = it->second.waiters;
  for (auto w = waiters.begin(); w != waiters.end(); ++w) {
    if (w->get() != ticket) continue;
    waiters.erase(w);
    --waiting_;
    return;
  }
}

void Coalescer::clearMark(std::string_view key) {
  const common::HashedKey k = hashed(key);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = slots_.find(k);
  if (it == slots_.end() || it->second.pass_until == common::MonotonicTime{}) return;
  it->second.pass_until = {};
  --marked_;
  if (!it->second.in_flight) slots_.erase(it);
}

void Coalescer::sweepMarks(common::MonotonicTime now) {
  for (auto it = slots_.begin(); it != slots_.end();) {
    Slot& slot = it->second;
    if (slot.pass_until != common::MonotonicTime{} && slot.pass_until <= now) {
      slot.pass_until = {};
      --marked_;
      if (!slot.in_flight) {
        it = slots_.erase(it);
        continue;
      }
    }
    ++it;
  }
}

size_t Coalescer::inFlight() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return in_flight_;
}

size_t Coalescer::waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return waiting_;
}

size_t Coalescer::marked() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return marked_;
}

}  // namespace switchyard::filters::cache
