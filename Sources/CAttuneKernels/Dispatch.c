#include "AttuneKernels.h"
#include "Vectors.h"
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <stdlib.h>
#include <string.h>

static int cpuHasAVX2;
int attune_kernels_avx2_selected;

/// AVX2 needs the CPU's support (CPUID leaf 7, EBX bit 5) and the OS's: YMM state saved on context switch
/// (OSXSAVE, and XCR0 bits 1 and 2). `ATTUNE_KERNELS=baseline` in the environment keeps the baseline build, to
/// compare the two on one machine (the output is the same; only the speed differs).
__attribute__((constructor)) static void detect(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX)) return;
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) return;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    cpuHasAVX2 = (b & bit_AVX2) != 0;
    const char *choice = getenv("ATTUNE_KERNELS");
    attune_kernels_avx2_selected = cpuHasAVX2 && !(choice && strcmp(choice, "baseline") == 0);
#endif
}

int attune_kernels_cpu_has_avx2(void) { return cpuHasAVX2; }
