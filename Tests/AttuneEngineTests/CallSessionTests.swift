import AttuneAudio
import Synchronization
import AttuneDSP
import AttuneEngine
import Foundation
import Testing

@Suite("Call session")
struct CallSessionTests {
    /// Everything a session hands out, drained on the calling thread.
    static func drain(_ session: CallSession, into out: inout [SessionOutput]) {
        while let o = session.outputs.pop() { out.append(o) }
    }

    static func offline(_ audio: [Float], rate: Int) throws -> [SessionOutput] {
        let session = try CallSession(sampleRate: rate, channels: 2)
        var out: [SessionOutput] = []
        audio.withUnsafeBufferPointer { all in
            var done = 0
            while done < all.count / 2 {
                let n = min(all.count / 2 - done, 2048)
                session.push(interleaved: UnsafeBufferPointer(rebasing: all[(2 * done)..<(2 * (done + n))]))
                drain(session, into: &out)
                done += n
            }
        }
        session.finish()
        drain(session, into: &out)
        return out
    }

    /// The live path — a capture thread writing the rings, a worker thread pulling them into the session,
    /// this thread draining the outputs — gives exactly what the offline path gives. Run under TSan by
    /// `Tools/tsan_ring.sh`'s filter too (the hand-offs are the ring and the output queue).
    @Test("live hand-off through rings and a worker thread equals offline, value for value")
    func liveEqualsOffline() throws {
        let rate = 16000
        let audio = OfflineAnalysisTests.call(sampleRate: rate, seconds: 3)
        let expected = try Self.offline(audio, rate: rate)
        // Big enough never to overflow: this test is about equality, the next one about gaps.
        let rings = CallRings(channels: 2, minimumFrames: audio.count)
        let pool = DSPWorkerPool(workers: 2)
        defer { pool.shutdown() }
        let ticket = pool.adopt(try CallSession(sampleRate: rate, channels: 2), rings: rings)
        audio.withUnsafeBufferPointer { all in
            var done = 0, size = 7
            while done < all.count / 2 {
                size = size * 3 % 1013 + 1
                let n = min(size, all.count / 2 - done)
                let ok = rings.write(interleaved: all.baseAddress! + 2 * done, frames: n)
                precondition(ok)
                done += n
            }
        }
        #expect(rings.finish())
        var got: [SessionOutput] = []
        while true {
            let finished = ticket.isFinished
            while let o = ticket.outputs.pop() { got.append(o) }
            if finished { break }
            usleep(1000)
        }
        #expect(pool.reapFinished().count == 1)
        #expect(ticket.framesAnalysed == audio.count / 2)
        #expect(got.count == expected.count)
        #expect(got == expected)
    }

    /// The rings overflow on purpose (the worker is not running while 2 s of audio arrive); the lost stretch
    /// becomes one gap at its true time, and every frame after it keeps its time.
    @Test("an overflow keeps the timeline: the gap is announced where it was, later frames keep their times")
    func overflowKeepsTimeline() throws {
        let rate = 8000
        let audio = OfflineAnalysisTests.call(sampleRate: rate, seconds: 4)
        let session = try CallSession(sampleRate: rate, channels: 2)
        let rings = CallRings(channels: 2, minimumFrames: 8192)   // about 1 s at 8 kHz
        var out: [SessionOutput] = []
        func feed(_ from: Int, _ to: Int, draining: Bool = false) -> Int {
            var dropped = 0
            audio.withUnsafeBufferPointer { all in
                var i = from
                while i < to {
                    let n = min(800, to - i)
                    if !rings.write(interleaved: all.baseAddress! + 2 * i, frames: n) { dropped += n }
                    i += n
                    while draining, case .analysed = session.pull(from: rings) { Self.drain(session, into: &out) }
                }
            }
            return dropped
        }
        // 0.5 s is analysed as it arrives; then 2.0 s arrive with nobody reading: the first 1.0 s fits in
        // the rings, the second is dropped; then the last 1.5 s is analysed as it arrives.
        #expect(feed(0, 4000, draining: true) == 0)
        #expect(feed(4000, 20000) == 8000)
        while case .analysed = session.pull(from: rings) { Self.drain(session, into: &out) }   // the worker catches up
        #expect(feed(20000, 32000, draining: true) == 0)
        #expect(rings.finish())
        while session.pull(from: rings) != .ended { Self.drain(session, into: &out) }
        session.finish()
        Self.drain(session, into: &out)

        let gaps = out.compactMap { o -> (Double, Double)? in if case .gap(let s, let e) = o { return (s, e) } else { return nil } }
        #expect(gaps.count == 1)
        // The rings took whole 800-frame blocks up to 1.0 s of audio (8,000 of their 8,192 frames), so the
        // first block dropped starts at 1.5 s, and the gap lasts the 1.0 s dropped.
        #expect(abs(gaps[0].0 - 1.5) < 1e-9)
        #expect(abs(gaps[0].1 - 2.5) < 1e-9)
        let frames = out.compactMap { o -> FrameFeatures? in if case .frame(0, let f) = o { return f } else { return nil } }
        // Channel 0 still has one frame per hop over the whole 4 s: the timeline did not shrink by the gap.
        #expect(frames.count == 400)
        #expect(frames.map(\.index) == Array(0..<400))
        // Frames inside the gap heard silence; frames after it hear the audio that arrived after it, at its
        // true time: the levels right after the gap match an uninterrupted analysis of the same audio.
        let reference = try Self.offline(audio, rate: rate).compactMap { o -> FrameFeatures? in
            if case .frame(0, let f) = o { return f } else { return nil }
        }
        let inGap = frames[155..<245].map(\.energyDB)
        #expect(inGap.allSatisfy { $0 <= silenceDB + 1 })
        for k in 255..<400 {
            #expect(abs(frames[k].energyDB - reference[k].energyDB) < 0.01, "frame \(k)")
        }
        #expect(session.timelineFrames == 32000)
    }

