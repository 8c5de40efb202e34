import AttuneAudio
import AttuneTestSupport
import CAllocCounter
import CSndFile
import Foundation
import Synchronization
import Testing

/// A sink that records what a capture thread gives it into storage allocated up front, with each block's arrival
/// time on CLOCK_MONOTONIC, and counts mallocs on the capture thread between two block numbers.
final class RecordingSink: CaptureSink, @unchecked Sendable {
    // @unchecked Sendable: every stored var is written only on the capture thread and read by the test after the
    // thread has been joined (stop()/waitUntilEnded()), which orders the accesses; `seen` is atomic for polling.
    let channels: Int
    let samples: UnsafeMutableBufferPointer<Float>
    let arrivals: UnsafeMutableBufferPointer<Int64>
    let blockEnds: UnsafeMutableBufferPointer<Int64>
    var frames = 0
    var blocks = 0
    var streamFrameMismatches = 0
    var end: CaptureEnd?
    var endCalls = 0
    let countAllocations: (from: Int, to: Int)?
    var allocations: UInt64?
    let seen = Atomic<Int>(0)
    let ended = Atomic<Bool>(false)

    init(channels: Int, capacityFrames: Int, maxBlocks: Int = 100_000, countAllocations: (from: Int, to: Int)? = nil) {
        self.channels = channels
        samples = .allocate(capacity: capacityFrames * channels)
        samples.initialize(repeating: .nan)
        arrivals = .allocate(capacity: maxBlocks)
        arrivals.initialize(repeating: 0)
        blockEnds = .allocate(capacity: maxBlocks)
        blockEnds.initialize(repeating: 0)
        self.countAllocations = countAllocations
    }

    deinit {
        samples.deallocate()
        arrivals.deallocate()
        blockEnds.deallocate()
    }

    func capture(_ interleaved: UnsafeBufferPointer<Float>, frames n: Int, at streamFrame: Int64) {
        let now = monotonicNow()
        if let c = countAllocations, blocks == c.from { attune_alloc_counter_start() }
        if let c = countAllocations, blocks == c.to { allocations = attune_alloc_counter_stop() }
        if blocks < arrivals.count {
            arrivals[blocks] = now
            blockEnds[blocks] = streamFrame + Int64(n)
        }
        if streamFrame != Int64(frames) { streamFrameMismatches += 1 }
        if interleaved.count != n * channels { streamFrameMismatches += 1 }
        let room = samples.count / channels - frames
        let take = min(room, n)
        for i in 0..<(take * channels) { samples[frames * channels + i] = interleaved[i] }
        frames += n
        blocks += 1
        seen.store(frames, ordering: .releasing)
    }

    func captureEnded(_ reason: CaptureEnd) {
        end = reason
        endCalls += 1
        ended.store(true, ordering: .releasing)
    }

    var captured: [Float] { Array(samples[0..<(min(frames, samples.count / channels) * channels)]) }
}

func monotonicNow() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// Polls `condition` every millisecond for up to `seconds` (a bound for a loaded machine, not a pacing sleep).
func waitFor(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = monotonicNow() + Int64(seconds * 1e9)
    while monotonicNow() < deadline {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}

/// A 16-bit WAV of `seconds` of the test signal at `rate`; returns its path and samples as read back.
func makeWAV(_ dir: TempDir, _ name: String = "call.wav", seconds: Double, rate: Int = 8000, channels: Int = 1,
             format: Int32 = Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16)) throws -> (String, [Float]) {
    let path = dir.file(name)
    try writeSoundFile(path, format: format, rate: rate, channels: channels,
                       samples: testSignal(frames: Int(seconds * Double(rate)), channels: channels, rate: rate))
    return (path, try readAll(SoundFileReader(path: path)))
}

@Suite("File replay capture")
struct FileReplayCaptureTests {
    @Test func maxSpeedDeliversTheWholeFileThenEOF() throws {
        let dir = TempDir()
        let (path, expected) = try makeWAV(dir, seconds: 3.3, channels: 2)
        let source = try CaptureSources.open("file:\(path)?speed=max&roles=agent,customer")
        #expect(source.sampleRate == 8000)
        #expect(source.channelCount == 2)
        #expect(source.roles == [.agent, .customer])
        let sink = RecordingSink(channels: 2, capacityFrames: 30_000)
        try source.start(sink)
        source.waitUntilEnded()
        #expect(sink.end == .eof)
        #expect(sink.endCalls == 1)
        #expect(sink.streamFrameMismatches == 0)
        #expect(sink.frames == 26_400)
        #expect(sink.captured == expected)
        #expect(source.counters.framesCaptured == 26_400)
        // stop() after the end is a no-op and does not call the sink again.
        source.stop()
        #expect(sink.endCalls == 1)
    }

