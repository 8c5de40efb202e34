import AttuneDSP
import Synchronization

/// Which of a consumer's producers have written since the consumer last looked: one bit per producer slot,
/// set by the producers with a lock-free `fetch-or`, taken by the consumer a word (64 slots) at a time.
///
/// A DSP worker serving hundreds of calls would otherwise poll every call's rings on every pass, and each poll
/// touches several cold cache lines per call (the rings, their positions, the session) for calls that mostly
/// have nothing new: with 100 ms blocks a call has audio on about one pass in fifty. With the set, a pass reads
/// a few words and visits only the calls that rang.
///
/// Ordering: a producer rings *after* publishing its samples (release); the consumer takes a word with
/// acquire *before* reading, so a ring it takes is never ahead of the samples. A ring that lands after the
/// take is seen on the next pass. Spurious rings (a slot reused by a new call while the old producer's last
/// ring is in flight) only cost a visit that finds nothing.
public final class ReadySet: Sendable {
    /// Slots the set holds (a multiple of 64).
    public let capacity: Int
    /// One heap object per word, so producers ringing different words do not contend for one cache line.
    private let words: [Word]
    /// Free slots; taken when a producer joins, returned when it leaves (never per block).
    private let free: LockedValue<[Int]>

    private final class Word: Sendable {
        let bits = Atomic<UInt64>(0)
    }

    /// Creates a set of at least `capacity` slots.
    public init(capacity: Int) {
        let wordCount = max(1, (capacity + 63) / 64)
        self.capacity = wordCount * 64
        words = (0..<wordCount).map { _ in Word() }
        free = LockedValue(Array((0..<wordCount * 64).reversed()))
    }

    /// A slot for a new producer, or nil when every slot is taken (the consumer must then poll that producer).
    public func claim() -> Doorbell? {
        guard let slot = free.withLock({ $0.popLast() }) else { return nil }
        return Doorbell(set: self, slot: slot)
    }

    /// Gives `slot` back once its producer is gone.
    public func release(_ doorbell: Doorbell) {
        precondition(doorbell.set === self, "ReadySet: a doorbell released to a set it does not belong to")
        free.withLock { $0.append(doorbell.slot) }
    }

    fileprivate func ring(_ slot: Int) {
        words[slot >> 6].bits.bitwiseOr(1 << UInt64(slot & 63), ordering: .releasing)
    }

    /// Takes every rung slot, clearing them, and calls `body` with each. **Consumer only.**
    public func take(_ body: (Int) -> Void) {
        for w in 0..<words.count {
            var bits = words[w].bits.exchange(0, ordering: .acquiring)
            while bits != 0 {
                let b = bits.trailingZeroBitCount
                bits &= bits - 1
                body(w << 6 | b)
            }
        }
    }
}

/// One producer's bell in a ``ReadySet``: ringing it marks the producer as having something new.
/// Lock-free and allocation-free, so a capture thread may ring it under the real-time rules.
public final class Doorbell: Sendable {
    fileprivate let set: ReadySet
    /// The producer's slot in the set.
    public let slot: Int

    fileprivate init(set: ReadySet, slot: Int) {
        self.set = set
        self.slot = slot
    }

    /// Marks the producer as having something new for the consumer.
    public func ring() { set.ring(slot) }
}
