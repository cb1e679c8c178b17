#include "proxy/event/memory.h"

#include <event2/event.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "proxy/common/pooled.h"

namespace switchyard::event {
namespace {

bool g_installed = false;

// What libevent holds per thread (buffers' chains, evbuffers, events), in bytes. A block records
// which thread's count it was added to, since a block made on one thread may be freed on another
// (or after its thread ended): the counts live in a fixed table, never freed, and a thread takes
// the next entry the first time it allocates. Past kCounters threads, entries are shared, which
// only adds two threads' figures together.
constexpr uint32_t kCounters = 1024;
std::atomic<int64_t> g_counts[kCounters];
std::atomic<uint32_t> g_next_counter{0};
thread_local uint32_t t_counter = UINT32_MAX;

inline uint32_t counterIndex() {
  uint32_t i = t_counter;
  if (i == UINT32_MAX) {
    i = g_next_counter.fetch_add(1, std::memory_order_relaxed) % kCounters;
    t_counter = i;
  }
  return i;
}

// Each block starts with its size and its count's index (16 bytes, keeping the caller's memory
// 16-byte aligned), since libevent's free and realloc do not say how large the block was. In
// sanitizer builds pool_detail passes everything to operator new and delete, so the blocks are
// still checked.
constexpr std::size_t kHeader = 16;
struct Header {
  std::size_t size;
  uint32_t counter;
};
static_assert(sizeof(Header) <= kHeader);

void* poolMalloc(std::size_t size) {
  auto* base = static_cast<char*>(common::pool_detail::allocate(size + kHeader));
  const Header h{size, counterIndex()};
  memcpy(base, &h, sizeof(h));
  g_counts[h.counter].fetch_add(static_cast<int64_t>(size + kHeader), std::memory_order_relaxed);
  return base + kHeader;
}

Header header(void* p) {
  Header h;
  memcpy(&h, static_cast<char*>(p) - kHeader, sizeof(h));
  return h;
}

void poolFree(void* p) {
  if (p == nullptr) return;
  const Header h = header(p);
  g_counts[h.counter].fetch_sub(static_cast<int64_t>(h.size + kHeader), std::memory_order_relaxed);
  common::pool_detail::deallocate(static_cast<char*>(p) - kHeader, h.size + kHeader);
}

void* poolRealloc(void* p, std::size_t size) {
  if (p == nullptr) return poolMalloc(size);
  if (size == 0) {
    poolFree(p);
    return nullptr;
  }
  const std::size_t old = header(p).size;
  void* fresh = poolMalloc(size);
  memcpy(fresh, p, old < size ? old : size);
  poolFree(p);
  return fresh;
}

}  // namespace

void installEventAllocator() {
  if (g_installed) return;
  event_set_mem_functions(&poolMalloc, &poolRealloc, &poolFree);
  g_installed = true;
}

void freeEventMemory(void* p) {
  if (g_installed) {
    poolFree(p);
    return;
  }
  std::free(p);
}

uint32_t threadEventCounter() { return counterIndex(); }

int64_t eventBytes(uint32_t counter) {
  return g_counts[counter % kCounters].load(std::memory_order_relaxed);
}

int64_t threadEventBytes() { return g_counts[counterIndex()].load(std::memory_order_relaxed); }

}  // namespace switchyard::event
