import Foundation

/// A value behind a pthread mutex (Foundation's `NSLock`), for state the control side, the record thread
/// and the workers share — and only off the per-block path.
///
/// Not `Synchronization.Mutex`: on Linux that is a bare futex, which ThreadSanitizer cannot see, so every
/// hand-off through it showed as a race in `Tools/tsan_ring.sh` even though it was ordered.
final class LockedValue<Value> {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

// @unchecked: `value` is touched only inside `withLock`, under `lock`; the values themselves cross threads.
extension LockedValue: @unchecked Sendable where Value: Sendable {}
