#include "AttuneKernels.h"
#include "Vectors.h"

void attune_level_set_section(AttuneLevelCoefficients *c, int bank, int lane, float b0, float b1, float b2, float a1, float a2) {
    float values[5] = {b0, b1, b2, a1, a2};
    for (int k = 0; k < 5; k++) {
        if (bank == 0) c->highPass[k][lane] = values[k];
        else if (bank == 1) c->lowPass[k][lane] = values[k];
        else c->hum[k][lane] = values[k];
    }
}

// The level meter's per-sample loop (LevelMeter.swift): high-pass then low-pass in eight lanes, the squares of
// the result; the 50 Hz notch in lane 0 of a four-lane bank and the 60 Hz notch in lane 1, fed with lane 0's
// previous output; the broadband sums of the raw and the notched signal.
INLINE void attune_level_hop_body(const float *x, long n, const AttuneLevelCoefficients *c, AttuneLevelState *s, AttuneLevelHop *out) {
    const V8 hb0 = load8(c->highPass[0]), hb1 = load8(c->highPass[1]), hb2 = load8(c->highPass[2]);
    const V8 ha1 = load8(c->highPass[3]), ha2 = load8(c->highPass[4]);
    const V8 lb0 = load8(c->lowPass[0]), lb1 = load8(c->lowPass[1]), lb2 = load8(c->lowPass[2]);
    const V8 la1 = load8(c->lowPass[3]), la2 = load8(c->lowPass[4]);
    const V4 nb0 = load4(c->hum[0]), nb1 = load4(c->hum[1]), nb2 = load4(c->hum[2]);
    const V4 na1 = load4(c->hum[3]), na2 = load4(c->hum[4]);
    V8 hz1 = load8(s->highPass[0]), hz2 = load8(s->highPass[1]);
    V8 lz1 = load8(s->lowPass[0]), lz2 = load8(s->lowPass[1]);
    V4 nz1 = load4(s->hum[0]), nz2 = load4(s->hum[1]);
    float between = s->between;
    V8 acc = {0};
    float squareRaw = 0, squareClean = 0, sumRaw = 0, sumClean = 0;
    for (long i = 0; i < n; i++) {
        const float sample = x[i];
        const V8 v = {sample, sample, sample, sample, sample, sample, sample, sample};
        const V8 high = hb0 * v + hz1;
        hz1 = hb1 * v - ha1 * high + hz2;
        hz2 = hb2 * v - ha2 * high;
        const V8 band = lb0 * high + lz1;
        lz1 = lb1 * high - la1 * band + lz2;
        lz2 = lb2 * high - la2 * band;
        acc += band * band;
        const V4 h = {sample, between, 0, 0};
        const V4 notched = nb0 * h + nz1;
        nz1 = nb1 * h - na1 * notched + nz2;
        nz2 = nb2 * h - na2 * notched;
        between = notched[0];
        const float clean = notched[1];
        squareRaw += sample * sample;
        squareClean += clean * clean;
        sumRaw += sample;
        sumClean += clean;
    }
    // Denormals in a decaying filter after the audio stops would slow every later sample.
    store8(s->highPass[0], flushTiny8(hz1)); store8(s->highPass[1], flushTiny8(hz2));
    store8(s->lowPass[0], flushTiny8(lz1)); store8(s->lowPass[1], flushTiny8(lz2));
    store4(s->hum[0], flushTiny4(nz1)); store4(s->hum[1], flushTiny4(nz2));
    s->between = between;
    store8(out->bands, acc);
    out->squares[0] = squareRaw; out->squares[1] = squareClean;
    out->sums[0] = sumRaw; out->sums[1] = sumClean;
}

ATTUNE_KERNEL(attune_level_hop,
                  (const float *x, long n, const AttuneLevelCoefficients *c, AttuneLevelState *s, AttuneLevelHop *out),
                  (x, n, c, s, out))
