/// PLACEHOLDER — converts one channel between rates (libsamplerate). Passes samples through unchanged.
public final class Resampler {
    public let inputRate: Int
    public let outputRate: Int

    public init(from inputRate: Int, to outputRate: Int) throws(AudioError) {
        self.inputRate = inputRate
        self.outputRate = outputRate
    }

    /// Converts `input` and calls `body` with the samples produced (valid only during the call).
    /// With `end` set, flushes the filter's tail.
    public func process(_ input: UnsafeBufferPointer<Float>, end: Bool, _ body: (UnsafeBufferPointer<Float>) -> Void) {
        body(input)
    }
}
