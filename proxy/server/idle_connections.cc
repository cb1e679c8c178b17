#include "proxy/server/idle_connections.h"

#include <event2/event.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "proxy/server/worker.h"

namespace switchyard::server {

IdleConnections::IdleConnections(event::LibeventDispatcher& dispatcher,
                                 std::atomic<uint32_t>& active, WakeFn wake)
    : dispatcher_(dispatcher),
      active_(active),
      wake_(std::move(wake)),
      timer_(dispatcher.createTimer([this] { onTimer(); })) {
  if (event_get_struct_event_size() > sizeof(Parked::ev)) abort();
}

IdleConnections::~IdleConnections() { closeAll(); }

IdleConnections::Parked* IdleConnections::allocate() {
  if (free_ == nullptr) {
    slabs_.push_back(std::make_unique<Parked[]>(kSlabRecords));
    Parked* slab = slabs_.back().get();
    for (size_t i = 0; i < kSlabRecords; ++i) {
      slab[i].next = free_;
      free_ = &slab[i];
    }
  }
  Parked* p = free_;
  free_ = p->next;
  return p;
}

void IdleConnections::release(Parked* p) {
  p->peer = std::string();
  p->next = free_;
  free_ = p;
}

void IdleConnections::unlink(List& list, Parked* p) {
  (p->prev != nullptr ? p->prev->next : list.head) = p->next;
  (p->next != nullptr ? p->next->prev : list.tail) = p->prev;
  --count_;
}

void IdleConnections::park(ListenerShared& listener, int fd, std::string peer, uint32_t requests,
                           std::chrono::milliseconds idle_for) {
  if (lists_.size() <= listener.index) lists_.resize(listener.index + 1);
  List& list = lists_[listener.index];
  Parked* p = allocate();
  p->owner = this;
  p->listener = &listener;
  p->deadline = dispatcher_.timeSource().monotonicNow() + idle_for;
  p->peer = std::move(peer);
  p->fd = fd;
  p->requests = requests;
  p->prev = list.tail;
  p->next = nullptr;
  (list.tail != nullptr ? list.tail->next : list.head) = p;
  list.tail = p;
  ++count_;
  auto* ev = reinterpret_cast<struct event*>(p->ev);
  event_assign(ev, dispatcher_.base(), fd, EV_READ | EV_CLOSED, &IdleConnections::onReadable, p);
  event_add(ev, nullptr);
  // Listeners may have different idle timeouts: a deadline earlier than the one the timer waits
  // for moves it forward.
  if (!timer_->enabled() || p->deadline < timer_due_) {
    timer_due_ = p->deadline;
    timer_->enable(idle_for);
  }
}

void IdleConnections::onReadable(int fd, short what, void* arg) noexcept {
  // The event (not persistent) has fired and is no longer pending: the record can go back.
  auto* p = static_cast<Parked*>(arg);
  IdleConnections& self = *p->owner;
  ListenerShared& listener = *p->listener;
  if (what & EV_CLOSED) {
    // The client closed (a load balancer or a pool trimming its idle connections, often many at
    // once): close here rather than make a manager only to read the end of the stream. A
    // request sent just before the close is still read by a manager.
    char byte;
    if (::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0) {
      self.close(self.lists_[listener.index], p);
      return;
    }
  }
  // A request: a manager takes the socket back and reads it.
  std::string peer = std::move(p->peer);
  const uint32_t requests = p->requests;
  self.unlink(self.lists_[listener.index], p);
  self.release(p);
  self.wake_(listener, fd, std::move(peer), requests);
}

void IdleConnections::onTimer() {
  const common::MonotonicTime now = dispatcher_.timeSource().monotonicNow();
  for (List& list : lists_) {
    while (list.head != nullptr && list.head->deadline <= now) close(list, list.head);
  }
  armTimer();
}

void IdleConnections::armTimer() {
  bool any = false;
  common::MonotonicTime next{};
  for (const List& list : lists_) {
    if (list.head == nullptr) continue;
    if (!any || list.head->deadline < next) next = list.head->deadline;
    any = true;
  }
  if (!any) return;
  const common::MonotonicTime now = dispatcher_.timeSource().monotonicNow();
  const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now);
  timer_due_ = next;
  timer_->enable(std::max(wait, std::chrono::milliseconds(1)));
}

void IdleConnections::close(List& list, Parked* p) {
  ListenerShared& listener = *p->listener;
  event_del(reinterpret_cast<struct event*>(p->ev));
  ::close(p->fd);
  unlink(list, p);
  release(p);
  listener.connectionClosed();
  active_.fetch_sub(1, std::memory_order_relaxed);
}

bool IdleConnections::closeOldest(const ListenerShared* listener) {
  List* oldest = nullptr;
  for (size_t i = 0; i < lists_.size(); ++i) {
    List& list = lists_[i];
    if (list.head == nullptr || (listener != nullptr && listener->index != i)) continue;
    if (oldest == nullptr || list.head->deadline < oldest->head->deadline) oldest = &list;
  }
  if (oldest == nullptr) return false;
  close(*oldest, oldest->head);
  return true;
}

void IdleConnections::closeAll() {
  for (List& list : lists_) {
    while (list.head != nullptr) close(list, list.head);
  }
  timer_->disable();
}

}  // namespace switchyard::server
