#ifndef ATTUNE_KERNELS_H
#define ATTUNE_KERNELS_H

/// The DSP path's inner loops, written once in C so that they can be compiled twice: for the x86-64 baseline
/// (SSE2) and for AVX2, chosen at run time by the CPU. Swift has no per-function target attribute, and building
/// the whole package for AVX2 would make a binary that stops with SIGILL on an older CPU. Both builds do the
/// same IEEE operations in the same order (no FMA contraction), so they give the same bits; the tests check
/// that on every kernel.
///
/// Every kernel takes the engine's preallocated buffers and allocates nothing.

/// Coefficients of the level meter's filter bank: the eight band-passes' high-pass and low-pass sections
/// (one per lane) and the two hum notches (lanes 0 and 1), each as b0, b1, b2, a1, a2 (a0 = 1).
typedef struct {
    float highPass[5][8];
    float lowPass[5][8];
    float hum[5][4];
} AttuneLevelCoefficients;

/// The filter bank's state (transposed direct form II) and the first notch's last output.
typedef struct {
    float highPass[2][8];
    float lowPass[2][8];
    float hum[2][4];
    float between;
} AttuneLevelState;

/// One hop's sums: band-passed squares per band, and the broadband signal's squares and sums, unfiltered
/// (index 0) and after the notches (index 1).
typedef struct {
    float bands[8];
    float squares[2];
    float sums[2];
} AttuneLevelHop;

/// Sets section `lane` of `bank` (0 high-pass, 1 low-pass, 2 hum).
void attune_level_set_section(AttuneLevelCoefficients *c, int bank, int lane, float b0, float b1, float b2, float a1, float a2);

/// Filters `n` samples through the bank, sums the hop into `out`, and flushes state below 1e-20 to zero.
void attune_level_hop(const float *x, long n, const AttuneLevelCoefficients *c, AttuneLevelState *s, AttuneLevelHop *out);

/// Inputs a frame of the syllable-nucleus model (NucleusModel.inputCount), fixed so the loop over them unrolls.
#define ATTUNE_NUCLEUS_INPUTS 11

/// The syllable-nucleus model's first layer for frame `j` (NucleusModel.swift): 32 units over `taps` frames
/// `dilation` apart around `j`, each frame's `ATTUNE_NUCLEUS_INPUTS` inputs at `inputs + (f & mask) *
/// ATTUNE_NUCLEUS_INPUTS`, frames outside `0..<end` skipped; weights `conv1` as [tap][input][32], `bias1` [32];
/// ReLU; result in `hidden` [32].
void attune_nucleus_hidden(const float *inputs, long mask, long j, long end, long taps, long dilation,
                           const float *conv1, const float *bias1, float *hidden);

/// The model's second layer for frame `k` before its ReLU: 16 units over `taps` adjacent frames around `k`, each
/// frame's 32 hidden units at `hidden + (f & mask) * 32`, frames outside `0..<end` skipped; weights `conv2` as
/// [tap][32][16], `bias2` [16]; result in `units` [16]. Hidden units at zero are skipped, which gives the bits of the
/// full sums as long as `conv2` is finite and `bias2` holds no -0.
void attune_nucleus_units(const float *hidden, long mask, long k, long end, long taps,
                          const float *conv2, const float *bias2, float *units);

/// The pitch tracker's decimator (PitchCandidates.swift): `count` outputs, output k the dot product of `fir`
/// (`length` taps, a multiple of 8, zero-padded) with `x + k * step`, stored at `ring[(j + k) & ringMask]` and
/// mirrored `ringMask + 1` further on.
void attune_decimate(const float *fir, long length, const float *x, long step, long count, float *ring, long ringMask, long j);

/// The pitch tracker's analysis window (PitchCandidates.swift): removes the mean of `d` (`n` samples) and applies
/// `hann` into `x`, and reports the mean, the largest magnitude after mean removal and the windowed energy.
void attune_pitch_window(const float *d, long n, const float *hann, float *x, float *mean, float *peak, float *energy);

/// Σ ((x[i] − mean) · window[i])² over `count` samples (a multiple of 8), into `energy`.
void attune_windowed_energy(const float *x, const float *window, float mean, long count, float *energy);

