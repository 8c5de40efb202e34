@testable import AttuneDSP
import CAttuneKernels
import Foundation
import Testing

/// The C kernels' two builds (x86-64 baseline and AVX2) must give the same bits: the dispatcher picks one by the
/// CPU, and a record must not depend on the machine that made it.
@Suite("Kernels: the baseline and AVX2 builds agree to the bit", .enabled(if: attune_kernels_cpu_has_avx2() != 0))
struct KernelBuildTests {
    /// Reproducible noise with a wide dynamic range (−80…0 dBFS), so denormal flushing and large values both occur.
    static func noise(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { i in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let unit = Float(state >> 40) / Float(1 << 24) * 2 - 1
            return unit * powf(10, -4 * Float(i % 97) / 97)
        }
    }

    static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    static func bits<T>(of value: T) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

    @Test("level filter bank: same sums and state over many hops")
    func levelHop() {
        let coefficients = UnsafeMutablePointer<AttuneLevelCoefficients>.allocate(capacity: 1)
        defer { coefficients.deallocate() }
        coefficients.initialize(to: AttuneLevelCoefficients())
        for b in 0..<8 {
            BiquadSection.butterworth(highPass: true, cutoff: 200 + 300 * Double(b), sampleRate: 16000).set(in: coefficients, bank: 0, lane: b)
            BiquadSection.butterworth(highPass: false, cutoff: 500 + 400 * Double(b), sampleRate: 16000).set(in: coefficients, bank: 1, lane: b)
        }
        BiquadSection.notch(frequency: 50, q: 3, sampleRate: 16000).set(in: coefficients, bank: 2, lane: 0)
        BiquadSection.notch(frequency: 60, q: 3, sampleRate: 16000).set(in: coefficients, bank: 2, lane: 1)
        // Noise, then digital silence long enough for the state to decay through the denormal range.
        let audio = Self.noise(16000, seed: 1) + [Float](repeating: 0, count: 16000)
        var baseline = AttuneLevelState(), avx2 = AttuneLevelState()
        var outBaseline = AttuneLevelHop(), outAVX2 = AttuneLevelHop()
        var hops = 0
        audio.withUnsafeBufferPointer { x in
            for start in stride(from: 0, to: x.count, by: 160) {
                attune_level_hop_baseline(x.baseAddress! + start, 160, coefficients, &baseline, &outBaseline)
                attune_level_hop_avx2(x.baseAddress! + start, 160, coefficients, &avx2, &outAVX2)
                #expect(Self.bits(of: outBaseline) == Self.bits(of: outAVX2), "hop \(hops)")
                #expect(Self.bits(of: baseline) == Self.bits(of: avx2), "state after hop \(hops)")
                hops += 1
            }
        }
        #expect(hops == 200)
        // The silence flushed the state to exact zeros (the flush runs in both builds).
        #expect(Self.bits(of: baseline.highPass).allSatisfy { $0 == 0 })
    }

    @Test("nucleus model layers: same hidden units and output units")
    func nucleusLayers() {
        let inputCount = Int(ATTUNE_NUCLEUS_INPUTS), taps1 = 9, dilation = 2, taps2 = 5, frames = 64, mask = frames - 1
        let inputs = Self.noise(frames * inputCount, seed: 2).map { $0 * 3 }
        let conv1 = Self.noise(taps1 * inputCount * 32, seed: 3)
        let bias1 = Self.noise(32, seed: 4)
        let conv2 = Self.noise(taps2 * 32 * 16, seed: 5)
        let bias2 = Self.noise(16, seed: 6)
        var hiddenBaseline = [Float](repeating: 0, count: frames * 32), hiddenAVX2 = hiddenBaseline
        let end = 50  // frames past the end are skipped: the edges take the `continue` paths
        for j in 0..<end {
            hiddenBaseline.withUnsafeMutableBufferPointer { h in
                attune_nucleus_hidden_baseline(inputs, mask, j, end, taps1, dilation, conv1, bias1, h.baseAddress! + j * 32)
            }
            hiddenAVX2.withUnsafeMutableBufferPointer { h in
                attune_nucleus_hidden_avx2(inputs, mask, j, end, taps1, dilation, conv1, bias1, h.baseAddress! + j * 32)
            }
        }
        #expect(Self.bits(hiddenBaseline) == Self.bits(hiddenAVX2))
        #expect(hiddenBaseline.contains { $0 > 0 } && hiddenBaseline.prefix(end * 32).contains(0), "ReLU both passes and clips")
        for k in 0..<end {
            var a = [Float](repeating: 0, count: 16), b = a
            attune_nucleus_units_baseline(hiddenBaseline, mask, k, end, taps2, conv2, bias2, &a)
            attune_nucleus_units_avx2(hiddenBaseline, mask, k, end, taps2, conv2, bias2, &b)
            #expect(Self.bits(a) == Self.bits(b), "frame \(k)")
            // The kernels skip zero hidden units; the full sum, every unit added in order, has the same bits.
            var full = bias2
            for t in 0..<taps2 {
                let f = k + t - taps2 / 2
                guard f >= 0 && f < end else { continue }
                for u in 0..<32 {
                    for o in 0..<16 { full[o] += hiddenBaseline[(f & mask) * 32 + u] * conv2[(t * 32 + u) * 16 + o] }
                }
            }
            #expect(Self.bits(a) == Self.bits(full), "frame \(k)")
        }
    }

