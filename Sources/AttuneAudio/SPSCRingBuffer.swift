import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A lock-free single-producer, single-consumer ring of Float samples: the hand-off between a capture thread
/// and a DSP worker (one ring per channel).
///
/// Both sides keep a monotonic position (samples ever written, samples ever read) in a
/// `Synchronization.Atomic<Int>`; the slot of position *p* is `p & mask`, capacity being a power of two.
/// Each side loads its own position relaxed (only it writes it), the other side's with acquire (to see the
/// samples or the free space the other side published), and publishes its own with release after copying.
/// Nothing here allocates, locks or makes a syscall after `init`, so both sides may run on real-time threads.
///
/// When the producer offers more than fits, it writes what fits and drops the rest — never the consumer's
/// unread samples, which it may not touch. Every dropped sample is counted in ``overflowCount``: an overflow
/// is never silent.
///
/// Thread rules: ``write(_:)`` and ``writableCount`` only on the one producer thread; ``read(into:)``,
/// ``readableCount`` and ``discardAll()`` only on the one consumer thread; ``overflowCount`` and
/// ``capacity`` from anywhere.
public final class SPSCRingBuffer: @unchecked Sendable {
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

    /// Creates a ring holding at least `minimumCapacity` samples (rounded up to a power of two).
    public init(minimumCapacity: Int) {
        precondition(minimumCapacity > 0, "SPSCRingBuffer needs a positive capacity")
        var c = 1
        while c < minimumCapacity { c <<= 1 }
        capacity = c
        mask = c - 1
        storage = .allocate(capacity: c)
        storage.initialize(repeating: 0, count: c)
    }

    deinit { storage.deallocate() }

    /// Copies as many of `samples` as fit and publishes them; counts the rest in ``overflowCount``.
    /// Returns the number written. **Producer only.**
    @discardableResult
    public func write(_ samples: UnsafeBufferPointer<Float>) -> Int {
        let w = writePosition.load(ordering: .relaxed)
        let r = readPosition.load(ordering: .acquiring)
        let free = capacity - (w &- r)
        let n = min(free, samples.count)
        if n < samples.count { dropped.add(samples.count - n, ordering: .relaxed) }
        guard n > 0, let src = samples.baseAddress else { return 0 }
        let start = w & mask
        let first = min(n, capacity - start)
        copySamples(to: storage + start, from: src, first)
        if first < n { copySamples(to: storage, from: src + first, n - first) }
        writePosition.store(w &+ n, ordering: .releasing)
        return n
    }

    /// Space the producer can fill without dropping; a lower bound, since the consumer may free more at any
    /// moment. **Producer only.**
    public var writableCount: Int {
        capacity - (writePosition.load(ordering: .relaxed) &- readPosition.load(ordering: .acquiring))
    }

    /// Moves up to `buffer.count` of the oldest samples into `buffer`; returns how many. **Consumer only.**
    @discardableResult
    public func read(into buffer: UnsafeMutableBufferPointer<Float>) -> Int {
        let r = readPosition.load(ordering: .relaxed)
        let w = writePosition.load(ordering: .acquiring)
        let n = min(w &- r, buffer.count)
        guard n > 0, let dst = buffer.baseAddress else { return 0 }
        let start = r & mask
        let first = min(n, capacity - start)
        copySamples(to: dst, from: storage + start, first)
        if first < n { copySamples(to: dst + first, from: storage, n - first) }
        readPosition.store(r &+ n, ordering: .releasing)
        return n
    }

    /// Samples waiting to be read; a lower bound, since the producer may add more at any moment.
    /// **Consumer only.**
    public var readableCount: Int {
        writePosition.load(ordering: .acquiring) &- readPosition.load(ordering: .relaxed)
    }

    /// Drops everything written so far (e.g. when a worker falls too far behind to catch up). **Consumer only.**
    public func discardAll() {
        readPosition.store(writePosition.load(ordering: .acquiring), ordering: .releasing)
    }

    /// Samples dropped since creation because the ring was full. Any thread.
    public var overflowCount: Int { dropped.load(ordering: .relaxed) }
}

/// An element loop rather than memcpy or the standard library's pointer copy: the optimiser turns it into the
/// same vector code, and unlike those two it is instrumented by ThreadSanitizer, so `Tools/tsan_ring.sh` sees
/// every sample access (checked: with relaxed publishing the stress test then reports a data race).
@inline(__always)
private func copySamples(to dst: UnsafeMutablePointer<Float>, from src: UnsafePointer<Float>, _ count: Int) {
    for i in 0..<count { dst[i] = src[i] }
}