    /// At the analysis rates the first frame is out one hop past the delay. A resampled stream adds libsoxr's
    /// hold: its FFT stage releases output in blocks, so the first frame comes 7–40 ms of input later still,
    /// depending on where the delay falls in them (measured at 22.05, 44.1 and 48 kHz over six delays, the
    /// pitch path's look-ahead of 20–25 frames).
    @Test("fixed delay is what the analysis holds back (plus the resampler's block at other rates), under a second",
          arguments: [8000, 16000, 22050, 44100, 48000])
    func fixedDelay(rate: Int) throws {
        let session = try CallSession(sampleRate: rate, channels: 1)
        #expect(session.fixedDelaySeconds > 0.3 && session.fixedDelaySeconds < 1.0)
        let hopIn = rate / 100
        let delayIn = Int((session.fixedDelaySeconds * Double(rate)).rounded())
        let holdIn = session.settings.sampleRate == rate ? 0 : rate * 45 / 1000
        var out: [SessionOutput] = []
        let silence = [Float](repeating: 0.001, count: delayIn - hopIn)
        silence.withUnsafeBufferPointer { session.push(interleaved: $0) }
        Self.drain(session, into: &out)
        #expect(out.isEmpty, "\(rate) Hz: nothing before the delay has passed")
        // Then one sample at a time, so the first frame's arrival is known to the sample.
        var pushed = 0
        let one: [Float] = [0.001]
        while out.isEmpty && pushed <= 2 * hopIn + holdIn {
            one.withUnsafeBufferPointer { session.push(interleaved: $0) }
            Self.drain(session, into: &out)
            pushed += 1
        }
        #expect(!out.isEmpty, "\(rate) Hz: no frame \(pushed) samples past the delay")
        if session.settings.sampleRate == rate {
            #expect(pushed == hopIn, "\(rate) Hz: the first frame came \(pushed - hopIn) samples late")
        }
    }

    /// A worker visits a call only when its rings ring or its last pull stopped short. The producer's last ring is
    /// its `finish()`; a pull that reads the last samples and then finds the end must therefore ask to come back,
    /// or the call would never be told it ended.
    @Test("a pull that finds the end after the last samples asks to be called again; the next pull ends")
    func endFoundAfterSamplesIsNotLost() throws {
        let (session, rings) = try Self.mono(holding: 400)
        #expect(rings.finish())
        #expect(session.pull(from: rings) == .analysed(400))
        #expect(session.stoppedShort, "the end was seen but not told")
        #expect(session.pull(from: rings) == .ended)
        #expect(!session.stoppedShort)
    }