    @Test("pitch window, full-band energy, pair sums, sinc interpolation, power spectrum, lag scaling and local maxima: same results, with and without a scalar tail")
    func pitchFrame() {
        let d = Self.noise(512, seed: 10).map { $0 + 0.01 }  // an offset, so the mean is not zero
        let hann = (0..<512).map { Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / 512)) }
        for n in [240, 243] {
            var xa = [Float](repeating: 0, count: n), xb = xa
            var meanA: Float = 0, peakA: Float = 0, energyA: Float = 0, meanB: Float = 0, peakB: Float = 0, energyB: Float = 0
            attune_pitch_window_baseline(d, n, hann, &xa, &meanA, &peakA, &energyA)
            attune_pitch_window_avx2(d, n, hann, &xb, &meanB, &peakB, &energyB)
            #expect(Self.bits(xa) == Self.bits(xb), "n \(n)")
            #expect(Self.bits([meanA, peakA, energyA]) == Self.bits([meanB, peakB, energyB]), "n \(n)")
            #expect(meanA != 0 && peakA > 0 && energyA > 0)
        }
        var ea: Float = 0, eb: Float = 0
        attune_windowed_energy_baseline(d, hann, 0.01, 480, &ea)
        attune_windowed_energy_avx2(d, hann, 0.01, 480, &eb)
        #expect(ea.bitPattern == eb.bitPattern && ea > 0)
        let shifted = Array(d.dropFirst(3))  // one period of 3 samples later
        var sa = [Float](repeating: 0, count: 5), sb = sa
        attune_pair_sums_baseline(d, shifted, 64, &sa)
        attune_pair_sums_avx2(d, shifted, 64, &sb)
        #expect(Self.bits(sa) == Self.bits(sb) && sa[3] > 0)
        for t in [Float(20.25), 33.5, 47.999, 51, 60.0000005] {
            var ta: Float = 0, tb: Float = 0
            attune_sinc_interpolate_baseline(d, t, &ta)
            attune_sinc_interpolate_avx2(d, t, &tb)
            #expect(ta.bitPattern == tb.bitPattern && ta.bitPattern == Self.sincInterpolate(d, at: t).bitPattern && ta != 0, "t \(t)")
        }
        // Local maxima against the lag-by-lag test they replaced, with a last block past `to`.
        for (from, to) in [(5, 100), (6, 97)] {
            let r = Self.noise(128, seed: 11).enumerated().map { $1 * Float(1 + $0 % 5) }  // louder every fifth lag
            var la = [Int](repeating: 0, count: (to - from) / 2 + 1), lb = la
            var ca = 0, cb = 0
            attune_local_maxima_baseline(r, from, to, 0.01, &la, &ca)
            attune_local_maxima_avx2(r, from, to, 0.01, &lb, &cb)
            let maxima = (from...to).filter { lag in r[lag] > 0.01 && r[lag] > r[lag - 1] && r[lag] >= r[lag + 1] }
            #expect(Array(la.prefix(ca)) == maxima && Array(lb.prefix(cb)) == maxima && maxima.count > 3, "\(from)...\(to)")
        }
        // Power spectrum and lag scaling against the scalar loops they replaced, with a tail past the vectors.
        for n in [256, 258] {
            var pa = Array(d.prefix(n)), pb = pa
            attune_power_spectrum_baseline(&pa, n)
            attune_power_spectrum_avx2(&pb, n)
            let power = (0..<n).map { i -> Float in
                guard i % 2 == 0 else { return 0 }
                let re = d[i], im = d[i + 1]
                return re * re + im * im
            }
            #expect(Self.bits(pa) == Self.bits(power) && Self.bits(pb) == Self.bits(power), "n \(n)")
            var ra = [Float](repeating: 0, count: n - 1), rb = ra
            attune_scale_lags_baseline(d, 0.37, hann, n - 1, &ra)
            attune_scale_lags_avx2(d, 0.37, hann, n - 1, &rb)
            let scaled = (0..<(n - 1)).map { i -> Float in d[i] * 0.37 * hann[i] }
            #expect(Self.bits(ra) == Self.bits(scaled) && Self.bits(rb) == Self.bits(scaled), "n \(n)")
        }
    }

    @Test("decimator: outputs that wrap around the ring, stored lane by lane, are the ones stored as vectors")
    func decimatorWrap() {
        let fir = Self.noise(56, seed: 20), x = Self.noise(2 * 40 + 56, seed: 21)
        let mirror = 64
        func run(_ decimate: (UnsafePointer<Float>, Int, UnsafePointer<Float>, Int, Int, UnsafeMutablePointer<Float>, Int, Int) -> Void,
                 at j: Int) -> [Float] {
            var ring = [Float](repeating: 0, count: 2 * mirror)
            decimate(fir, fir.count, x, 2, 40, &ring, mirror - 1, j)
            return (0..<40).flatMap { k in [ring[(j + k) % mirror], ring[(j + k) % mirror + mirror]] }
        }
        let straight = run(attune_decimate_baseline, at: 0)
        for j in [60, 61, 92] {  // the first or a later block of eight wraps
            #expect(Self.bits(run(attune_decimate_baseline, at: j)) == Self.bits(straight), "j \(j)")
            #expect(Self.bits(run(attune_decimate_avx2, at: j)) == Self.bits(straight), "j \(j)")
        }
        #expect(straight.allSatisfy { $0 != 0 })
    }

    /// The Swift interpolation the kernel replaced, lane by lane: the same operations in the same order.
    static func sincInterpolate(_ r: [Float], at t: Float) -> Float {
        let left = Int(t)
        let fraction = t - Float(left)
        if fraction < 1e-6 { return r[left] }
        var taps: Float = 0
        for m in 0..<8 {
            let dl = Float(m) + fraction, dr = Float(m) + (1 - fraction)
            let ql = dl * (Float(1) / 9), qr = dr * (Float(1) / 9)
            let wl = (1 - ql * ql) * (1 - ql * ql), wr = (1 - qr * qr) * (1 - qr * qr)
            let lane = (m % 2 == 0 ? 1 : -1) * (r[left - m] * wl / dl + r[left + 1 + m] * wr / dr)
            taps = m == 0 ? lane : taps + lane
        }
        return taps * (sin(Float.pi * fraction) / Float.pi)
    }

    @Test("unusual-sample count: NaN, infinities and samples beyond the limit, in vectors and in the tail")
    func unusualSamples() {
        var x = Self.noise(1003, seed: 11)
        for (i, v) in [(3, Float.nan), (17, .infinity), (18, -.infinity), (500, 1000.5), (501, -2e30), (502, 1000), (1001, .nan)] {
            x[i] = v
        }
        var baseline = 0, avx2 = 0, short = 0
        attune_count_unusual_baseline(x, x.count, 1000, &baseline)
        attune_count_unusual_avx2(x, x.count, 1000, &avx2)
        attune_count_unusual_avx2(x, 19, 1000, &short)
        #expect(baseline == 6)
        #expect(avx2 == 6)
        #expect(short == 3)  // one in the vectors, two in the tail
    }

    @Test("decimator: same outputs, odd and even counts, mirrored ring")
    func decimator() {
        let fir = Self.noise(56, seed: 7)  // 55 taps padded to 56, as at 8 kHz
        let x = Self.noise(4096, seed: 8)
        for count in [1, 2, 39, 40] {
            var ringBaseline = [Float](repeating: 0, count: 256), ringAVX2 = ringBaseline
            attune_decimate_baseline(fir, 56, x, 2, count, &ringBaseline, 127, 100)
            attune_decimate_avx2(fir, 56, x, 2, count, &ringAVX2, 127, 100)
            #expect(Self.bits(ringBaseline) == Self.bits(ringAVX2), "count \(count)")
            // The ring wraps (100 + 39 > 127) and every output is mirrored.
            #expect(ringBaseline[(100 + count - 1) & 127] == ringBaseline[((100 + count - 1) & 127) + 128])
            #expect(ringBaseline[(100 + count - 1) & 127] != 0)
        }
        // 112 taps (16 kHz): the length with no single-vector tail.
        let long = Self.noise(112, seed: 9)
        var a = [Float](repeating: 0, count: 256), b = a
        attune_decimate_baseline(long, 112, x, 4, 40, &a, 127, 0)
        attune_decimate_avx2(long, 112, x, 4, 40, &b, 127, 0)
        #expect(Self.bits(a) == Self.bits(b))
    }
}