    /// Measured against the time `start` was called, which is before the thread's own start time, so no block can
    /// arrive "early", and lateness includes the thread's start-up.
    struct Pacing: CustomStringConvertible {
        var medianMs: Double, maxMs: Double, minMs: Double, driftMs: Double, totalS: Double
        var description: String {
            "lateness median \(medianMs) ms, max \(maxMs) ms, min \(minMs) ms; drift \(driftMs) ms; total \(totalS) s"
        }
    }

    func replayPacing(speed: Double, seconds: Double) throws -> (Pacing, RecordingSink) {
        let dir = TempDir()
        let (path, expected) = try makeWAV(dir, seconds: seconds)
        let source = try CaptureSources.open(SourceURI(kind: .file(path: path, speed: .paced(factor: speed))))
        let sink = RecordingSink(channels: 1, capacityFrames: expected.count)
        let t0 = monotonicNow()
        try source.start(sink)
        source.waitUntilEnded()
        #expect(sink.end == .eof)
        #expect(sink.captured == expected)
        let nsPerFrame = 1e9 / (8000 * speed)
        let lateness = (0..<sink.blocks).map { i in
            Double(sink.arrivals[i] - t0) / 1e6 - Double(sink.blockEnds[i]) * nsPerFrame / 1e6
        }
        let sorted = lateness.sorted()
        // Drift: the least lateness of the last quarter minus that of the first. The least of 25 blocks is one
        // that woke promptly, so load spikes (which only delay) do not count, while a drifting schedule moves
        // every block of the last quarter, the least included.
        let k = lateness.count / 4
        let pacing = Pacing(medianMs: sorted[sorted.count / 2], maxMs: sorted.last!, minMs: sorted.first!,
                            driftMs: lateness.suffix(k).min()! - lateness.prefix(k).min()!,
                            totalS: Double(sink.arrivals[sink.blocks - 1] - t0) / 1e9)
        return (pacing, sink)
    }

    @Test(arguments: [1.0, 4.0])
    func pacedReplayFollowsTheWallClock(speed: Double) throws {
        let seconds = 2.0 * speed // 2 s of wall time either way
        let (p, sink) = try replayPacing(speed: speed, seconds: seconds)
        print("file replay speed=\(speed): \(sink.blocks) blocks, \(p)")
        // Never before its deadline: a block is audio that has "been recorded". The least lateness is the
        // thread's start-up, a constant offset of every deadline.
        #expect(p.minMs >= 0 && p.minMs < 500, "\(p)")
        // Beyond that, lateness is wake-up latency: ~0.1 ms on an idle machine, several ms at a load of 14 on
        // 2 cores; the bounds leave room for that while staying under one block (20 ms).
        #expect(p.medianMs - p.minMs < 20, "\(p)")
        #expect(p.maxMs - p.minMs < 250, "\(p)")
        // Absolute deadlines: the end of the run is as late as the start, however many blocks in between. A loop
        // that slept relative times would gain at least its wake-up latency, ~0.1 ms, on each of 75 blocks.
        #expect(abs(p.driftMs) < 3, "\(p)")
        // 20 ms of wall time per block: 100 blocks either way.
        #expect(sink.blocks == 100)
    }

    @Test func pacedBlockLengthFollowsTheOptions() throws {
        let dir = TempDir()
        let (path, expected) = try makeWAV(dir, seconds: 2)
        let source = try CaptureSources.open("file:\(path)?speed=4", options: CaptureOptions(pacedBlockMilliseconds: 50))
        #expect(source.blockFrames == 1600) // 50 ms of wall time at 4 × 8 kHz
        let sink = RecordingSink(channels: 1, capacityFrames: expected.count)
        try source.start(sink)
        source.waitUntilEnded()
        #expect(sink.end == .eof)
        #expect(sink.blocks == 10)
        #expect(sink.captured == expected)
    }

