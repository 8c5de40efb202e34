import Synchronization

/// The rings of one call: one ``SPSCRingBuffer`` per channel, written together by the capture thread and read
/// together by the call's DSP worker, so that every channel keeps the same timeline.
///
/// A block the rings cannot all take is dropped from all of them (never from one channel only), so a gap
/// sits at the same place in every channel; the consumer reads as many samples as every channel has and
/// takes a gap only when every channel shows it.
///
/// Thread rules as for the ring: ``write(interleaved:frames:)`` and ``finish()`` on the one producer
/// thread; ``read(into:maxFrames:)`` on the one consumer thread; counters anywhere.
public final class CallRings: Sendable {
    /// One ring per channel.
    public let rings: [SPSCRingBuffer]
    private let ended = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    /// Rung after every write, skip and finish, so a consumer serving many calls visits only those with news.
    private let bell = AtomicLazyReference<Doorbell>()

    /// What a read found.
    public enum Read: Equatable, Sendable {
        /// This many frames were copied into every channel's buffer.
        case samples(Int)
        /// This many frames were lost here (the capture side found the rings full); nothing was copied.
        case gap(Int)
        /// Nothing to read yet.
        case empty
        /// The producer has finished and everything has been read.
        case ended
    }

    /// Creates `channels` rings holding at least `minimumFrames` samples each.
    public init(channels: Int, minimumFrames: Int) {
        precondition(channels > 0, "CallRings needs at least one channel")
        rings = (0..<channels).map { _ in SPSCRingBuffer(minimumCapacity: minimumFrames) }
    }

    public var channelCount: Int { rings.count }

    /// Makes the producer ring `doorbell` whenever there is something new to read (samples, a gap, the end).
    /// Set once, before the producer starts; a consumer without a bell polls instead.
    public func connect(_ doorbell: Doorbell) {
        let stored = bell.storeIfNil(doorbell)
        precondition(stored === doorbell, "CallRings: connected to a second doorbell")
        // Anything written before the bell was connected still gets looked at.
        doorbell.ring()
    }

    /// Writes `frames` interleaved frames (`channelCount` samples each) to every ring, or drops them from
    /// every ring as one gap when any of them is short of room; returns whether they were written.
    /// **Producer only.**
    @discardableResult
    public func write(interleaved: UnsafePointer<Float>, frames: Int) -> Bool {
        guard frames > 0 else { return true }
        guard canWrite(frames: frames) else {
            skip(frames: frames)
            return false
        }
        for c in 0..<rings.count {
            rings[c].write(interleaved: interleaved, channel: c, channels: rings.count, frames: frames)
        }
        bell.load()?.ring()
        return true
    }

    /// Whether every ring would take a block of `frames` frames now. **Producer only.**
    public func canWrite(frames: Int) -> Bool {
        for c in 0..<rings.count where !rings[c].canWrite(frames) { return false }
        return true
    }

    /// Records `frames` frames as lost at the current end of the stream, in every channel (e.g. a device
    /// overrun the capture side measured). **Producer only.**
    public func skip(frames: Int) {
        for c in 0..<rings.count { rings[c].skip(frames) }
        bell.load()?.ring()
    }

    /// Says the stream is ending because its capture was stopped, before ``finish()`` (which may have to wait for
    /// the consumer to read past a gap): a consumer that knows analyses what it has up to the next gap and drops
    /// the rest rather than stand silence in for it (see `CallSession.pull`). **Producer only.**
    public func markStopped() {
        stopped.store(true, ordering: .releasing)
        bell.load()?.ring()
    }

    /// Whether ``markStopped()`` was called. Any thread.
    public var isStopped: Bool { stopped.load(ordering: .acquiring) }

    /// Ends the stream: publishes a trailing gap and lets the consumer see the end once it has read
    /// everything. Returns false (call again later) while a ring's gap log is full. **Producer only.**
    @discardableResult
    public func finish() -> Bool {
        for ring in rings where !ring.publishPendingGap() { return false }
        ended.store(true, ordering: .releasing)
        bell.load()?.ring()
        return true
    }

    /// Copies up to `maxFrames` frames into each channel's buffer (`buffers[c]` must hold `maxFrames`), or
    /// moves past a gap, or reports that there is nothing (yet, or any more). **Consumer only.**
    public func read(into buffers: UnsafeMutableBufferPointer<UnsafeMutableBufferPointer<Float>>, maxFrames: Int) -> Read {
        // The end flag first: it is published after the last samples and gaps, so once it is seen an empty
        // ring really is the end.
        let producerDone = ended.load(ordering: .acquiring)
        var n = maxFrames
        for c in 0..<rings.count { n = min(n, rings[c].readableCount) }
        if n > 0 {
            for c in 0..<rings.count {
                let got = rings[c].read(into: UnsafeMutableBufferPointer(rebasing: buffers[c][0..<n]))
                precondition(got == n, "CallRings: channel \(c) lost samples it had announced")
            }
            return .samples(n)
        }
        let gap = rings[0].gapAtReadPosition
        var everyChannel = gap > 0
        for c in 1..<rings.count where rings[c].gapAtReadPosition != gap { everyChannel = false }
        if everyChannel {
            for c in 0..<rings.count { _ = rings[c].takeGap() }
            return .gap(gap)
        }
        if producerDone {
            var drained = true
            for c in 0..<rings.count where rings[c].readableCount != 0 || rings[c].gapAtReadPosition != 0 { drained = false }
            if drained { return .ended }
        }
        return .empty
    }

    /// Frames dropped because the rings were full, since creation. Any thread.
    public var droppedFrames: Int { rings[0].overflowCount }
}
