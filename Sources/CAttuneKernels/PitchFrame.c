#include "AttuneKernels.h"
#include "Vectors.h"
#include <math.h>

// The per-frame vector loops of the pitch tracker's candidate stage (PitchCandidates.swift).

INLINE void attune_pitch_window_body(const float *d, long n, const float *hann, float *x, float *meanOut, float *peakOut, float *energyOut) {
    V8 acc = {0};
    long i = 0;
    for (; i + 8 <= n; i += 8) acc += load8(d + i);
    float total = sumLanes(acc);
    for (; i < n; i++) total += d[i];
    const float mean = total / (float)n;
    // Mean removal, window, peak and energy in one pass; the peak lane-wise, so the loop stays branch-free.
    const V8 means = {mean, mean, mean, mean, mean, mean, mean, mean};
    V8 peaks = {0}, energies = {0};
    for (i = 0; i + 8 <= n; i += 8) {
        const V8 v = load8(d + i) - means;
        const V8I negative = v < 0;
        const V8 magnitude = (V8)(((V8I)(-v) & negative) | ((V8I)v & ~negative));
        const V8I higher = magnitude > peaks;
        peaks = (V8)(((V8I)magnitude & higher) | ((V8I)peaks & ~higher));
        const V8 y = v * load8(hann + i);
        store8(x + i, y);
        energies += y * y;
    }
    // Lane by lane as Swift's `max()`: a later lane wins a tie.
    float peak = peaks[0];
    for (int lane = 1; lane < 8; lane++) peak = peaks[lane] >= peak ? peaks[lane] : peak;
    float energy = sumLanes(energies);
    for (; i < n; i++) {
        const float v = d[i] - mean;
        const float magnitude = __builtin_fabsf(v);
        peak = magnitude >= peak ? magnitude : peak;
        const float y = v * hann[i];
        x[i] = y;
        energy += y * y;
    }
    *meanOut = mean;
    *peakOut = peak;
    *energyOut = energy;
}

ATTUNE_KERNEL(attune_pitch_window,
                  (const float *d, long n, const float *hann, float *x, float *mean, float *peak, float *energy),
                  (d, n, hann, x, mean, peak, energy))

INLINE void attune_windowed_energy_body(const float *x, const float *window, float mean, long count, float *energy) {
    const V8 means = {mean, mean, mean, mean, mean, mean, mean, mean};
    V8 acc = {0};
    for (long i = 0; i < count; i += 8) {
        const V8 v = (load8(x + i) - means) * load8(window + i);
        acc += v * v;
    }
    *energy = sumLanes(acc);
}

ATTUNE_KERNEL(attune_windowed_energy,
                  (const float *x, const float *window, float mean, long count, float *energy),
                  (x, window, mean, count, energy))

INLINE void attune_pair_sums_body(const float *a, const float *b, long n, float *sums) {
    V8 sa = {0}, sb = {0}, sab = {0}, saa = {0}, sbb = {0};
    for (long i = 0; i < n; i += 8) {
        const V8 x = load8(a + i), y = load8(b + i);
        sa += x; sb += y; sab += x * y; saa += x * x; sbb += y * y;
    }
    const V8 zero = {0};
    const V8 lanes[8] = {sa, sb, sab, saa, sbb, zero, zero, zero};
    const V8 total = sumLanesOfEight(lanes);
    for (int s = 0; s < 5; s++) sums[s] = total[s];
}

ATTUNE_KERNEL(attune_pair_sums, (const float *a, const float *b, long n, float *sums), (a, b, n, sums))

// The tapered sinc of PitchTracker.sincInterpolate (PitchCandidates.swift): Swift's SIMD8 is two SSE halves in the
// baseline build, and the refinement calls it three times per candidate. The whole interpolation is here, as
// Swift's checked float-to-integer conversion and the call around the taps cost more than the rest of it.

