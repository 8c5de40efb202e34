#include "AttuneKernels.h"
#include "Vectors.h"

/// The lane vectors of Σ fir[i]·b[i] and Σ fir[i]·c[i] over `length` (a multiple of 8), each in two accumulators.
INLINE void dotPair(const float *fir, long length, const float *b, const float *c, V8 *first, V8 *second) {
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
    *first = b0 + b1;
    *second = c0 + c1;
}

/// Eight outputs at a time, their lane sums together (`sumLanesOfEight`); the rest two at a time, whose two
/// chains of lane additions overlap, and a last one on its own (as the first of a pair with itself: only the
/// first frame has an odd count, so the wasted half costs nothing and no second loop is needed).
INLINE void attune_decimate_body(const float *fir, long length, const float *x, long step, long count, float *ring, long ringMask, long j) {
    const long mirror = ringMask + 1;
    long k = 0;
    for (; k + 8 <= count; k += 8) {
        V8 lanes[8];
        // Unrolled, the eight lane vectors stay in registers for the transpose instead of a round trip through
        // the stack.
#pragma clang loop unroll(full)
        for (int o = 0; o < 8; o += 2) {
            const float *b = x + (k + o) * step;
            dotPair(fir, length, b, b + step, &lanes[o], &lanes[o + 1]);
        }
        const V8 out = sumLanesOfEight(lanes);
        // One vector store per copy unless the eight outputs wrap around the ring.
        const long p = (j + k) & ringMask;
        if (p + 8 <= mirror) {
            store8(ring + p, out); store8(ring + p + mirror, out);
        } else {
            for (int o = 0; o < 8; o++) {
                const long q = (p + o) & ringMask;
                ring[q] = out[o]; ring[q + mirror] = out[o];
            }
        }
    }
    for (; k + 1 < count; k += 2) {
        const float *b = x + k * step;
        V8 firstLanes, secondLanes;
        dotPair(fir, length, b, b + step, &firstLanes, &secondLanes);
        const float first = sumLanes(firstLanes), second = sumLanes(secondLanes);
        const long p = (j + k) & ringMask, q = (j + k + 1) & ringMask;
        ring[p] = first; ring[p + mirror] = first;
        ring[q] = second; ring[q + mirror] = second;
    }
    if (k < count) {
        const float *b = x + k * step;
        V8 lanes, unused;
        dotPair(fir, length, b, b, &lanes, &unused);
        const float out = sumLanes(lanes);
        const long p = (j + k) & ringMask;
        ring[p] = out; ring[p + mirror] = out;
    }
}

ATTUNE_KERNEL(attune_decimate,
                  (const float *fir, long length, const float *x, long step, long count, float *ring, long ringMask, long j),
                  (fir, length, x, step, count, ring, ringMask, j))
