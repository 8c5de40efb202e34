import CALSA
#if canImport(Glibc)
import Glibc
#endif

/// How paced replay cuts its blocks.
public enum PacedTiming {
    /// Default wall-clock time per block when paced: short enough that `stop()` returns within it and the
    /// pipeline sees audio at the cadence of a real device's periods. A load test with a thousand replays may
    /// want longer blocks (fewer wake-ups): ``CaptureOptions/pacedBlockMilliseconds``.
    public static let blockMilliseconds = 20
    /// Frames per block at `speed=max`.
    public static let maxSpeedBlockFrames = 4096
    /// Paced replay reads the file this many frames at a time (rounded down to whole blocks) and hands them out a
    /// block per deadline: one `read` syscall per ~0.5 s at 8 kHz instead of one per 20 ms block. With a thousand
    /// replays that is 50,000 fewer syscalls a second on the capture threads (Tools/load.py).
    public static let readAheadFrames = 4096

    /// How late the kernel may wake a paced replay (its timer slack, 50 µs by default): a twentieth of a block, at
    /// most 2 ms. With a thousand replays a block deadline falls due every 100 µs; the slack lets one timer
    /// interrupt wake the several threads due within it, instead of one interrupt (a VM exit, on a virtual
    /// machine) each. Deadlines stay absolute, so the slack delays blocks but never accumulates. Measured with
    /// Tools/load.py, 100 ms blocks, alternated: capture threads 20.4 → 16.7 % of a core at N = 800, 23.7 → 19.8 % at 1,000.
    public static func timerSlack(blockNanoseconds: Int64) -> Int64 { min(2_000_000, blockNanoseconds / 20) }
}

/// `file:PATH`: replays any file ``SoundFileReader`` reads, as if it were being captured live.
///
/// Paced replay delivers the block that ends at frame *f* at `t₀ + f / (rate × speed)` on CLOCK_MONOTONIC,
/// where `t₀` is when the thread started: absolute deadlines slept to with
/// `clock_nanosleep(TIMER_ABSTIME)`, so time spent reading, converting or in the sink never accumulates — an
/// hour-long file ends an hour (± one block) after it started. A block is read before its deadline and handed
/// over at it, like a device's period that has just been recorded. If the sink falls behind, later blocks go out
/// at once until the schedule is met again (counted in ``CaptureCounters/lateBlocks`` when over a block late).
/// `speed=max` does not sleep: blocks go as fast as the sink returns.
///
/// The end of the data is ``CaptureEnd/eof``; a decode or read failure, or the data ending in a file that has
/// shrunk since it was opened (truncated while it was replayed), is ``CaptureEnd/error(_:)``.
///
/// A FIFO, socket or character device is read as it comes (a writer paces it), and ``stop()`` is prompt however
/// long the writer stays quiet, also in the middle of a read: the descriptor is cut off under libsndfile (see
/// `CaptureThread`).
public final class FileReplayCapture: CaptureSource, CaptureLoop, @unchecked Sendable {
    // @unchecked Sendable: `reader` and `buffer` are used by `init` and then only by the capture thread (handed
    // over once by `start`; pthread_create/join order the accesses); everything else is immutable or atomic.
    public let name: String
    public var sampleRate: Int { reader.sampleRate }
    public var channelCount: Int { reader.channelCount }
    public let roles: [CaptureRole]
    public let blockFrames: Int
    public let counters = CaptureCounters()
    public let warnings: [String]
    public let speed: ReplaySpeed
    /// The file's path.
    public let path: String

    private let reader: SoundFileReader
    private let control: CaptureThread
    /// Read-ahead: a whole number of blocks (one at `speed=max`), refilled when every block in it has been delivered.
    private let buffer: UnsafeMutableBufferPointer<Float>
    /// Frames the header declared at open (after libsndfile's own correction of a header that overstates).
    private let declaredFrames: Int?
    /// The file's size at open, to tell a file cut during replay from one whose header was only approximate.
    private let bytesAtOpen: Int64

