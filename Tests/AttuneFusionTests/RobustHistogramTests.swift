import Foundation
import AttuneFusion
import Testing

@Suite struct RobustHistogramTests {
    @Test func medianAndSpreadOfANormalSample() {
        var h = RobustHistogram(lower: -10, upper: 10, binWidth: 0.01)
        // A deterministic normal sample (Box–Muller over a fixed LCG), mean 2, sd 1.5.
        var state: UInt64 = 12345
        func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Double(state >> 11) + 0.5) / Double(1 << 53)
        }
        for _ in 0..<20000 {
            let z = (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform())
            h.add(2 + 1.5 * z)
        }
        #expect(abs(h.median! - 2) < 0.05)
        #expect(abs(h.spread! - 1.5) < 0.06)
    }

    @Test func outliersDoNotMoveTheMedian() {
        var h = RobustHistogram(lower: 0, upper: 100, binWidth: 0.1)
        for _ in 0..<90 { h.add(50) }
        for _ in 0..<10 { h.add(99) }
        #expect(abs(h.median! - 50) < 0.1)
    }

    @Test func decayLetsNewValuesTakeOver() {
        var h = RobustHistogram(lower: 0, upper: 100, binWidth: 0.1)
        for _ in 0..<100 { h.add(20) }
        h.decay(by: 0.1)
        for _ in 0..<50 { h.add(60) }
        #expect(abs(h.median! - 60) < 0.1)
        #expect(abs(h.total - 60) < 1e-9)
    }

    @Test func emptyHasNoStatistics() {
        let h = RobustHistogram(lower: 0, upper: 1, binWidth: 0.1)
        #expect(h.median == nil)
        #expect(h.spread == nil)
    }
}

@Suite struct VoiceWindowTests {
    /// The window's median must equal the textbook one (sorted, middle or mean of the two middles) for odd and
    /// even counts, with ties and unvoiced frames mixed in.
    @Test(arguments: [7, 8, 69, 70])
    func medianMatchesSorting(frames: Int) {
        var w = VoiceWindow(frames: frames)
        var state: UInt64 = UInt64(frames)
        var f0s: [Double] = []
        for i in 0..<frames {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let v = Double((state >> 33) % 50) / 4
            let voiced = i % 5 != 0
            if voiced { f0s.append(v) }
            w.add(VoiceSample(t: Double(i) / 100, f0Hz: voiced ? 100 * pow(2, v / 12) : 0, energyDB: v, speech: true))
        }
        let r = w.read(minimumVoiced: 1)
        let sorted = f0s.sorted()
        let n = sorted.count
        let expected = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        #expect(abs(r.f0ST! - expected) < 1e-9)
        #expect(abs(r.voicedShare - Double(n) / Double(frames)) < 1e-12)
    }
}

@Suite struct VoiceWindowSlidingTests {
    /// The textbook median of `values`' finite members, nil when fewer than `need`.
    static func sortedMedian(_ values: [Double], need: Int) -> Double? {
        let finite = values.filter(\.isFinite).sorted()
        let n = finite.count
        guard n >= need, n > 0 else { return nil }
        return n % 2 == 1 ? finite[n / 2] : (finite[n / 2 - 1] + finite[n / 2]) / 2
    }

