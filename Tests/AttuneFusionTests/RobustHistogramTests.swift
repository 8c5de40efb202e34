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