    /// A stopped capture whose rings hold samples, then an hour lost (a device faster than real time, its blocks
    /// dropped), then more: the samples before the gap are analysed, and the rest is one gap, not an hour of silence
    /// analysed before the call may end. Without the stop the same rings are analysed gap and all.
    @Test("after a stop the analysis ends at the first gap, the rest one gap; without a stop the gap is analysed")
    func stopEndsAtTheFirstGap() throws {
        let hour = 8000 * 3600
        for stopped in [true, false] {
            let (session, rings) = try Self.mono(holding: 400)
            rings.skip(frames: stopped ? hour : 800)
            Self.write(400, to: rings)
            rings.skip(frames: 300)
            if stopped { rings.markStopped() }
            #expect(rings.finish())
            var out: [SessionOutput] = []
            var pulls = 0
            while session.pull(from: rings) != .ended, pulls < 100 {
                Self.drain(session, into: &out)
                pulls += 1
            }
            session.finish()
            Self.drain(session, into: &out)
            let gaps = out.compactMap { o -> [Double]? in if case .gap(let s, let e) = o { return [s, e] } else { return nil } }
            let expected = stopped ? [[0.05, Double(400 + hour + 400 + 300) / 8000]] : [[0.05, 0.15], [0.2, 0.2375]]
            #expect(gaps.count == expected.count && zip(gaps.joined(), expected.joined()).allSatisfy { abs($0 - $1) < 1e-9 }, "\(gaps)")
            #expect(session.timelineFrames == (stopped ? 400 : 400 + 800 + 400 + 300))
            #expect(out.contains { if case .summary = $0 { true } else { false } })
        }
    }

    /// With nothing more in the rings and the producer still running, a pull says so and asks for no revisit:
    /// the next write rings.
    @Test("a pull that empties the rings of a running producer waits for the next ring")
    func emptiedRingsWaitForTheNextRing() throws {
        let (session, rings) = try Self.mono(holding: 400)
        #expect(session.pull(from: rings) == .analysed(400))
        #expect(!session.stoppedShort)
        #expect(session.pull(from: rings) == .idle)
        Self.write(2000, to: rings)
        #expect(session.pull(from: rings, budget: CallSession.stepFrames) == .analysed(CallSession.stepFrames))
        #expect(session.stoppedShort, "stopped for its budget with more to read")
        #expect(session.pull(from: rings) == .analysed(2000 - CallSession.stepFrames))
        #expect(!session.stoppedShort)
    }

    /// The worst case of the output room: the drain takes one output only when the session has no room for a
    /// step, so the end is found with the queue as full as `pull` ever leaves it. The final flush (every
    /// channel's held-back frames, their segments, the summaries) must still fit; a shortfall traps in `finish()`.
    @Test("the end found with the output queue as full as it gets still flushes everything", arguments: [8000, 16000, 48000])
    func flushFitsAFullQueue(rate: Int) throws {
        // Long enough that its outputs overfill the queue several times over.
        let audio = OfflineAnalysisTests.call(sampleRate: rate, seconds: 12)
        let expected = try Self.offline(audio, rate: rate)
        let rings = CallRings(channels: 2, minimumFrames: audio.count)
        audio.withUnsafeBufferPointer { #expect(rings.write(interleaved: $0.baseAddress!, frames: audio.count / 2)) }
        #expect(rings.finish())
        let session = try CallSession(sampleRate: rate, channels: 2)
        var got: [SessionOutput] = []
        var starved = 0
        pulling: while true {
            switch session.pull(from: rings) {
            case .ended: break pulling
            case .idle:
                starved += 1
                got.append(try #require(session.outputs.pop(), "no room for a step, yet nothing to drain"))
            case .analysed: continue
            }
        }
        #expect(starved > 100, "the queue never ran full: the test did not reach its worst case")
        session.finish()
        Self.drain(session, into: &got)
        #expect(got == expected)
    }

    /// An 8 kHz mono session and its rings, holding `frames` frames of quiet audio.
    static func mono(holding frames: Int) throws -> (CallSession, CallRings) {
        let rings = CallRings(channels: 1, minimumFrames: 4096)
        write(frames, to: rings)
        return (try CallSession(sampleRate: 8000, channels: 1), rings)
    }

    static func write(_ frames: Int, to rings: CallRings) {
        let audio = [Float](repeating: 0.01, count: frames)
        audio.withUnsafeBufferPointer { #expect(rings.write(interleaved: $0.baseAddress!, frames: frames)) }
    }
}
