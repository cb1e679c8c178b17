#pragma once

#include <cstdint>

namespace switchyard::event {

// Routes libevent's own allocations through the per-thread pools of common/pooled.h. Above all
// these are evbuffer chains: a proxied request makes and drops four (a read and a head in each
// direction), too large for malloc's per-thread cache. Call once, first thing in main(), before
// anything uses libevent. In sanitizer builds the blocks come from operator new, unpooled.
void installEventAllocator();

// Bytes of libevent memory (buffers' chains, evbuffers, events) allocated on the calling thread
// and not yet freed, on any thread. Each worker thread's figure is what its overload limit
// compares with. 0 before installEventAllocator().
int64_t threadEventBytes();
// The same figure for another thread: threadEventCounter() names the calling thread's.
uint32_t threadEventCounter();
int64_t eventBytes(uint32_t counter);

// Frees memory that libevent allocated and handed to the caller (evhttp_uridecode's result).
void freeEventMemory(void* p);

}  // namespace switchyard::event