    /// A paced replay lets the kernel wake it up to a twentieth of a block late (so a thousand replays share timer
    /// interrupts); a replay at full speed never sleeps and keeps the default slack of 50 µs.
    @Test(arguments: [("file:%@", 1_000_000), ("file:%@?speed=4", 1_000_000), ("file:%@?speed=max", 50_000)])
    func pacedReplaySetsItsTimerSlack(uri: String, slackNanoseconds: Int) throws {
        final class SlackProbe: CaptureSink, @unchecked Sendable {
            // @unchecked Sendable: `slack` is written on the capture thread and read after the join.
            var slack: Int?
            func capture(_ interleaved: UnsafeBufferPointer<Float>, frames: Int, at streamFrame: Int64) {
                if slack == nil { slack = attune_test_timer_slack() }
            }
            func captureEnded(_ reason: CaptureEnd) {}
        }
        let dir = TempDir()
        let (path, _) = try makeWAV(dir, seconds: 0.2)
        let source = try CaptureSources.open(uri.replacingOccurrences(of: "%@", with: path))
        let probe = SlackProbe()
        try source.start(probe)
        source.waitUntilEnded()
        #expect(probe.slack == slackNanoseconds)
    }

    /// A sink may stop its own source (say, on a fatal downstream error) without deadlocking on the join.
    @Test func theSinkMayStopItsOwnSource() throws {
        final class StoppingSink: CaptureSink, @unchecked Sendable {
            // @unchecked Sendable: `source` is set before start and only read on the capture thread after.
            weak var source: (any CaptureSource)?
            let inner = RecordingSink(channels: 1, capacityFrames: 32_000)
            func capture(_ interleaved: UnsafeBufferPointer<Float>, frames: Int, at streamFrame: Int64) {
                inner.capture(interleaved, frames: frames, at: streamFrame)
                if inner.blocks == 3 { source?.stop() }
            }
            func captureEnded(_ reason: CaptureEnd) { inner.captureEnded(reason) }
        }
        let dir = TempDir()
        let (path, _) = try makeWAV(dir, seconds: 4) // 8 blocks of 4096 frames
        let source = try CaptureSources.open("file:\(path)?speed=max")
        let sink = StoppingSink()
        sink.source = source
        try source.start(sink)
        #expect(waitFor(seconds: 10) { sink.inner.ended.load(ordering: .acquiring) })
        #expect(sink.inner.end == .stopped)
        #expect(sink.inner.blocks == 3)
    }

    @Test func stopIsPromptDuringPacedReplay() throws {
        let dir = TempDir()
        let (path, _) = try makeWAV(dir, seconds: 20)
        let source = try CaptureSources.open("file:\(path)")
        let sink = RecordingSink(channels: 1, capacityFrames: 160_000)
        try source.start(sink)
        #expect(waitFor(seconds: 10) { sink.seen.load(ordering: .acquiring) >= 800 })
        let t = monotonicNow()
        source.stop()
        let stopMs = Double(monotonicNow() - t) / 1e6
        #expect(stopMs < 500, "stop took \(stopMs) ms")
        #expect(sink.end == .stopped)
        #expect(sink.endCalls == 1)
        #expect(sink.frames < 160_000)
        #expect(sink.frames == Int(source.counters.framesCaptured))
    }

    @Test func fileTruncatedDuringReplayEndsWithAnError() throws {
        let dir = TempDir()
        let (path, expected) = try makeWAV(dir, seconds: 4)
        let source = try CaptureSources.open("file:\(path)?speed=2")
        let sink = RecordingSink(channels: 1, capacityFrames: 32_000)
        try source.start(sink)
        #expect(waitFor(seconds: 10) { sink.seen.load(ordering: .acquiring) > 0 })
        // Cut it to its first second (44-byte header + 8000 16-bit frames); replay is at most a few blocks in.
        #expect(truncate(path, 44 + 16_000) == 0)
        source.waitUntilEnded()
        guard case .error(let e)? = sink.end else {
            Issue.record("expected an error, got \(String(describing: sink.end))")
            return
        }
        #expect(e.kind == .badData)
        #expect(e.path == path)
        #expect(e.reason.contains("truncated"), "\(e)")
        #expect(sink.frames <= 8000)
        #expect(sink.captured == Array(expected.prefix(sink.frames)))
    }

