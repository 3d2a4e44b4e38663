#include "util/host_memory.hpp"

#include <climits>
#include <mutex>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace jina3 {

void retain_freed_host_memory() {
  static std::once_flag once;
  std::call_once(once, [] {
#if defined(__GLIBC__)
    // Large blocks then come from the heap (brk, or a thread's arena), and free memory at its top
    // is kept up to INT_MAX bytes. A refused setting (mallopt returns 0) only costs speed.
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
  });
}

}  // namespace jina3
