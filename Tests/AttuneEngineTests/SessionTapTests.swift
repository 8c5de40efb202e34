import AttuneAudio
import AttuneEngine
import CAllocCounter
import Testing

/// ``CallSession/attachTap(_:channel:)``: the recogniser's copy of a channel. The DSP side never waits on it and
/// never allocates for it; a full ring loses audio for the recogniser alone, counted, with the analysis unchanged.
@Suite("CallSession tap")
struct SessionTapTests {
    /// Pushes all of `audio` (stereo) through `session`, draining its outputs; returns them.
    static func analyse(_ session: CallSession, _ audio: [Float]) -> [SessionOutput] {
        var outputs: [SessionOutput] = []
        audio.withUnsafeBufferPointer { all in
            var i = 0
            while i < all.count / 2 {
                let n = min(max(session.acceptableFrames, 1), 4096, all.count / 2 - i)
                session.push(interleaved: UnsafeBufferPointer(rebasing: all[(2 * i)..<(2 * (i + n))]))
                while let o = session.outputs.pop() { outputs.append(o) }
                i += n
            }
        }
        session.finish()
        while let o = session.outputs.pop() { outputs.append(o) }
        return outputs
    }

    @Test("the tap carries the channel's samples exactly, on the session's timeline")
    func copies() throws {
        let audio = OfflineAnalysisTests.call(sampleRate: 8000, seconds: 2)
        let session = try CallSession(sampleRate: 8000, channels: 2)
        let ring = SPSCRingBuffer(minimumCapacity: 32768)
        session.attachTap(ring, channel: 1)
        _ = Self.analyse(session, audio)
        var got = [Float](repeating: 0, count: 32768)
        let n = got.withUnsafeMutableBufferPointer { ring.read(into: $0) }
        #expect(n == 16000)
        #expect(Array(got[0..<n]) == stride(from: 1, to: audio.count, by: 2).map { audio[$0] })
        #expect(ring.overflowCount == 0)
    }

    @Test("a full tap never blocks the session: the recogniser loses audio, counted, and the analysis is unchanged")
    func fullRingLoses() throws {
        let audio = OfflineAnalysisTests.call(sampleRate: 8000, seconds: 6)
        let plain = Self.analyse(try CallSession(sampleRate: 8000, channels: 2), audio)
        let session = try CallSession(sampleRate: 8000, channels: 2)
        let ring = SPSCRingBuffer(minimumCapacity: 4096)   // half a second, never read
        session.attachTap(ring, channel: 0)
        let start = ContinuousClock.now
        let tapped = Self.analyse(session, audio)
        #expect(ContinuousClock.now - start < .seconds(30), "returned: the DSP side did not wait for the consumer")
        #expect(tapped == plain, "the tap changes nothing downstream")
        // Whole steps that did not fit are dropped: everything beyond the ring's capacity is counted as lost.
        #expect(ring.overflowCount == 48000 - ring.capacity)
        #expect(ring.readableCount == ring.capacity)
    }

    @Test("worker pull with a tap attached allocates nothing, while the tap fills and overflows")
    func allocationFree() throws {
        let rate = 8000
        let audio = OfflineAnalysisTests.call(sampleRate: rate, seconds: 6)
        let session = try CallSession(sampleRate: rate, channels: 2)
        let rings = CallRings(channels: 2, minimumFrames: rate)
        let tap = SPSCRingBuffer(minimumCapacity: rate)
        session.attachTap(tap, channel: 1)
        let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: 512)
        defer { scratch.deallocate() }
        let block = rate / 50
        func run(_ from: Int, _ to: Int, readTap: Bool) {
            audio.withUnsafeBufferPointer { all in
                var i = from
                while i + block <= to {
                    _ = rings.write(interleaved: all.baseAddress! + 2 * i, frames: block)
                    i += block
                    while case .analysed = session.pull(from: rings) {
                        while session.outputs.pop() != nil {}
                    }
                    // The consumer keeps up for a while, then stops so the tap overflows.
                    if readTap { _ = tap.read(into: scratch) }
                }
            }
        }
        run(0, 2 * rate, readTap: true)
        attune_alloc_counter_start()
        run(2 * rate, 4 * rate, readTap: true)
        run(4 * rate, 6 * rate, readTap: false)
        let allocations = attune_alloc_counter_stop()
        #expect(allocations == 0, "\(allocations) allocations with a tap attached")
        #expect(tap.overflowCount > 0, "the overflow path must have run")
    }
}
