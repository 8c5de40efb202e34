import Foundation

/// A value behind a pthread mutex (Foundation's `NSLock`), for state several threads share — and only off the
/// per-block path: the process's FFT plans and pitch tables, a worker pool's doorbell slots, the live engine's
/// call table and hand-offs.
///
/// Not `Synchronization.Mutex`: on Linux that is a bare futex, which ThreadSanitizer cannot see, so every
/// hand-off through it showed as a race in `Tools/tsan_ring.sh` even though it was ordered (the FFT planner's
/// cache did, when two tests set up sessions at once).
package final class LockedValue<Value> {
    private let lock = NSLock()
    private var value: Value

    package init(_ value: Value) { self.value = value }

    package func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

// @unchecked: `value` is touched only inside `withLock`, under `lock`; the values themselves cross threads.
extension LockedValue: @unchecked Sendable where Value: Sendable {}
