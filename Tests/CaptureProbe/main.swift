// attune-capture-probe URI FRAMES OUT.f32 — captures FRAMES frames (or until the source ends) from a source URI
// with the real capture thread, writes them as native Float32 to OUT.f32 and prints one summary line:
//   frames=N end=stopped xruns=0 suspends=0 lost=0 allocations=0 rate=8000 channels=1 block=160
// `allocations` counts mallocs on the capture thread between its 3rd and 40th block (-1 if it never got there).
// A paced `file:` replay adds its pacing: late_first_ms, late_last_ms, late_min_ms, late_max_ms — how long after
// its due time (from the start, at rate × speed) a block reached the sink — so a long replay shows any drift.
// stop_ms is how long source.stop() took. PROBE_STALL_AT_BLOCK=N PROBE_STALL_MS=M make the sink sleep M ms in
// block N, as a stuck consumer would, so a device overruns.
//
// A process of its own because libasound reads ALSA_CONFIG_PATH when it first loads its configuration: the ALSA
// tests run this with a config defining a `type file` PCM, without touching the test process's environment.
// An open failure prints the error and exits with its sysexits code (69 for a device that cannot be opened).
import AttuneAudio
import CAllocCounter
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One line on stderr (write(2): Glibc's `stderr` global is not concurrency-safe to touch from Swift 6).
func say(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

let args = CommandLine.arguments
guard args.count == 4, let wanted = Int(args[2]), wanted > 0 else {
    say("usage: attune-capture-probe URI FRAMES OUT.f32")
    exit(64)
}

/// Copies frames into preallocated storage and tells the main thread, through a pipe, when it has enough.
final class ProbeSink: CaptureSink, @unchecked Sendable {
    // @unchecked Sendable: every var is written only on the capture thread; main reads them after stop() has
    // joined that thread.
    let storage: UnsafeMutableBufferPointer<Float>
    let channels: Int
    let wanted: Int
    let notify: Int32
    var frames = 0
    var blocks = 0
    var allocations: Int64 = -1
    /// Blocks whose streamFrame is not where the previous block ended, and the frames those jumps skipped.
    var discontinuities = 0
    var skipped: Int64 = 0
    var nextStreamFrame: Int64 = 0
    var end: CaptureEnd?
    static let countFrom = 3, countTo = 40
    /// Pacing: each block's arrival on CLOCK_MONOTONIC minus the time its last frame was due, counted from
    /// `startTime` at `framesPerSecond` (rate × speed); 0 when the source is not paced.
    var startTime: Int64 = 0
    var framesPerSecond = 0.0
    var firstLateNs: Int64 = 0, lastLateNs: Int64 = 0, maxLateNs: Int64 = 0, minLateNs = Int64.max
    /// PROBE_STALL_AT_BLOCK / PROBE_STALL_MS: the sink sleeps once, as a stuck consumer would, to make a device
    /// overrun.
    var stallAtBlock = -1
    var stallMicroseconds: UInt32 = 0

    init(wanted: Int, channels: Int, notify: Int32) {
        self.wanted = wanted
        self.channels = channels
        self.notify = notify
        storage = .allocate(capacity: wanted * channels)
        storage.initialize(repeating: 0)
    }

    func capture(_ interleaved: UnsafeBufferPointer<Float>, frames n: Int, at streamFrame: Int64) {
        if blocks == Self.countFrom { attune_alloc_counter_start() }
        if blocks == Self.countTo { allocations = Int64(attune_alloc_counter_stop()) }
        if framesPerSecond > 0 {
            var ts = timespec()
            clock_gettime(CLOCK_MONOTONIC, &ts)
            let now = Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
            let late = now - startTime - Int64(Double(streamFrame + Int64(n)) * 1e9 / framesPerSecond)
            if blocks == 0 { firstLateNs = late }
            lastLateNs = late
            maxLateNs = max(maxLateNs, late)
            minLateNs = min(minLateNs, late)
        }
        if blocks == stallAtBlock { usleep(stallMicroseconds) }
        blocks += 1
        if streamFrame != nextStreamFrame {
            discontinuities += 1
            skipped += streamFrame - nextStreamFrame
        }
        nextStreamFrame = streamFrame + Int64(n)
        guard frames < wanted else { return }
        let take = min(n, wanted - frames)
        for i in 0..<(take * channels) { storage[frames * channels + i] = interleaved[i] }
        frames += take
        if frames == wanted { signal() }
    }

    func captureEnded(_ reason: CaptureEnd) {
        end = reason
        signal()
    }

    private func signal() {
        var b: UInt8 = 1
        _ = write(notify, &b, 1)
    }
}

let source: any CaptureSource
do {
    source = try CaptureSources.open(args[1])
} catch {
    say("attune-capture-probe: \(error)")
    exit(error.exitCode)
}
var fds: [Int32] = [-1, -1]
guard pipe(&fds) == 0 else { say("pipe failed"); exit(71) }
let sink = ProbeSink(wanted: wanted, channels: source.channelCount, notify: fds[1])
if let at = getenv("PROBE_STALL_AT_BLOCK").flatMap({ Int(String(cString: $0)) }),
   let ms = getenv("PROBE_STALL_MS").flatMap({ UInt32(String(cString: $0)) }) {
    sink.stallAtBlock = at
    sink.stallMicroseconds = ms * 1000
}
if let uri = try? SourceURI(parsing: args[1]), case .file(_, .paced(let factor)) = uri.kind {
    sink.framesPerSecond = Double(source.sampleRate) * factor
}
var startSpec = timespec()
clock_gettime(CLOCK_MONOTONIC, &startSpec)
sink.startTime = Int64(startSpec.tv_sec) * 1_000_000_000 + Int64(startSpec.tv_nsec)
do {
    try source.start(sink)
} catch {
    say("attune-capture-probe: \(error)")
    exit(error.exitCode)
}
var p = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
// Long enough for a paced replay of up to an hour (FRAMES says how much to wait for).
let ready = poll(&p, 1, 30_000 + Int32(min(3_600_000, wanted / max(1, source.sampleRate) * 1000)))
var before = timespec(), after = timespec()
clock_gettime(CLOCK_MONOTONIC, &before)
source.stop()
clock_gettime(CLOCK_MONOTONIC, &after)
let stopMs = Double((after.tv_sec - before.tv_sec) * 1_000_000_000 + (after.tv_nsec - before.tv_nsec)) / 1e6
if ready <= 0 {
    say("attune-capture-probe: no \(wanted) frames within 30 s (got \(sink.frames))")
    exit(75)
}
guard let out = fopen(args[3], "wb") else { say("cannot write \(args[3])"); exit(73) }
fwrite(sink.storage.baseAddress, MemoryLayout<Float>.size, sink.frames * source.channelCount, out)
fclose(out)
let c = source.counters
print("frames=\(sink.frames) end=\(sink.end?.recordReason ?? "none") xruns=\(c.xrunsRecovered) "
      + "suspends=\(c.suspendsRecovered) lost=\(c.framesLost) allocations=\(sink.allocations) "
      + "discontinuities=\(sink.discontinuities) skipped=\(sink.skipped) rate=\(source.sampleRate) channels=\(source.channelCount) "
      + "block=\(source.blockFrames) blocks=\(sink.blocks) stop_ms=\(stopMs)"
      + (sink.framesPerSecond > 0
         ? " late_first_ms=\(Double(sink.firstLateNs) / 1e6) late_last_ms=\(Double(sink.lastLateNs) / 1e6)"
           + " late_min_ms=\(Double(sink.minLateNs) / 1e6) late_max_ms=\(Double(sink.maxLateNs) / 1e6)"
         : ""))
if case .error(let e)? = sink.end { say("attune-capture-probe: \(e)") }
if case .deviceLost(let m)? = sink.end { say("attune-capture-probe: device lost: \(m)") }
