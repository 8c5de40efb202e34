// attune-capture-probe URI FRAMES OUT.f32 — captures FRAMES frames (or until the source ends) from a source URI
// with the real capture thread, writes them as native Float32 to OUT.f32 and prints one summary line:
//   frames=N end=stopped xruns=0 suspends=0 lost=0 allocations=0 rate=8000 channels=1 block=160
// `allocations` counts mallocs on the capture thread between its 3rd and 40th block (-1 if it never got there).
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
    var discontinuities = 0
    var end: CaptureEnd?
    static let countFrom = 3, countTo = 40

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
        blocks += 1
        if streamFrame != Int64(frames) && frames < wanted { discontinuities += 1 }
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
do {
    try source.start(sink)
} catch {
    say("attune-capture-probe: \(error)")
    exit(error.exitCode)
}
var p = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
let ready = poll(&p, 1, 30_000)
source.stop()
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
      + "discontinuities=\(sink.discontinuities) rate=\(source.sampleRate) channels=\(source.channelCount) "
      + "block=\(source.blockFrames)")
if case .error(let e)? = sink.end { say("attune-capture-probe: \(e)") }
if case .deviceLost(let m)? = sink.end { say("attune-capture-probe: device lost: \(m)") }
