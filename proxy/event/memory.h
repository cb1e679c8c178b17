#pragma once

namespace switchyard::event {

// Routes libevent's own allocations through the per-thread pools of common/pooled.h. Above all
// these are evbuffer chains: a proxied request makes and drops four (a read and a head in each
// direction), too large for malloc's per-thread cache. Call once, first thing in main(), before
// anything uses libevent. A no-op in sanitizer builds.
void installEventAllocator();

// Frees memory that libevent allocated and handed to the caller (evhttp_uridecode's result).
void freeEventMemory(void* p);

}  // namespace switchyard::event
