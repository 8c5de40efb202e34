import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A lock-free single-producer, single-consumer ring of Float samples that keeps its timeline: the hand-off
/// between a capture thread and a DSP worker (one ring per channel).
///
/// Both sides keep a monotonic position (samples ever written, samples ever read) in a
/// `Synchronization.Atomic<Int>`; the slot of position *p* is `p & mask`, capacity being a power of two.
/// Each side loads its own position relaxed (only it writes it), the other side's with acquire (to see the
/// samples or the free space the other side published), and publishes its own with release after copying.
/// Nothing here allocates, locks or makes a syscall after `init`, so both sides may run on real-time threads.
///
/// **Overflow keeps its place in time.** A block that does not fit is dropped whole — never the consumer's
/// unread samples, which the producer may not touch — and remembered as a *gap*: the number of samples lost
/// at that point of the stream. The gap is published (in a small log beside the samples) before the next
/// samples that do fit, so the consumer reads the samples before it, then learns the gap with ``takeGap()``,
/// then reads on: every sample keeps its time, `readPosition + gaps taken`, and anything timed against the
/// stream (frames, ASR words) stays aligned with the wall clock. Every dropped sample is also counted in
/// ``overflowCount``.
///
/// Thread rules: ``write(_:)``, ``write(interleaved:channel:channels:frames:)``, ``skip(_:)``,
/// ``publishPendingGap()`` and ``writableCount`` only on the one producer thread; ``read(into:)``,
/// ``readableCount``, ``takeGap()`` and ``discardAll()`` only on the one consumer thread; ``overflowCount``
/// and ``capacity`` from anywhere.
public final class SPSCRingBuffer: @unchecked Sendable {
    // @unchecked: the storage and the gap log are raw memory whose every access is ordered by the atomic
    // positions below (release after writing, acquire before reading); `pendingGap` is producer-only state.

    /// Samples the ring holds when full (a power of two).
    public let capacity: Int
    private let mask: Int
    private let storage: UnsafeMutablePointer<Float>

    /// Samples ever written; stored by the producer only.
    private let writePosition = Atomic<Int>(0)
    // Keeps the two positions on separate 64-byte cache lines, so each side's stores do not evict the line
    // the other side is spinning on (false sharing).
    private let padding: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    /// Samples ever read; stored by the consumer only.
    private let readPosition = Atomic<Int>(0)
    private let padding2: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    /// Samples the producer had to drop because the ring was full.
    private let dropped = Atomic<Int>(0)

    /// Gaps as (write position they sit at, samples lost), a ring of its own with the same publishing rules.
    private let gapLog: UnsafeMutablePointer<(position: Int, count: Int)>
    private static let gapLogCapacity = 64
    private let gapsWritten = Atomic<Int>(0)
    private let gapsRead = Atomic<Int>(0)
    /// Samples dropped since the last published gap (producer only). Published before the next write, so
    /// consecutive dropped blocks make one gap.
    private var pendingGap = 0

    /// Creates a ring holding at least `minimumCapacity` samples (rounded up to a power of two).
    public init(minimumCapacity: Int) {
        capacity = powerOfTwo(atLeast: minimumCapacity, for: "SPSCRingBuffer")
        mask = capacity - 1
        storage = .allocate(capacity: capacity)
        storage.initialize(repeating: 0, count: capacity)
        gapLog = .allocate(capacity: Self.gapLogCapacity)
        gapLog.initialize(repeating: (0, 0), count: Self.gapLogCapacity)
    }

    deinit {
        storage.deallocate()
        gapLog.deallocate()
    }

    /// Writes all of `samples` and publishes them, or — when they do not fit — none of them, recording the
    /// block as a gap and counting it in ``overflowCount``. Returns whether the block was written.
    /// **Producer only.**
    @discardableResult
    public func write(_ samples: UnsafeBufferPointer<Float>) -> Bool {
        guard let src = samples.baseAddress, samples.count > 0 else { return true }
        guard reserve(samples.count) else { return false }
        let w = writePosition.load(ordering: .relaxed)
        let start = w & mask
        let first = min(samples.count, capacity - start)
        copySamples(to: storage + start, from: src, first, stride: 1)
        if first < samples.count { copySamples(to: storage, from: src + first, samples.count - first, stride: 1) }
        writePosition.store(w &+ samples.count, ordering: .releasing)
        return true
    }

    /// Writes channel `channel` of `frames` interleaved frames (`channels` samples each), all or nothing like
    /// ``write(_:)``: the capture side's de-interleaving and hand-off in one pass. **Producer only.**
    @discardableResult
    public func write(interleaved: UnsafePointer<Float>, channel: Int, channels: Int, frames: Int) -> Bool {
        guard frames > 0 else { return true }
        guard reserve(frames) else { return false }
        let w = writePosition.load(ordering: .relaxed)
        let start = w & mask
        let first = min(frames, capacity - start)
        copySamples(to: storage + start, from: interleaved + channel, first, stride: channels)
        if first < frames {
            copySamples(to: storage, from: interleaved + channel + first * channels, frames - first, stride: channels)
        }
        writePosition.store(w &+ frames, ordering: .releasing)
        return true
    }

    /// Records `count` samples as lost at the current end of the stream without offering them — for a
    /// producer feeding several rings that must drop the same block from all of them. **Producer only.**
    public func skip(_ count: Int) {
        guard count > 0 else { return }
        pendingGap += count
        dropped.add(count, ordering: .relaxed)
    }

