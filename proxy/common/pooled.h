#pragma once

#include <cstddef>
#include <new>

// Per-thread free lists for the objects a worker makes and drops once per request (the stream,
// its filters and their wrappers, the router, timers). A class opts in by deriving from
// ThreadPooled; `new` and `delete` of it and of every class derived from it then reuse blocks
// of the same size that this thread freed before, without going through malloc.
//
// A block freed on another thread goes to that thread's list, which is harmless: blocks are
// ordinary operator-new memory. Each list is bounded, and a thread's lists are returned to the
// allocator when it exits. Sanitizer builds skip the lists so that use-after-free stays visible.

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SWITCHYARD_POOLED_ALLOCATION 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SWITCHYARD_POOLED_ALLOCATION 0
#endif
#endif
#ifndef SWITCHYARD_POOLED_ALLOCATION
#define SWITCHYARD_POOLED_ALLOCATION 1
#endif

namespace switchyard::common {

// Without SWITCHYARD_POOLED_ALLOCATION these are plain operator new and delete.
namespace pool_detail {
void* allocate(std::size_t size);
void deallocate(void* p, std::size_t size) noexcept;
}  // namespace pool_detail

class ThreadPooled {
 public:
  static void* operator new(std::size_t size) { return pool_detail::allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept {
    pool_detail::deallocate(p, size);
  }

 protected:
  ThreadPooled() = default;
  ~ThreadPooled() = default;
};

// The same per-thread lists for a container's storage (a stream's vector of filters).
template <class T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)
  T* allocate(std::size_t n) { return static_cast<T*>(pool_detail::allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { pool_detail::deallocate(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const PoolAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace switchyard::common