/// The sums of a correlation coefficient of `a` and `b` over `n` samples (a multiple of 8): Σa, Σb, Σab, Σa², Σb²,
/// into `sums`.
void attune_pair_sums(const float *a, const float *b, long n, float *sums);

/// The lags `from ... to` at which `r` is above `threshold`, above the lag before and at least the lag after, in
/// ascending order into `lags` (room for `(to - from) / 2 + 1`), and how many into `count`. Reads
/// `r[from - 1 ... to + 8]`.
void attune_local_maxima(const float *r, long from, long to, float threshold, long *lags, long *count);

/// Replaces the `n / 2` interleaved (re, im) bins of `s` by (re² + im², 0), in place (`n` even).
void attune_power_spectrum(float *s, long n);

/// r[i] = x[i] · scale · window[i] for i < `n`, the two products in that order.
void attune_scale_lags(const float *x, float scale, const float *window, long n, float *r);

/// The pitch tracker's sinc interpolation of its autocorrelation `r` at lag `t` (finite, positive), into `value`:
/// `r[t]` when t is within 1e-6 above a whole lag, else Σ over the eight taps each side of ±r · (1 − (d/9)²)² / d,
/// d the tap's distance, the lanes added in order, times sin(π · fraction) / π with Swift's `Float.pi`.
/// Reads `r[⌊t⌋ - 7 ... ⌊t⌋ + 8]`.
void attune_sinc_interpolate(const float *r, float t, float *value);

/// How many of the `n` samples at `x` are not finite or beyond ±`limit` (what a call session repairs), into
/// `count`.
void attune_count_unusual(const float *x, long n, float limit, long *count);

/// Whether the CPU and OS support AVX2 (so the `_avx2` builds below may be called).
int attune_kernels_cpu_has_avx2(void);

/// The two builds of each kernel, for the tests that compare them.
void attune_level_hop_baseline(const float *x, long n, const AttuneLevelCoefficients *c, AttuneLevelState *s, AttuneLevelHop *out);
void attune_level_hop_avx2(const float *x, long n, const AttuneLevelCoefficients *c, AttuneLevelState *s, AttuneLevelHop *out);
void attune_decimate_baseline(const float *fir, long length, const float *x, long step, long count, float *ring, long ringMask, long j);
void attune_decimate_avx2(const float *fir, long length, const float *x, long step, long count, float *ring, long ringMask, long j);
void attune_pitch_window_baseline(const float *d, long n, const float *hann, float *x, float *mean, float *peak, float *energy);
void attune_pitch_window_avx2(const float *d, long n, const float *hann, float *x, float *mean, float *peak, float *energy);
void attune_windowed_energy_baseline(const float *x, const float *window, float mean, long count, float *energy);
void attune_windowed_energy_avx2(const float *x, const float *window, float mean, long count, float *energy);
void attune_pair_sums_baseline(const float *a, const float *b, long n, float *sums);
void attune_pair_sums_avx2(const float *a, const float *b, long n, float *sums);
void attune_local_maxima_baseline(const float *r, long from, long to, float threshold, long *lags, long *count);
void attune_local_maxima_avx2(const float *r, long from, long to, float threshold, long *lags, long *count);
void attune_power_spectrum_baseline(float *s, long n);
void attune_power_spectrum_avx2(float *s, long n);
void attune_scale_lags_baseline(const float *x, float scale, const float *window, long n, float *r);
void attune_scale_lags_avx2(const float *x, float scale, const float *window, long n, float *r);
void attune_sinc_interpolate_baseline(const float *r, float t, float *value);
void attune_sinc_interpolate_avx2(const float *r, float t, float *value);
void attune_count_unusual_baseline(const float *x, long n, float limit, long *count);
void attune_count_unusual_avx2(const float *x, long n, float limit, long *count);
void attune_nucleus_hidden_baseline(const float *inputs, long mask, long j, long end, long taps, long dilation,
                                    const float *conv1, const float *bias1, float *hidden);
void attune_nucleus_hidden_avx2(const float *inputs, long mask, long j, long end, long taps, long dilation,
                                const float *conv1, const float *bias1, float *hidden);
void attune_nucleus_units_baseline(const float *hidden, long mask, long k, long end, long taps,
                                   const float *conv2, const float *bias2, float *units);
void attune_nucleus_units_avx2(const float *hidden, long mask, long k, long end, long taps,
                               const float *conv2, const float *bias2, float *units);

#endif
