// Interposes the C allocator for the whole test process. The counters are thread-local so that
// swift-testing's parallel tests on other threads never show up in a measurement.
// glibc exports its real allocator as __libc_*, which avoids dlsym and its own allocations.
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include "CAllocCounter.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

#if defined(__has_feature)
#  if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#    define ATTUNE_SANITIZED 1
#  endif
#endif

static __thread int counting;
static __thread uint64_t count;

static inline void note(void) { if (counting) count++; }

// A sanitizer must own the allocator: an interposer here runs before its runtime is initialised and
// crashes the process at load (seen with `swift test --sanitize=thread`). Sanitized builds count nothing.
#ifndef ATTUNE_SANITIZED
void *malloc(size_t n) { note(); return __libc_malloc(n); }
void *calloc(size_t n, size_t m) { note(); return __libc_calloc(n, m); }
void *realloc(void *p, size_t n) { note(); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t a, size_t n) { note(); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { note(); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    note();
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
#endif

void attune_alloc_counter_start(void) { count = 0; counting = 1; }
uint64_t attune_alloc_counter_stop(void) { counting = 0; return count; }

#include <sys/prctl.h>
long attune_test_timer_slack(void) { return (long)prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0); }

int attune_test_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}
