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

/// The lane vectors of two outputs side by side (`b` and `c`), each from the two accumulators `dot` uses.
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

/// The lane sums of eight vectors at once, each added in lane order as `sumLanes` does: after an 8 x 8 transpose,
/// lane o of row k is lane k of vector o, and adding the rows in order adds every vector's lanes in order.
/// Eight chains of seven dependent scalar additions become seven vector additions.
INLINE V8 sumLanesOfEight(const V8 *v) {
    const V8 t0 = __builtin_shufflevector(v[0], v[1], 0, 8, 1, 9, 4, 12, 5, 13);
    const V8 t1 = __builtin_shufflevector(v[0], v[1], 2, 10, 3, 11, 6, 14, 7, 15);
    const V8 t2 = __builtin_shufflevector(v[2], v[3], 0, 8, 1, 9, 4, 12, 5, 13);
    const V8 t3 = __builtin_shufflevector(v[2], v[3], 2, 10, 3, 11, 6, 14, 7, 15);
    const V8 t4 = __builtin_shufflevector(v[4], v[5], 0, 8, 1, 9, 4, 12, 5, 13);
    const V8 t5 = __builtin_shufflevector(v[4], v[5], 2, 10, 3, 11, 6, 14, 7, 15);
    const V8 t6 = __builtin_shufflevector(v[6], v[7], 0, 8, 1, 9, 4, 12, 5, 13);
    const V8 t7 = __builtin_shufflevector(v[6], v[7], 2, 10, 3, 11, 6, 14, 7, 15);
    const V8 u0 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
    const V8 u1 = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
    const V8 u2 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
    const V8 u3 = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
    const V8 u4 = __builtin_shufflevector(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13);
    const V8 u5 = __builtin_shufflevector(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
    const V8 u6 = __builtin_shufflevector(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13);
    const V8 u7 = __builtin_shufflevector(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
    const V8 lane0 = __builtin_shufflevector(u0, u4, 0, 1, 2, 3, 8, 9, 10, 11);
    const V8 lane1 = __builtin_shufflevector(u1, u5, 0, 1, 2, 3, 8, 9, 10, 11);
    const V8 lane2 = __builtin_shufflevector(u2, u6, 0, 1, 2, 3, 8, 9, 10, 11);
    const V8 lane3 = __builtin_shufflevector(u3, u7, 0, 1, 2, 3, 8, 9, 10, 11);
    const V8 lane4 = __builtin_shufflevector(u0, u4, 4, 5, 6, 7, 12, 13, 14, 15);
    const V8 lane5 = __builtin_shufflevector(u1, u5, 4, 5, 6, 7, 12, 13, 14, 15);
    const V8 lane6 = __builtin_shufflevector(u2, u6, 4, 5, 6, 7, 12, 13, 14, 15);
    const V8 lane7 = __builtin_shufflevector(u3, u7, 4, 5, 6, 7, 12, 13, 14, 15);
    return lane0 + lane1 + lane2 + lane3 + lane4 + lane5 + lane6 + lane7;
}

/// Eight outputs at a time, their lane sums together (`sumLanesOfEight`); the rest two at a time, whose two
/// chains of lane additions overlap, and a last one on its own.
INLINE void attune_decimate_body(const float *fir, long length, const float *x, long step, long count, float *ring, long ringMask, long j) {
    const long mirror = ringMask + 1;
    long k = 0;
    for (; k + 8 <= count; k += 8) {
        V8 lanes[8];
        for (int o = 0; o < 8; o += 2) {
            const float *b = x + (k + o) * step;
            dotPair(fir, length, b, b + step, &lanes[o], &lanes[o + 1]);
        }
        const V8 out = sumLanesOfEight(lanes);
        for (int o = 0; o < 8; o++) {
            const long p = (j + k + o) & ringMask;
            ring[p] = out[o]; ring[p + mirror] = out[o];
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
        const float out = dot(fir, x + k * step, length);
        const long p = (j + k) & ringMask;
        ring[p] = out; ring[p + mirror] = out;
    }
}

ATTUNE_KERNEL(attune_decimate,
                  (const float *fir, long length, const float *x, long step, long count, float *ring, long ringMask, long j),
                  (fir, length, x, step, count, ring, ringMask, j))
