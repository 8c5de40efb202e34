import AttuneDSP
import CAllocCounter
import Foundation
import Testing

/// The real-time rules say the per-frame path never touches the heap. These tests count every malloc the
/// calling thread makes (the C allocator is interposed for the test process) while the whole channel
/// analysis runs in its steady state.
@Suite("Allocation-free frame path")
struct AllocationTests {
    /// A speech-like test signal: a harmonic source gliding in pitch, switched on and off like syllables, over noise.
    static func speechLike(sampleRate: Int, seconds: Double) -> [Float] {
        let n = Int(Double(sampleRate) * seconds)
        var out = [Float](repeating: 0, count: n)
        var phase = 0.0
        var seed: UInt32 = 12345
        for i in 0..<n {
            let t = Double(i) / Double(sampleRate)
            let f0 = 140 + 40 * sin(2 * .pi * 0.7 * t)
            phase += 2 * .pi * f0 / Double(sampleRate)
            var v = 0.0
            for h in 1...12 where Double(h) * f0 < Double(sampleRate) / 2 { v += sin(Double(h) * phase) / Double(h) }
            let syllable = max(0, sin(2 * .pi * 2.5 * t))
            let speaking = (t.truncatingRemainder(dividingBy: 3) < 2.2) ? 1.0 : 0.0
            seed = seed &* 1_664_525 &+ 1_013_904_223
            let noise = (Double(seed >> 8) / Double(1 << 24) - 0.5) * 0.01
            out[i] = Float(0.25 * v * syllable * speaking + noise)
        }
        return out
    }

    @Test("the counter sees allocations", arguments: [1, 3])
    func counterWorks(count: Int) {
        attune_alloc_counter_start()
        let array = [Int](repeating: 7, count: 1000 * count)
        let allocations = attune_alloc_counter_stop()
        #expect(array.count == 1000 * count)
        #expect(allocations >= 1)
    }

    @Test("ChannelAnalyzer.push allocates nothing per frame, with or without the syllable tap",
          arguments: [(8000, false), (16000, false), (8000, true)])
    func steadyStateIsAllocationFree(sampleRate: Int, tapped: Bool) {
        let analyzer = ChannelAnalyzer(settings: AnalysisSettings(sampleRate: sampleRate))
        var taps = 0
        if tapped { analyzer.syllableTap = { if case .frame = $0 { taps += 1 } } }
        let audio = Self.speechLike(sampleRate: sampleRate, seconds: 8)
        let warmUp = sampleRate * 2
        var frames = 0
        var segments = 0
        audio.withUnsafeBufferPointer { all in
            analyzer.push(UnsafeBufferPointer(rebasing: all[0..<warmUp]), onFrame: { _ in frames += 1 }, onSegment: { _ in segments += 1 })
            let block = 160
            var start = warmUp
            attune_alloc_counter_start()
            while start < all.count {
                let end = min(all.count, start + block)
                analyzer.push(UnsafeBufferPointer(rebasing: all[start..<end]), onFrame: { _ in frames += 1 }, onSegment: { _ in segments += 1 })
                start = end
            }
            let allocations = attune_alloc_counter_stop()
            #expect(allocations == 0, "\(allocations) allocations while analysing \(all.count - warmUp) samples")
        }
        #expect(frames > 500)
        #expect(taps == (tapped ? frames : 0))
    }
}
