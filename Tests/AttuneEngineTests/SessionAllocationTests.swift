import AttuneAudio
import AttuneEngine
import CAllocCounter
import Testing

/// The real-time rules for a live call: the capture side's hand-off (``CallRings/write(interleaved:frames:)``)
/// and a DSP worker's steady state (``CallSession/pull(from:)`` — repair, resampling, analysis, merge — and
/// draining the output queue) touch the heap not once, gaps included.
@Suite("Allocation-free live path")
struct SessionAllocationTests {
    @Test("capture hand-off, worker pull and output drain allocate nothing", arguments: [8000, 16000, 48000])
    func workerSteadyState(rate: Int) throws {
        let audio = OfflineAnalysisTests.call(sampleRate: rate, seconds: 6)
        let session = try CallSession(sampleRate: rate, channels: 2)
        let rings = CallRings(channels: 2, minimumFrames: rate)
        let block = rate / 50   // 20 ms, a typical capture period
        var outputs = 0
        func run(_ from: Int, _ to: Int, overflowAt: Int? = nil) {
            audio.withUnsafeBufferPointer { all in
                var i = from
                while i + block <= to {
                    _ = rings.write(interleaved: all.baseAddress! + 2 * i, frames: block)
                    i += block
                    // Once, stop reading for 1.5 s so the rings (1 s) overflow and the gap path runs too.
                    if let at = overflowAt, i >= at, i < at + 3 * rate / 2 { continue }
                    while case .analysed = session.pull(from: rings) {
                        while session.outputs.pop() != nil { outputs += 1 }
                    }
                }
            }
        }
        run(0, 2 * rate)
        attune_alloc_counter_start()
        run(2 * rate, 6 * rate, overflowAt: 3 * rate)
        let allocations = attune_alloc_counter_stop()
        #expect(allocations == 0, "\(allocations) allocations over 4 s of two-channel audio at \(rate) Hz")
        #expect(rings.droppedFrames > 0, "the overflow path must have run")
        #expect(outputs > 700)
    }
}