    /// Long runs through a small window, so values keep leaving: every reading must equal sorting the frames the
    /// window holds, exactly, with ties, unvoiced frames, missing and infinite values, pauses and resets mixed in.
    @Test(arguments: [1, 2, 7, 70])
    func slidingMediansMatchSorting(frames: Int) {
        var w = VoiceWindow(frames: frames)
        var held: [VoiceSample] = []
        var state: UInt64 = 0x9E37_79B9 &+ UInt64(frames)
        func next(_ n: UInt64) -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (state >> 33) % n
        }
        func value() -> Double {
            switch next(20) {
            case 0: .nan
            case 1: next(2) == 0 ? .infinity : -.infinity
            case 2, 3: Double(next(4))  // ties
            default: Double(next(1_000_000)) / 997 - 500
            }
        }
        for i in 0..<5_000 {
            if next(500) == 0 { w.reset(); held.removeAll() }
            let speech = next(6) != 0
            let f0Hz = next(4) == 0 ? 0 : 100 * pow(2, value() / 120)
            let s = VoiceSample(t: Double(i) / 100, f0Hz: f0Hz.isFinite ? f0Hz : 0, energyDB: value(), balanceDB: value(),
                                hnrDB: value(), speech: speech)
            w.add(s)
            if speech { held.append(s); if held.count > frames { held.removeFirst() } }
            let need = Int(next(Swift.max(UInt64(frames), 1))) + 1
            let r = w.read(minimumVoiced: need)
            #expect(r.frames == held.count)
            #expect(r.f0ST == Self.sortedMedian(held.map(\.f0ST), need: need), "frame \(i)")
            #expect(r.energyDB == Self.sortedMedian(held.map(\.energyDB), need: 1), "frame \(i)")
            #expect(r.balanceDB == Self.sortedMedian(held.map(\.balanceDB), need: Swift.max(1, held.count / 2)), "frame \(i)")
            #expect(r.hnrDB == Self.sortedMedian(held.map(\.hnrDB), need: need), "frame \(i)")
            let voiced = held.filter { $0.f0ST.isFinite }.count
            #expect(r.voicedShare == (held.isEmpty ? 0 : Double(voiced) / Double(held.count)))
        }
    }
}

@Suite struct RobustHistogramScanTests {
    /// The quantile as a scan over every bin from the first computes it: the histogram must give the same bits
    /// however it shortens its scan.
    struct FullScan {
        let lower: Double, upper: Double, binWidth: Double
        var weights: [Double]
        var total = 0.0
        mutating func add(_ v: Double, weight: Double) {
            guard v.isFinite, weight > 0 else { return }
            let i = min(max(Int(((v - lower) / binWidth).rounded(.down)), 0), weights.count - 1)
            weights[i] += weight; total += weight
        }
        mutating func decay(_ f: Double) { for i in weights.indices { weights[i] *= f }; total *= f }
        func quantile(_ q: Double) -> Double? {
            guard total > 0 else { return nil }
            let target = min(max(q, 0), 1) * total
            var cumulative = 0.0
            for (i, w) in weights.enumerated() where w > 0 {
                if cumulative + w >= target { return lower + (Double(i) + (target - cumulative) / w) * binWidth }
                cumulative += w
            }
            return upper
        }
    }

    @Test func quantilesMatchAFullScan() {
        var h = RobustHistogram(lower: -36, upper: 36, binWidth: 0.1)
        var reference = FullScan(lower: -36, upper: 36, binWidth: 0.1, weights: Array(repeating: 0, count: Int((72 / 0.1).rounded(.up))))
        var state: UInt64 = 7
        func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Double(state >> 11) + 0.5) / Double(1 << 53)
        }
        for step in 0..<20_000 {
            // A voice that drifts, outliers beyond both ends, NaN, fractional weights and decay.
            let centre = -5 + 10 * Double(step) / 20_000
            let v = uniform() < 0.02 ? (uniform() < 0.5 ? -100 : 100) : uniform() < 0.01 ? .nan : centre + 6 * (uniform() - 0.5)
            let weight = step % 7 == 0 ? uniform() * 3 : 1
            h.add(v, weight: weight)
            reference.add(v, weight: weight)
            if step % 500 == 499 { h.decay(by: 0.9); reference.decay(0.9) }
            if step % 37 == 0 {
                for q in [0.0, 0.1, 0.25, 0.5, 0.9, 1.0] {
                    #expect(h.quantile(q) == reference.quantile(q), "step \(step) q \(q)")
                }
                #expect(h.median == reference.quantile(0.5))
            }
        }
    }
}
