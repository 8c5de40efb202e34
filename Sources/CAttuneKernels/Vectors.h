#ifndef ATTUNE_KERNELS_VECTORS_H
#define ATTUNE_KERNELS_VECTORS_H

// Bit-identical to the Swift code these loops came from: every product and sum rounded on its own.
#pragma clang fp contract(off)
// The helpers below pass vectors by value, which in the baseline build would not match an AVX build's ABI; they
// are always inlined, so no such call exists.
#pragma clang diagnostic ignored "-Wpsabi"

typedef float V8 __attribute__((vector_size(32)));
typedef float V4 __attribute__((vector_size(16)));
typedef int V8I __attribute__((vector_size(32)));
typedef int V4I __attribute__((vector_size(16)));

#define INLINE static inline __attribute__((always_inline))

// Unaligned: the buffers are Swift's and C structs of floats.
INLINE V8 load8(const float *p) { V8 v; __builtin_memcpy(&v, p, sizeof v); return v; }
INLINE V4 load4(const float *p) { V4 v; __builtin_memcpy(&v, p, sizeof v); return v; }
INLINE void store8(float *p, V8 v) { __builtin_memcpy(p, &v, sizeof v); }
INLINE void store4(float *p, V4 v) { __builtin_memcpy(p, &v, sizeof v); }
INLINE V8 splat8(float x) { const V8 v = {x, x, x, x, x, x, x, x}; return v; }

/// Lanes of magnitude below 1e-20 set to +0.
INLINE V8 flushTiny8(V8 z) { V8I tiny = (z < 1e-20f) & (z > -1e-20f); return (V8)((V8I)z & ~tiny); }
INLINE V4 flushTiny4(V4 z) { V4I tiny = (z < 1e-20f) & (z > -1e-20f); return (V4)((V4I)z & ~tiny); }

/// The lanes' sum in lane order, as Swift's `SIMD.sum()` adds them.
INLINE float sumLanes(V8 v) {
    float total = v[0];
    for (int lane = 1; lane < 8; lane++) total += v[lane];
    return total;
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

typedef _Bool B8 __attribute__((ext_vector_type(8)));

/// Bit i set where lane i of a comparison's result is true: a bool vector's bits are one movemask.
INLINE unsigned bits8(V8I lanes) {
    const B8 set = __builtin_convertvector(lanes, B8);
    unsigned char bits;
    __builtin_memcpy(&bits, &set, 1);
    return bits;
}

/// Set once at start-up (Dispatch.c): whether the dispatchers below call the AVX2 builds.
extern int attune_kernels_avx2_selected __attribute__((visibility("hidden")));

/// Defines kernel `name` from one always-inline body `name##_body`: its baseline build, its AVX2 build and the
/// dispatcher that calls one of them. Off x86-64 the two builds are the same (and the AVX2 one is never picked).
#if defined(__x86_64__)
#define ATTUNE_AVX2 __attribute__((target("avx2")))
#else
#define ATTUNE_AVX2
#endif
#define ATTUNE_KERNEL(name, params, args) \
    void name##_baseline params { name##_body args; } \
    ATTUNE_AVX2 void name##_avx2 params { name##_body args; } \
    void name params { if (attune_kernels_avx2_selected) name##_avx2 args; else name##_baseline args; }

#endif
