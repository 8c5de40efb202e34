#include "AttuneKernels.h"
#include "Vectors.h"

/// Σ fir[i]·b[i] over `length` (a multiple of 8), in two accumulators: one output of the loop below on its own.
INLINE float dot(const float *fir, const float *b, long length) {
    V8 b0 = {0}, b1 = {0};
    long i = 0;
    for (; i + 16 <= length; i += 16) {
        b0 += load8(fir + i) * load8(b + i);
        b1 += load8(fir + i + 8) * load8(b + i + 8);
    }
    if (i < length) b0 += load8(fir + i) * load8(b + i);
    return sumLanes(b0 + b1);
}

/// Two outputs at a time: each ends in eight dependent additions (the lanes' sum, in order), and side by side
/// the two chains overlap.
INLINE void attune_decimate_body(const float *fir, long length, const float *x, long step, long count, float *ring, long ringMask, long j) {
    const long mirror = ringMask + 1;
    long k = 0;
    for (; k + 1 < count; k += 2) {
        const float *b = x + k * step, *c = b + step;
        V8 b0 = {0}, b1 = {0}, c0 = {0}, c1 = {0};
        long i = 0;
        for (; i + 16 <= length; i += 16) {
            const V8 a0 = load8(fir + i), a1 = load8(fir + i + 8);
            b0 += a0 * load8(b + i); b1 += a1 * load8(b + i + 8);
            c0 += a0 * load8(c + i); c1 += a1 * load8(c + i + 8);
        }
        if (i < length) {
            const V8 a0 = load8(fir + i);
            b0 += a0 * load8(b + i);
            c0 += a0 * load8(c + i);
        }
        const float first = sumLanes(b0 + b1), second = sumLanes(c0 + c1);
        const long p = (j + k) & ringMask, q = (j + k + 1) & ringMask;
        ring[p] = first; ring[p + mirror] = first;
        ring[q] = second; ring[q + mirror] = second;
    }
    if (k < count) {
        const float out = dot(fir, x + k * step, length);
        const long p = (j + k) & ringMask;
        ring[p] = out; ring[p + mirror] = out;
    }
}

ATTUNE_KERNEL(attune_decimate,
                  (const float *fir, long length, const float *x, long step, long count, float *ring, long ringMask, long j),
                  (fir, length, x, step, count, ring, ringMask, j))
