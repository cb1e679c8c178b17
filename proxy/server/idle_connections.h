#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <event2/event_struct.h>

#include "proxy/common/time.h"
#include "proxy/event/dispatcher.h"
#include "proxy/event/libevent.h"

namespace switchyard::server {

struct ListenerShared;

// Keep-alive client connections waiting for their next request, held as little more than the
// socket and one read event (about 300 bytes, where a connection with its manager, parser,
// buffers and timer costs three or four times that). nginx keeps a waiting connection just as
// lean. A worker parks a connection here when it has been idle for a second, or at once when the
// worker holds many connections; when the client sends again (or closes), `wake` gets the socket
// back and makes a new manager for it.
//
// Each listener's parked connections form a list in the order they were parked: with one idle
// timeout per listener that is also the order of their deadlines, so one timer serves them all.
// Lives on its worker's thread.
class IdleConnections {
 public:
  // `wake(listener, fd, peer, requests)` takes the socket back; `active` is the worker's count of
  // open client connections, decremented when a parked connection is closed here.
  using WakeFn = std::function<void(ListenerShared&, int, std::string, uint32_t)>;
  IdleConnections(event::LibeventDispatcher& dispatcher, std::atomic<uint32_t>& active,
                  WakeFn wake);
  ~IdleConnections();
  IdleConnections(const IdleConnections&) = delete;
  IdleConnections& operator=(const IdleConnections&) = delete;

  // Holds `fd` (already counted as open on `listener`) until it is readable or `idle_for` has
  // passed, when it is closed.
  void park(ListenerShared& listener, int fd, std::string peer, uint32_t requests,
            std::chrono::milliseconds idle_for);
  // Closes the connection parked longest (of `listener`, or of any when null); false if none.
  bool closeOldest(const ListenerShared* listener);
  // Closes every parked connection (drain, stop).
  void closeAll();
  size_t size() const { return count_; }

 private:
  // One parked connection. Records are carved from slabs that only ever hold records, with the
  // read event inside: a record made while short-lived request objects come and go would
  // otherwise pin the pages they were freed from, and idle memory would grow by far more than
  // the records themselves.
  struct Parked {
    alignas(struct event) unsigned char ev[sizeof(struct event)];
    IdleConnections* owner;
    ListenerShared* listener;
    Parked* prev;  // in its listener's list, or the free list (next only)
    Parked* next;
    common::MonotonicTime deadline;
    std::string peer;
    int fd;
    uint32_t requests;
  };
  struct List {
    Parked* head = nullptr;
    Parked* tail = nullptr;
  };
  static constexpr size_t kSlabRecords = 128;

  static void onReadable(int fd, short what, void* arg) noexcept;
  Parked* allocate();
  void unlink(List& list, Parked* p);
  void release(Parked* p);
  void onTimer();
  void armTimer();
  // Closes the socket and forgets it, counting the connection as closed.
  void close(List& list, Parked* p);

  event::LibeventDispatcher& dispatcher_;
  std::atomic<uint32_t>& active_;
  WakeFn wake_;
  std::vector<List> lists_;  // by listener index
  std::vector<std::unique_ptr<Parked[]>> slabs_;
  Parked* free_ = nullptr;
  size_t count_ = 0;
  event::TimerPtr timer_;
  common::MonotonicTime timer_due_{};  // what timer_ waits for, while enabled
};

}  // namespace switchyard::server
