// Keeping freed host memory inside the process, so that repeated forward passes reuse it.
#pragma once

namespace jina3 {

// glibc hands every allocation above its mmap threshold (128 KiB and up) to its own mmap and
// returns it to the kernel on free, and it trims the heap top beyond 128 KiB. A forward pass
// allocates hundreds of MiB of transient tensors, so every pass page-faults its whole working
// set back in; on the development VM that made bfloat16 encoding 1.3x slower (656 vs 858 tokens/s,
// 64 x 128 tokens). This switches both off for the whole process (mallopt: no mmap for large
// blocks, trim threshold 2 GiB), once; it is never undone. Elsewhere than glibc it does nothing.
void retain_freed_host_memory();

}  // namespace jina3
