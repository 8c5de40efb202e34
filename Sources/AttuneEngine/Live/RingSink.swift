import AttuneAudio
import AttuneDSP
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The capture side of a live call: de-interleaves each captured block into the call's rings, turns frames
/// the source reports lost (a jump in `streamFrame`) into a gap at the right place, and closes the rings when
/// the capture ends. Runs on the capture thread under the real-time rules, except ``captureEnded(_:)``.
///
/// A live source (a device, a paced replay) never waits: a block the rings cannot take is dropped as a gap.
/// A source that can wait (a file at `speed=max`, a pipe) is `lossless`: the capture thread waits for the
/// worker instead, so such a call is analysed exactly like `attune analyze` would.
final class RingSink: CaptureSink {
    let rings: CallRings
    let lossless: Bool
    /// The next stream frame expected; only the capture thread touches it.
    private let nextFrame = Atomic<Int64>(0)
    private let end = LockedValue<CaptureEnd?>(nil)

    init(rings: CallRings, lossless: Bool) {
        self.rings = rings
        self.lossless = lossless
    }

    func capture(_ interleaved: UnsafeBufferPointer<Float>, frames: Int, at streamFrame: Int64) {
        let expected = nextFrame.load(ordering: .relaxed)
        if streamFrame > expected { rings.skip(frames: Int(streamFrame - expected)) }
        if lossless {
            var pause = timespec(tv_sec: 0, tv_nsec: 200_000)
            while !rings.canWrite(frames: frames) { nanosleep(&pause, nil) }
        }
        rings.write(interleaved: interleaved.baseAddress!, frames: frames)
        nextFrame.store(streamFrame + Int64(frames), ordering: .relaxed)
    }

    func captureEnded(_ reason: CaptureEnd) {
        end.withLock { $0 = reason }
        // Before the finish, which waits while the gap log is full: the worker stops standing silence in for gaps
        // and so reads past them at once.
        if reason == .stopped { rings.markStopped() }
        // The gap log has room again as soon as the worker reads past a gap; the end is rare, so wait politely.
        while !rings.finish() { usleep(1000) }
    }

    /// Why the capture ended, once it has.
    var endReason: CaptureEnd? { end.withLock { $0 } }
}