    /// Opens `path`: missing 66, not audio 65 (``SoundFileReader``'s checks); roles that do not match its
    /// channels 64.
    /// `blockMilliseconds` is the wall time per paced block (1…1000).
    public init(path: String, speed: ReplaySpeed = .paced(factor: 1), roles: [CaptureRole]? = nil,
                name: String? = nil, blockMilliseconds: Int = PacedTiming.blockMilliseconds) throws(AudioError) {
        let name = name ?? SourceURI(kind: .file(path: path, speed: speed), roles: roles).description
        self.name = name
        self.path = path
        self.speed = speed
        reader = try SoundFileReader(path: path)
        let uri = SourceURI(kind: .file(path: path, speed: speed), roles: roles)
        self.roles = try uri.roles(channelCount: reader.channelCount)
        warnings = reader.warnings
        declaredFrames = reader.declaredFrames
        var st = stat()
        bytesAtOpen = stat(path, &st) == 0 ? Int64(st.st_size) : 0
        switch speed {
        case .max:
            blockFrames = PacedTiming.maxSpeedBlockFrames
        case .paced(let factor):
            // A block is blockMilliseconds of wall time: more audio per block when replaying faster.
            let ms = min(1000, max(1, blockMilliseconds))
            let frames = Double(reader.sampleRate) * factor * Double(ms) / 1000
            blockFrames = min(PacedTiming.maxSpeedBlockFrames, max(1, Int(frames)))
        }
        control = try CaptureThread(name: name, input: reader.readsMayBlock ? reader.descriptor : nil)
        let blocksPerRead = speed == .max ? 1 : max(1, PacedTiming.readAheadFrames / blockFrames)
        buffer = .allocate(capacity: blocksPerRead * blockFrames * reader.channelCount)
        buffer.initialize(repeating: 0)
    }

    deinit {
        control.stop()
        buffer.deallocate()
    }

    public func start<Sink: CaptureSink>(_ sink: Sink) throws(AudioError) { try control.start(self, sink, name: name) }
    public func stop() { control.stop() }
    public func waitUntilEnded() { control.join() }

    // MARK: - Replay loop (real-time: no allocation, lock, String or logging until it ends)

    func run<Sink: CaptureSink>(_ sink: Sink) -> CaptureEnd {
        let channels = reader.channelCount
        // Nanoseconds of wall time per frame, as a Double: exact enough for 100 days of audio at 48 kHz.
        let nsPerFrame: Double
        switch speed {
        case .max: nsPerFrame = 0
        case .paced(let factor): nsPerFrame = 1e9 / (Double(reader.sampleRate) * factor)
        }
        let blockNanoseconds = Int64(Double(blockFrames) * nsPerFrame)
        if blockNanoseconds > 0 { _ = attune_set_timer_slack(UInt(PacedTiming.timerSlack(blockNanoseconds: blockNanoseconds))) }
        let start = monotonicNanoseconds()
        var streamFrame: Int64 = 0
        // Frames in `buffer` from the last read, and how many of them have been delivered. Blocks are cut from it
        // at the same frame positions as reading one block at a time would give, so deadlines and records match.
        var held = 0
        var taken = 0
        while !control.stopRequested {
            if taken == held {
                do {
                    held = try reader.read(into: buffer)
                } catch {
                    return .error(error)
                }
                taken = 0
                // A stop cuts a FIFO's read short, ending its data (see CaptureThread): that is the stop, not EOF.
                if held == 0 { return control.stopRequested ? .stopped : endOfData() }
            }
            let frames = min(blockFrames, held - taken)
            let block = UnsafeBufferPointer(rebasing: buffer[(taken * channels)..<((taken + frames) * channels)])
            taken += frames
            if nsPerFrame > 0 {
                let deadline = start + Int64(Double(streamFrame + Int64(frames)) * nsPerFrame)
                let now = monotonicNanoseconds()
                if now < deadline {
                    sleepUntil(monotonicNanoseconds: deadline)
                } else if now - deadline > blockNanoseconds {
                    counters.addLate()
                }
                // A stop asked while we slept should not deliver one more block.
                if control.stopRequested { break }
            }
            sink.capture(block, frames: frames, at: streamFrame)
            streamFrame += Int64(frames)
            counters.addFrames(frames)
        }
        return .stopped
    }

    /// EOF, unless the file shrank since it was opened: then it was cut while we replayed it, which is an error
    /// the call's `call_end` should name. (Stopping short of the header's length alone is not: libsndfile's
    /// length of some formats, Ogg among them, is an estimate.)
    private func endOfData() -> CaptureEnd {
        var st = stat()
        guard stat(path, &st) == 0, Int64(st.st_size) < bytesAtOpen else { return .eof }
        let rate = reader.sampleRate
        var why = "audio ends after \(formatSeconds(reader.framesRead, rate: rate)) s"
        if let declared = declaredFrames { why += " of \(formatSeconds(declared, rate: rate)) s" }
        why += ": the file shrank from \(bytesAtOpen) to \(st.st_size) bytes during replay (truncated?)"
        return .error(AudioError(.badData, path: path, why))
    }
}
