import Synchronization

/// A bounded lock-free single-producer, single-consumer queue of values: how a call's DSP worker hands its
/// features to the thread that turns them into records.
///
/// Same publishing rules as `SPSCRingBuffer` (monotonic positions, own side relaxed, other side acquire,
/// publish with release). Slots are initialised on push and moved out on pop, so any value type works;
/// nothing allocates after `init`.
///
/// Thread rules: ``push(_:)`` and ``freeCount`` on the one producer thread; ``pop()`` and ``count`` on the one
/// consumer thread.
public final class SPSCQueue<Element> {
    public let capacity: Int
    private let mask: Int
    private let slots: UnsafeMutablePointer<Element>
    private let head = Atomic<Int>(0)
    private let padding: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    private let tail = Atomic<Int>(0)

    /// Creates a queue holding at least `minimumCapacity` values (rounded up to a power of two).
    public init(minimumCapacity: Int) {
        capacity = powerOfTwo(atLeast: minimumCapacity, for: "SPSCQueue")
        mask = capacity - 1
        slots = .allocate(capacity: capacity)
    }

    deinit {
        while pop() != nil {}
        slots.deallocate()
    }

    /// Appends `value`; returns false (and drops it) when the queue is full. **Producer only.**
    @discardableResult
    public func push(_ value: Element) -> Bool {
        let t = tail.load(ordering: .relaxed)
        guard t &- head.load(ordering: .acquiring) < capacity else { return false }
        (slots + (t & mask)).initialize(to: value)
        tail.store(t &+ 1, ordering: .releasing)
        return true
    }

    /// Slots free for the producer; a lower bound. **Producer only.**
    public var freeCount: Int { capacity - (tail.load(ordering: .relaxed) &- head.load(ordering: .acquiring)) }

    /// Removes the oldest value, or nil when empty. **Consumer only.**
    public func pop() -> Element? {
        let h = head.load(ordering: .relaxed)
        guard tail.load(ordering: .acquiring) != h else { return nil }
        let value = (slots + (h & mask)).move()
        head.store(h &+ 1, ordering: .releasing)
        return value
    }

    /// Values waiting; a lower bound. **Consumer only.**
    public var count: Int { tail.load(ordering: .acquiring) &- head.load(ordering: .relaxed) }
}

// @unchecked: a slot is written only by the producer before it publishes the slot with a release store, and
// read only by the consumer after an acquire load shows it; elements cross threads by value, so the queue is
// Sendable exactly when they are.
extension SPSCQueue: @unchecked Sendable where Element: Sendable {}
