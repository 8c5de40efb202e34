#include "AttuneKernels.h"
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <stdlib.h>
#include <string.h>

static int cpuHasAVX2, useAVX2;

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
    useAVX2 = cpuHasAVX2 && !(choice && strcmp(choice, "baseline") == 0);
#endif
}

int attune_kernels_cpu_has_avx2(void) { return cpuHasAVX2; }
int attune_kernels_use_avx2(void) { return useAVX2; }

void attune_level_hop(const float *x, long n, const AttuneLevelCoefficients *c, AttuneLevelState *s, AttuneLevelHop *out) {
    if (useAVX2) attune_level_hop_avx2(x, n, c, s, out);
    else attune_level_hop_baseline(x, n, c, s, out);
}

void attune_nucleus_hidden(const float *inputs, long mask, long inputCount, long j, long end, long taps, long dilation,
                           const float *conv1, const float *bias1, float *hidden) {
    if (useAVX2) attune_nucleus_hidden_avx2(inputs, mask, inputCount, j, end, taps, dilation, conv1, bias1, hidden);
    else attune_nucleus_hidden_baseline(inputs, mask, inputCount, j, end, taps, dilation, conv1, bias1, hidden);
}

void attune_nucleus_units(const float *hidden, long mask, long k, long end, long taps,
                          const float *conv2, const float *bias2, float *units) {
    if (useAVX2) attune_nucleus_units_avx2(hidden, mask, k, end, taps, conv2, bias2, units);
    else attune_nucleus_units_baseline(hidden, mask, k, end, taps, conv2, bias2, units);
}

void attune_decimate(const float *fir, long length, const float *x, long step, long count, float *ring, long ringMask, long j) {
    if (useAVX2) attune_decimate_avx2(fir, length, x, step, count, ring, ringMask, j);
    else attune_decimate_baseline(fir, length, x, step, count, ring, ringMask, j);
}

void attune_pitch_window(const float *d, long n, const float *hann, float *x, float *mean, float *peak, float *energy) {
    if (useAVX2) attune_pitch_window_avx2(d, n, hann, x, mean, peak, energy);
    else attune_pitch_window_baseline(d, n, hann, x, mean, peak, energy);
}

void attune_windowed_energy(const float *x, const float *window, float mean, long count, float *energy) {
    if (useAVX2) attune_windowed_energy_avx2(x, window, mean, count, energy);
    else attune_windowed_energy_baseline(x, window, mean, count, energy);
}

void attune_pair_sums(const float *a, const float *b, long n, float *sums) {
    if (useAVX2) attune_pair_sums_avx2(a, b, n, sums);
    else attune_pair_sums_baseline(a, b, n, sums);
}

long attune_count_unusual(const float *x, long n, float limit) {
    return useAVX2 ? attune_count_unusual_avx2(x, n, limit) : attune_count_unusual_baseline(x, n, limit);
}
