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

/// Lanes of magnitude below 1e-20 set to +0.
INLINE V8 flushTiny8(V8 z) { V8I tiny = (z < 1e-20f) & (z > -1e-20f); return (V8)((V8I)z & ~tiny); }
INLINE V4 flushTiny4(V4 z) { V4I tiny = (z < 1e-20f) & (z > -1e-20f); return (V4)((V4I)z & ~tiny); }

/// The lanes' sum in lane order, as Swift's `SIMD.sum()` adds them.
INLINE float sumLanes(V8 v) {
    float total = v[0];
    for (int lane = 1; lane < 8; lane++) total += v[lane];
    return total;
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
