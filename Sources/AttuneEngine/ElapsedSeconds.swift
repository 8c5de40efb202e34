/// Wall-clock seconds `body` takes, on the monotonic clock; what `attune bench` and ``StageProfile`` time with.
public func elapsedSeconds<E: Error>(_ body: () throws(E) -> Void) throws(E) -> Double {
    let start = ContinuousClock.now
    try body()
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
}
