#include "AttuneKernels.h"
#include "Vectors.h"

// A call session checks every input sample (at the input rate, 480 a frame at 48 kHz) before resampling; nearly
// always none needs repair, so the check is a branch-free count and the repair runs only when it is not zero.
// `!(|x| <= limit)` is true for NaN, ±infinity and finite samples beyond the limit.
INLINE void attune_count_unusual_body(const float *x, long n, float limit, long *count) {
    const V8 limits = {limit, limit, limit, limit, limit, limit, limit, limit};
    const V8I signBits = {0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff};
    V8I counts = {0};
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const V8 magnitude = (V8)((V8I)load8(x + i) & signBits);
        counts -= ~(magnitude <= limits);  // each true lane adds 1
    }
    long total = 0;
    for (int lane = 0; lane < 8; lane++) total += counts[lane];
    for (; i < n; i++) total += !(__builtin_fabsf(x[i]) <= limit);
    *count = total;
}

ATTUNE_KERNEL(attune_count_unusual, (const float *x, long n, float limit, long *count), (x, n, limit, count))
