/// What the syllable counter saw, handed to ``SpeechActivityAnalyzer/syllableTap`` for `Tools/rate_train.py`.
/// A fixed-size value: passing it allocates nothing.
public enum SyllableTrace: Sendable, Equatable {
    /// One frame: its index, the voice-activity decision and the nucleus model's ``inputCount`` inputs, then in
    /// lane ``inputCount`` the frame's mean band level (dBFS) itself, so a tool can replay the model against
    /// another level reference without a rebuild (further lanes are zero).
    case frame(index: Int, speech: Bool, inputs: SIMD16<Float>)
    /// One closed segment: first and last frame, duration (s), the model's density summed over it, and the
    /// recent syllable rate that picked its gain.
    case segment(first: Int, last: Int, seconds: Double, density: Double, recentRate: Double)

    /// Inputs the nucleus model reads per frame.
    public static let inputCount = NucleusModel.inputCount

    /// The line `Tools/rate_train.py` reads: `F index speech inputs… level` or `SYLFEAT first last seconds density rate`.
    public var line: String {
        switch self {
        case let .frame(index, speech, inputs):
            var line = "F \(index) \(speech ? 1 : 0)"
            for i in 0...Self.inputCount { line += " \(inputs[i])" }
            return line + "\n"
        case let .segment(first, last, seconds, density, recentRate):
            return "SYLFEAT \(first) \(last) \(seconds) \(density) \(recentRate)\n"
        }
    }
}
