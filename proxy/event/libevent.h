#pragma once

#include <event2/event.h>
#include <event2/http.h>

#include <memory>

#include "proxy/event/memory.h"

namespace switchyard::event {

// Owning pointers for the libevent objects we create, so that no path (an exception between
// creation and hand-over, an early return) leaks one or frees it twice. Members holding them
// are destroyed in reverse declaration order: declare the base before anything created on it.
template <auto Free>
struct LibeventDeleter {
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};

using EventBasePtr = std::unique_ptr<event_base, LibeventDeleter<&event_base_free>>;
using EventConfigPtr = std::unique_ptr<event_config, LibeventDeleter<&event_config_free>>;
using EventPtr = std::unique_ptr<::event, LibeventDeleter<&event_free>>;
using EvhttpPtr = std::unique_ptr<evhttp, LibeventDeleter<&evhttp_free>>;
// Memory libevent allocated and handed to the caller (evhttp_uridecode's result).
using EventMemoryPtr = std::unique_ptr<char, LibeventDeleter<&freeEventMemory>>;

}  // namespace switchyard::event
