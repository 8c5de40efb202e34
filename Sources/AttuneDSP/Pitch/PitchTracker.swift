/// PLACEHOLDER — replaced by the real tracker. Reports every frame unvoiced.
public final class PitchTracker {
    public let settings: AnalysisSettings
    /// Samples of the window ``analyze(index:window:decided:)`` wants, centred on the frame.
    public let windowLength: Int
    /// Frames between analysing a frame and deciding it (the path search's look-ahead).
    public let latency: Int = 0

    public init(settings: AnalysisSettings) {
        self.settings = settings
        windowLength = Int((3 / settings.pitchFloor * Double(settings.sampleRate)).rounded(.up))
    }

    /// Analyses frame `index` and calls `decided(frame, f0, voicing)` for every frame that is now final, in order.
    public func analyze(index: Int, window: UnsafeBufferPointer<Float>, decided: (Int, Float, Float) -> Void) {
        decided(index, 0, 0)
    }

    /// Decides every frame still pending.
    public func finish(decided: (Int, Float, Float) -> Void) {}
}
