#include "proxy/common/pooled.h"

#include <cstdint>

namespace switchyard::common::pool_detail {
namespace {

constexpr std::size_t kGranule = 16;
constexpr std::size_t kMaxSize = 2048;  // larger objects go to the allocator directly
constexpr std::size_t kClasses = kMaxSize / kGranule;
constexpr uint32_t kMaxCached = 256;  // per size class and thread

struct FreeBlock {
  FreeBlock* next;
};

// Trivially destructible, so reaching it is a plain thread-local access (no initialisation
// guard). `state` is 0 until the thread's first pooled free registers the cleanup below, 1
// while the lists are in use, 2 once the thread is exiting and they were emptied: from then on
// blocks go straight back to the allocator.
struct Lists {
  FreeBlock* head[kClasses];
  uint32_t count[kClasses];
  int state;
};
thread_local Lists t_lists;

void releaseAll() {
  Lists& lists = t_lists;
  lists.state = 2;
  for (std::size_t c = 0; c < kClasses; ++c) {
    while (FreeBlock* b = lists.head[c]) {
      lists.head[c] = b->next;
      ::operator delete(b);
    }
    lists.count[c] = 0;
  }
}

struct Cleanup {
  ~Cleanup() { releaseAll(); }
};

inline std::size_t classOf(std::size_t size) { return (size + kGranule - 1) / kGranule - 1; }

}  // namespace

void* allocate(std::size_t size) {
  // Also size 0; and everything in sanitizer builds.
  if (!SWITCHYARD_POOLED_ALLOCATION || size - 1 >= kMaxSize) return ::operator new(size);
  const std::size_t c = classOf(size);
  Lists& lists = t_lists;
  if (lists.state == 1) {
    if (FreeBlock* b = lists.head[c]) {
      lists.head[c] = b->next;
      --lists.count[c];
      return b;
    }
  } else if (lists.state == 0) {
    // Blocks are cached only once the thread has registered the cleanup of its lists.
    static thread_local Cleanup cleanup;
    (void)cleanup;
    lists.state = 1;
  }
  // Always sized to the class, wherever it is freed, so any object of the class can reuse it.
  return ::operator new((c + 1) * kGranule);
}

void deallocate(void* p, std::size_t size) noexcept {
  if (p == nullptr) return;
  Lists& lists = t_lists;
  if (!SWITCHYARD_POOLED_ALLOCATION || size - 1 >= kMaxSize || lists.state != 1) {
    ::operator delete(p);
    return;
  }
  const std::size_t c = classOf(size);
  if (lists.count[c] >= kMaxCached) {
    ::operator delete(p);
    return;
  }
  auto* b = static_cast<FreeBlock*>(p);
  b->next = lists.head[c];
  lists.head[c] = b;
  ++lists.count[c];
}

}  // namespace switchyard::common::pool_detail