INLINE float sincTaps(const float *r, long left, float fraction) {
    const V8 k = {0, 1, 2, 3, 4, 5, 6, 7};
    const V8 dl = k + splat8(fraction), dr = k + splat8(1 - fraction);
    const V8 ql = dl * splat8(1.0f / 9), qr = dr * splat8(1.0f / 9);
    const V8 one = splat8(1);
    const V8 wl = (one - ql * ql) * (one - ql * ql), wr = (one - qr * qr) * (one - qr * qr);
    const V8 below = load8(r + left - 7);
    const V8 leftTaps = __builtin_shufflevector(below, below, 7, 6, 5, 4, 3, 2, 1, 0);
    const V8 rightTaps = load8(r + left + 1);
    const V8 signs = {1, -1, 1, -1, 1, -1, 1, -1};
    return sumLanes(signs * (leftTaps * wl / dl + rightTaps * wr / dr));
}

/// Swift's `Float.pi`, which is π rounded toward zero (one ulp below the float nearest to π).
static const float swiftPi = 0x1.921fb4p+1f;

INLINE void attune_sinc_interpolate_body(const float *r, float t, float *value) {
    // Truncation is the floor here (lags are positive).
    const long left = (long)t;
    const float fraction = t - (float)left;
    if (fraction < 1e-6f) {
        *value = r[left];
        return;
    }
    // sin(π(t − m)) = ±sin(π·fraction), the sign alternating with the tap's distance (the taps' signs).
    *value = sincTaps(r, left, fraction) * (sinf(swiftPi * fraction) / swiftPi);
}

ATTUNE_KERNEL(attune_sinc_interpolate, (const float *r, float t, float *value), (r, t, value))

// Eight lags a test: most lags are below the threshold, and the lag-by-lag loop this replaced spent seven
// instructions on each. Comparisons only, so the same lags.
INLINE void attune_local_maxima_body(const float *r, long from, long to, float threshold, long *lags, long *count) {
    const V8 thresholds = splat8(threshold);
    long found = 0;
    for (long lag = from; lag <= to; lag += 8) {
        const V8 c = load8(r + lag);
        unsigned peaks = bits8((c > thresholds) & (c > load8(r + lag - 1)) & (c >= load8(r + lag + 1)));
        if (to - lag < 7) peaks &= (2u << (to - lag)) - 1;  // lanes past `to`
        for (; peaks != 0; peaks &= peaks - 1) lags[found++] = lag + __builtin_ctz(peaks);
    }
    *count = found;
}

ATTUNE_KERNEL(attune_local_maxima, (const float *r, long from, long to, float threshold, long *lags, long *count),
              (r, from, to, threshold, lags, count))

// Each bin's two products and one sum, as in the scalar tail, in every even lane; the odd lanes' sums are
// masked to +0, which is what the imaginary parts become.
INLINE void attune_power_spectrum_body(float *s, long n) {
    const V8I evenLanes = {-1, 0, -1, 0, -1, 0, -1, 0};
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const V8 v = load8(s + i);
        const V8 squares = v * v;
        const V8 power = squares + __builtin_shufflevector(squares, squares, 1, 0, 3, 2, 5, 4, 7, 6);
        store8(s + i, (V8)((V8I)power & evenLanes));
    }
    for (; i + 1 < n; i += 2) {
        const float re = s[i], im = s[i + 1];
        s[i] = re * re + im * im;
        s[i + 1] = 0;
    }
}

ATTUNE_KERNEL(attune_power_spectrum, (float *s, long n), (s, n))

INLINE void attune_scale_lags_body(const float *x, float scale, const float *window, long n, float *r) {
    const V8 scales = splat8(scale);
    long i = 0;
    for (; i + 8 <= n; i += 8) store8(r + i, load8(x + i) * scales * load8(window + i));
    for (; i < n; i++) r[i] = x[i] * scale * window[i];
}

ATTUNE_KERNEL(attune_scale_lags, (const float *x, float scale, const float *window, long n, float *r), (x, scale, window, n, r))
