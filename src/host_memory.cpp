#include "host_memory.hpp"

#include <climits>
#include <mutex>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace jina3 {

bool retain_freed_host_memory() {
  static std::once_flag once;
  static bool changed = false;
  std::call_once(once, [] {
#if defined(__GLIBC__)
    // mallopt returns 1 on success. Large blocks then come from the heap (brk, or a thread's
    // arena), and free memory at its top is kept up to INT_MAX bytes.
    const bool no_mmap = mallopt(M_MMAP_MAX, 0) == 1;
    const bool no_trim = mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1;
    changed = no_mmap && no_trim;
#endif
  });
  return changed;
}

}  // namespace jina3
