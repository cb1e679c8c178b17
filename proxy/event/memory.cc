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
// only adds two threads' figures together. One cache line each, so that workers do not contend.
struct alignas(64) Count {
  std::atomic<int64_t> bytes{0};
};
constexpr uint32_t kCounters = 1024;
Count g_counts[kCounters];
std::atomic<uint32_t> g_next_counter{0};
thread_local Count* t_count = nullptr;

Count* claimCount() {
  t_count = &g_counts[g_next_counter.fetch_add(1, std::memory_order_relaxed) % kCounters];
  return t_count;
}

inline Count* myCount() {
  Count* c = t_count;
  return __builtin_expect(c != nullptr, 1) ? c : claimCount();
}

// Each block starts with its size and its count (16 bytes, keeping the caller's memory 16-byte
// aligned), since libevent's free and realloc do not say how large the block was. In sanitizer
// builds pool_detail passes everything to operator new and delete, so the blocks are still
// checked.
constexpr std::size_t kHeader = 16;
struct Header {
  std::size_t size;
  Count* count;
};
static_assert(sizeof(Header) == kHeader);

void* poolMalloc(std::size_t size) {
  auto* base = static_cast<char*>(common::pool_detail::allocate(size + kHeader));
  const Header h{size, myCount()};
  memcpy(base, &h, sizeof(h));
  h.count->bytes.fetch_add(static_cast<int64_t>(size + kHeader), std::memory_order_relaxed);
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
  h.count->bytes.fetch_sub(static_cast<int64_t>(h.size + kHeader), std::memory_order_relaxed);
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

uint32_t threadEventCounter() { return static_cast<uint32_t>(myCount() - g_counts); }

int64_t eventBytes(uint32_t counter) {
  return g_counts[counter % kCounters].bytes.load(std::memory_order_relaxed);
}

int64_t threadEventBytes() { return myCount()->bytes.load(std::memory_order_relaxed); }

}  // namespace switchyard::event
