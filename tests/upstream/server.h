#pragma once

// The test upstream's network side: one Worker per thread, each with its own event_base and an
// evconnlistener on the shared listening socket (the kernel hands each connection to whichever
// worker accepts first). Connections are hand-written over bufferevents rather than evhttp
// because most behaviours need to break HTTP on purpose.

#include <event2/event.h>
#include <event2/listener.h>

#include <memory>
#include <unordered_map>
#include <vector>

#include "tests/upstream/behaviour.h"

namespace switchyard::test::upstream {

template <auto Free>
struct LibeventDeleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using EventBasePtr = std::unique_ptr<event_base, LibeventDeleter<event_base_free>>;
using EventPtr = std::unique_ptr<event, LibeventDeleter<event_free>>;
using ListenerPtr = std::unique_ptr<evconnlistener, LibeventDeleter<evconnlistener_free>>;

class Connection;

class Worker {
 public:
  // `listen_fd` must be non-blocking and listening; it stays owned by the caller. Throws
  // std::runtime_error if libevent cannot be set up (startup only).
  Worker(SharedState& shared, evutil_socket_t listen_fd);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs the event loop on the calling thread until stop().
  void run();
  // Safe from any thread (requires evthread_use_pthreads() before construction).
  void stop();

  event_base* base() const { return base_.get(); }
  SharedState& shared() const { return shared_; }
  // Called by a connection that is done; it is destroyed later from the loop, never inside its
  // own callback.
  void release(Connection* connection);

 private:
  static void onAccept(evconnlistener* listener, evutil_socket_t fd, sockaddr* addr, int len,
                       void* arg) noexcept;
  static void onAcceptError(evconnlistener* listener, void* arg) noexcept;
  static void onResumeAccept(evutil_socket_t, short, void* arg) noexcept;
  static void onReap(evutil_socket_t, short, void* arg) noexcept;

  SharedState& shared_;
  EventBasePtr base_;
  ListenerPtr listener_;
  EventPtr resume_accept_;
  EventPtr reaper_;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
  std::vector<std::unique_ptr<Connection>> graveyard_;
};

}  // namespace switchyard::test::upstream