    /// Cut before replay began, a file plays what it has, as `attune analyze` would, with the warning it gives.
    @Test func fileTruncatedBeforeReplayPlaysWhatItHas() throws {
        let dir = TempDir()
        let (path, expected) = try makeWAV(dir, seconds: 2)
        #expect(truncate(path, 44 + 16_000) == 0)
        let source = try CaptureSources.open("file:\(path)?speed=max")
        #expect(source.warnings.count == 1)
        #expect(source.warnings.first?.contains("truncated file?") == true)
        let sink = RecordingSink(channels: 1, capacityFrames: 16_000)
        try source.start(sink)
        source.waitUntilEnded()
        #expect(sink.end == .eof)
        #expect(sink.captured == Array(expected.prefix(8000)))
    }

    @Test func openErrorsAreTyped() throws {
        let dir = TempDir()
        #expect(throws: AudioError(.missing, path: dir.file("none.wav"), "cannot open: No such file or directory")) {
            try CaptureSources.open("file:\(dir.file("none.wav"))")
        }
        let junk = dir.file("junk.wav")
        try Data("not audio at all".utf8).write(to: URL(fileURLWithPath: junk))
        do {
            _ = try CaptureSources.open("file:\(junk)")
            Issue.record("junk opened")
        } catch {
            #expect(error.exitCode == 65)
        }
        let (path, _) = try makeWAV(dir, seconds: 0.1)
        do {
            _ = try CaptureSources.open("file:\(path)?roles=agent,customer")
            Issue.record("two roles for a mono file accepted")
        } catch {
            #expect(error.kind == .usage)
            #expect(error.reason.contains("2 roles for 1 channels"))
        }
    }

    @Test func aSourceStartsOnce() throws {
        let dir = TempDir()
        let (path, _) = try makeWAV(dir, seconds: 0.1)
        let source = try CaptureSources.open("file:\(path)?speed=max")
        let sink = RecordingSink(channels: 1, capacityFrames: 800)
        try source.start(sink)
        #expect(throws: AudioError.self) { try source.start(sink) }
        source.waitUntilEnded()
        #expect(sink.endCalls == 1)
    }
}

@Suite("Pipe capture")
struct PipeCaptureTests {
    @Test func pipeDeliversEverythingThenEOF() throws {
        let format = RawFormat(encoding: .s16le, sampleRate: 8000, channelCount: 2)
        let signal = testSignal(frames: 12_345, channels: 2, rate: 8000)
        let bytes = signal.flatMap { v -> [UInt8] in
            let s = UInt16(bitPattern: Int16((v * 32767).rounded()))
            return [UInt8(s & 0xFF), UInt8(s >> 8)]
        }
        let expected = signal.map { Float(Int16(($0 * 32767).rounded())) / 32768 }
        let pipe = Pipe()
        let source = try PipeCapture(fileDescriptor: pipe.fileHandleForReading.fileDescriptor, name: "-",
                                     format: format, roles: [.customer, .agent])
        let sink = RecordingSink(channels: 2, capacityFrames: 12_345)
        try source.start(sink)
        // Dribble it in uneven pieces, splitting frames, as a real pipe may.
        let writer = Thread {
            var at = 0, piece = 1
            while at < bytes.count {
                let n = min(bytes.count - at, piece)
                bytes[at..<(at + n)].withUnsafeBytes { pipe.fileHandleForWriting.write(Data($0)) }
                at += n
                piece = piece * 7 % 5003 + 1
            }
            try? pipe.fileHandleForWriting.close()
        }
        writer.start()
        source.waitUntilEnded()
        #expect(sink.end == .eof)
        #expect(sink.streamFrameMismatches == 0)
        #expect(sink.frames == 12_345)
        #expect(sink.captured == expected)
    }

