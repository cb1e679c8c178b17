#include "proxy/event/memory.h"

#include <event2/event.h>

#include <cstdlib>
#include <cstring>

#include "proxy/common/pooled.h"

namespace switchyard::event {
namespace {

#if SWITCHYARD_POOLED_ALLOCATION
bool g_installed = false;

// Each block starts with its size (16 bytes, keeping the caller's memory 16-byte aligned), since
// libevent's free and realloc do not say how large the block was.
constexpr std::size_t kHeader = 16;

void* poolMalloc(std::size_t size) {
  auto* base = static_cast<char*>(common::pool_detail::allocate(size + kHeader));
  memcpy(base, &size, sizeof(size));
  return base + kHeader;
}

std::size_t blockSize(void* p) {
  std::size_t size;
  memcpy(&size, static_cast<char*>(p) - kHeader, sizeof(size));
  return size;
}

void poolFree(void* p) {
  if (p == nullptr) return;
  common::pool_detail::deallocate(static_cast<char*>(p) - kHeader, blockSize(p) + kHeader);
}

void* poolRealloc(void* p, std::size_t size) {
  if (p == nullptr) return poolMalloc(size);
  if (size == 0) {
    poolFree(p);
    return nullptr;
  }
  const std::size_t old = blockSize(p);
  void* fresh = poolMalloc(size);
  memcpy(fresh, p, old < size ? old : size);
  poolFree(p);
  return fresh;
}
#endif

}  // namespace

void installEventAllocator() {
#if SWITCHYARD_POOLED_ALLOCATION
  if (g_installed) return;
  event_set_mem_functions(&poolMalloc, &poolRealloc, &poolFree);
  g_installed = true;
#endif
}

void freeEventMemory(void* p) {
#if SWITCHYARD_POOLED_ALLOCATION
  if (g_installed) {
    poolFree(p);
    return;
  }
#endif
  std::free(p);
}

}  // namespace switchyard::event
