#include "AttuneKernels.h"
#include "Vectors.h"

// The 32 units in four accumulators held in registers, each input's weight row added in unit order: the same
// additions in the same order as the Swift model this came from, so the same sums to the bit.
INLINE void attune_nucleus_hidden_body(const float *inputs, long mask, long j, long end, long taps, long dilation,
                                        const float *conv1, const float *bias1, float *hidden) {
    V8 a0 = load8(bias1), a1 = load8(bias1 + 8), a2 = load8(bias1 + 16), a3 = load8(bias1 + 24);
    for (long t = 0; t < taps; t++) {
        const long f = j + (t - taps / 2) * dilation;
        if (f < 0 || f >= end) continue;
        const float *x = inputs + (f & mask) * ATTUNE_NUCLEUS_INPUTS;
        const float *w = conv1 + t * ATTUNE_NUCLEUS_INPUTS * 32;
        // Unrolled: the counter and branch were four of each input's thirteen instructions.
#pragma clang loop unroll(full)
        for (long i = 0; i < ATTUNE_NUCLEUS_INPUTS; i++) {
            const float value = x[i];
            const V8 v = splat8(value);
            const float *wi = w + i * 32;
            a0 += v * load8(wi); a1 += v * load8(wi + 8); a2 += v * load8(wi + 16); a3 += v * load8(wi + 24);
        }
    }
    const V8 zero = {0};
    store8(hidden, (V8)((V8I)a0 & ~(a0 < zero)));
    store8(hidden + 8, (V8)((V8I)a1 & ~(a1 < zero)));
    store8(hidden + 16, (V8)((V8I)a2 & ~(a2 < zero)));
    store8(hidden + 24, (V8)((V8I)a3 & ~(a3 < zero)));
}

ATTUNE_KERNEL(attune_nucleus_hidden,
                  (const float *inputs, long mask, long j, long end, long taps, long dilation,
                   const float *conv1, const float *bias1, float *hidden),
                  (inputs, mask, j, end, taps, dilation, conv1, bias1, hidden))

/// Bit u set where hidden unit u is not zero (a NaN is not zero).
INLINE unsigned liveUnits(const float *h) {
    const V8 zero = {0};
    unsigned live = 0;
    for (int c = 0; c < 4; c++) live |= bits8(load8(h + 8 * c) != zero) << (8 * c);
    return live;
}

// Units the ReLU clipped are skipped. That leaves every sum's bits as they were: a zero unit adds
// ±0 (the weights are finite), and x + ±0 is x for every x but -0, which no sum here ever is (the biases hold
// no -0, and a rounded sum is -0 only when both its terms are). The other units are added in the same order.
INLINE void attune_nucleus_units_body(const float *hidden, long mask, long k, long end, long taps,
                                       const float *conv2, const float *bias2, float *units) {
    V8 acc0 = load8(bias2), acc1 = load8(bias2 + 8);
    for (long t = 0; t < taps; t++) {
        const long f = k + t - taps / 2;
        if (f < 0 || f >= end) continue;
        const float *h = hidden + (f & mask) * 32;
        const float *w = conv2 + t * 32 * 16;
        for (unsigned live = liveUnits(h); live != 0; live &= live - 1) {
            const int u = __builtin_ctz(live);
            const float value = h[u];
            const V8 v = splat8(value);
            acc0 += v * load8(w + u * 16);
            acc1 += v * load8(w + u * 16 + 8);
        }
    }
    store8(units, acc0);
    store8(units + 8, acc1);
}

ATTUNE_KERNEL(attune_nucleus_units,
                  (const float *hidden, long mask, long k, long end, long taps, const float *conv2, const float *bias2, float *units),
                  (hidden, mask, k, end, taps, conv2, bias2, units))