    @Test func stopWakesAPipeThatIsSilent() throws {
        let pipe = Pipe()
        let source = try PipeCapture(fileDescriptor: pipe.fileHandleForReading.fileDescriptor, name: "-",
                                     format: RawFormat(encoding: .mulaw, sampleRate: 8000, channelCount: 1))
        let sink = RecordingSink(channels: 1, capacityFrames: 10)
        try source.start(sink)
        // Let the thread reach its poll (no data will ever come), then stop it.
        usleep(50_000)
        let t = monotonicNow()
        source.stop()
        let stopMs = Double(monotonicNow() - t) / 1e6
        #expect(stopMs < 500, "stop took \(stopMs) ms")
        #expect(sink.end == .stopped)
        #expect(sink.frames == 0)
        withExtendedLifetime(pipe) {}
    }

    @Test func aFailingReadEndsWithAnIOError() throws {
        // /proc/self/mem polls readable and fails read(2) at offset 0 (unmapped) with EIO: a stand-in for a
        // descriptor gone bad. (A directory no longer serves: the reader refuses it when it opens.)
        let fd = open("/proc/self/mem", O_RDONLY)
        #expect(fd >= 0)
        defer { close(fd) }
        let source = try PipeCapture(fileDescriptor: fd, name: "-", format: RawFormat(encoding: .s16le, sampleRate: 8000, channelCount: 1))
        let sink = RecordingSink(channels: 1, capacityFrames: 10)
        try source.start(sink)
        source.waitUntilEnded()
        guard case .error(let e)? = sink.end else {
            Issue.record("expected an error, got \(String(describing: sink.end))")
            return
        }
        #expect(e.kind == .io)
        #expect(e.exitCode == 74)
        #expect(e.description.hasPrefix("-: read failed after 0.000 s: read: Input/output error"), "\(e)")
        #expect(sink.end?.recordReason == "error")
        #expect(sink.end?.message == e.description)
    }

    @Test func stdinURIOpensFileDescriptorZero() throws {
        let source = try CaptureSources.open("stdin:alaw:16000:2?roles=agent,customer")
        #expect(source.sampleRate == 16000)
        #expect(source.channelCount == 2)
        #expect(source.roles == [.agent, .customer])
        #expect(source.name == "stdin:alaw:16000:2?roles=agent,customer")
    }
}

/// The capture loops' steady state allocates nothing: the sink, which runs on the capture thread, counts mallocs
/// there between two blocks, so everything the loop does between them — read, pace, convert, deliver — is in.
@Suite("Capture allocation-free loops")
struct CaptureAllocationTests {
    @Test(arguments: [Int32(SF_FORMAT_WAV | SF_FORMAT_ULAW), Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16)])
    func maxSpeedReplayLoopDoesNotAllocate(_ format: Int32) throws {
        let dir = TempDir()
        let flac = format & Int32(SF_FORMAT_TYPEMASK) == Int32(SF_FORMAT_FLAC)
        let (path, _) = try makeWAV(dir, flac ? "x.flac" : "x.wav", seconds: 12, channels: 2, format: format)
        let source = try CaptureSources.open("file:\(path)?speed=max")
        let sink = RecordingSink(channels: 2, capacityFrames: 96_000, countAllocations: (2, 20))
        try source.start(sink)
        source.waitUntilEnded()
        #expect(sink.end == .eof)
        #expect(sink.blocks > 20)
        #expect(sink.allocations == 0)
    }

    @Test func pacedReplayLoopDoesNotAllocate() throws {
        let dir = TempDir()
        let (path, _) = try makeWAV(dir, seconds: 4)
        let source = try CaptureSources.open("file:\(path)?speed=10")
        let sink = RecordingSink(channels: 1, capacityFrames: 32_000, countAllocations: (2, 15))
        try source.start(sink)
        source.waitUntilEnded()
        #expect(sink.end == .eof)
        #expect(sink.allocations == 0)
    }

    @Test func pipeLoopDoesNotAllocate() throws {
        let dir = TempDir()
        let path = dir.file("x.raw")
        try Data(repeating: 0x55, count: 2 * 4096 * 30).write(to: URL(fileURLWithPath: path))
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        let source = try PipeCapture(fileDescriptor: fd, name: path,
                                     format: RawFormat(encoding: .s16le, sampleRate: 8000, channelCount: 1))
        let sink = RecordingSink(channels: 1, capacityFrames: 4096 * 30, countAllocations: (2, 20))
        try source.start(sink)
        source.waitUntilEnded()
        #expect(sink.end == .eof)
        #expect(sink.frames == 4096 * 30)
        #expect(sink.allocations == 0)
    }
}