    /// Publishes a gap still held back (at the end of a stream, where no write follows to carry it); returns
    /// false while the gap log is full. **Producer only.**
    @discardableResult
    public func publishPendingGap() -> Bool {
        guard pendingGap > 0 else { return true }
        let g = gapsWritten.load(ordering: .relaxed)
        guard g &- gapsRead.load(ordering: .acquiring) < Self.gapLogCapacity else { return false }
        gapLog[g % Self.gapLogCapacity] = (writePosition.load(ordering: .relaxed), pendingGap)
        gapsWritten.store(g &+ 1, ordering: .releasing)
        pendingGap = 0
        return true
    }

    /// Whether a block of `count` samples would be written now: room in the ring, and in the gap log for a
    /// gap still held back. **Producer only.**
    public func canWrite(_ count: Int) -> Bool {
        guard count <= writableCount else { return false }
        guard pendingGap > 0 else { return true }
        return gapsWritten.load(ordering: .relaxed) &- gapsRead.load(ordering: .acquiring) < Self.gapLogCapacity
    }

    /// Makes room for `count` samples after publishing any pending gap; on failure the samples join the gap.
    @inline(__always)
    private func reserve(_ count: Int) -> Bool {
        if canWrite(count) {
            publishPendingGap()
            return true
        }
        skip(count)
        return false
    }

    /// Space the producer can fill; a lower bound, since the consumer may free more at any moment.
    /// **Producer only.**
    public var writableCount: Int {
        capacity - (writePosition.load(ordering: .relaxed) &- readPosition.load(ordering: .acquiring))
    }

    /// Moves up to `buffer.count` of the oldest samples into `buffer`, stopping at the next gap; returns how
    /// many. **Consumer only.**
    @discardableResult
    public func read(into buffer: UnsafeMutableBufferPointer<Float>) -> Int {
        let r = readPosition.load(ordering: .relaxed)
        let n = min(readableCount, buffer.count)
        guard n > 0, let dst = buffer.baseAddress else { return 0 }
        let start = r & mask
        let first = min(n, capacity - start)
        copySamples(to: dst, from: storage + start, first, stride: 1)
        if first < n { copySamples(to: dst + first, from: storage, n - first, stride: 1) }
        readPosition.store(r &+ n, ordering: .releasing)
        return n
    }

    /// Samples waiting to be read before the next gap; a lower bound, since the producer may add more at any
    /// moment. **Consumer only.**
    public var readableCount: Int {
        // The write position first: a gap is published before the samples that follow it, so once those
        // samples are visible the gap's entry is too, and reading stops in front of it.
        let w = writePosition.load(ordering: .acquiring)
        let r = readPosition.load(ordering: .relaxed)
        let g = gapsRead.load(ordering: .relaxed)
        if gapsWritten.load(ordering: .acquiring) != g {
            return min(w, gapLog[g % Self.gapLogCapacity].position) &- r
        }
        return w &- r
    }

    /// The samples lost at the read position, if a gap sits there (and moves past it); 0 otherwise. Call when
    /// ``read(into:)`` stops short. **Consumer only.**
    public func takeGap() -> Int {
        let gap = gapAtReadPosition
        if gap > 0 { gapsRead.store(gapsRead.load(ordering: .relaxed) &+ 1, ordering: .releasing) }
        return gap
    }

    /// The size of the gap at the read position without moving past it; 0 when there is none. **Consumer only.**
    public var gapAtReadPosition: Int {
        let g = gapsRead.load(ordering: .relaxed)
        guard gapsWritten.load(ordering: .acquiring) != g else { return 0 }
        let gap = gapLog[g % Self.gapLogCapacity]
        return gap.position == readPosition.load(ordering: .relaxed) ? gap.count : 0
    }

    /// Drops everything written so far (e.g. when a worker falls too far behind to catch up) and the gaps
    /// among it; returns the stretch of the timeline that went, samples plus gaps, so the consumer can keep
    /// its clock. **Consumer only.**
    @discardableResult
    public func discardAll() -> Int {
        let w = writePosition.load(ordering: .acquiring)
        let r = readPosition.load(ordering: .relaxed)
        var lost = w &- r
        var g = gapsRead.load(ordering: .relaxed)
        let end = gapsWritten.load(ordering: .acquiring)
        while g != end, gapLog[g % Self.gapLogCapacity].position <= w {
            lost += gapLog[g % Self.gapLogCapacity].count
            g &+= 1
        }
        gapsRead.store(g, ordering: .releasing)
        readPosition.store(w, ordering: .releasing)
        return lost
    }

    /// Samples dropped since creation because the ring was full. Any thread.
    public var overflowCount: Int { dropped.load(ordering: .relaxed) }
}

/// An element loop rather than memcpy or the standard library's pointer copy: the optimiser turns it into the
/// same vector code, and unlike those two it is instrumented by ThreadSanitizer, so `Tools/tsan_ring.sh` sees
/// every sample access (checked: with relaxed publishing the stress test then reports a data race).
@inline(__always)
private func copySamples(to dst: UnsafeMutablePointer<Float>, from src: UnsafePointer<Float>, _ count: Int, stride: Int) {
    if stride == 1 {
        for i in 0..<count { dst[i] = src[i] }
    } else {
        for i in 0..<count { dst[i] = src[i * stride] }
    }
}

/// The smallest power of two ≥ `minimum`: ring positions map to slots with a mask instead of a division.
func powerOfTwo(atLeast minimum: Int, for owner: StaticString) -> Int {
    precondition(minimum > 0, "\(owner) needs a positive capacity")
    var c = 1
    while c < minimum { c <<= 1 }
    return c
}
