/// Fixed parameters of one channel's analysis, chosen once before the first sample arrives.
public struct AnalysisSettings: Sendable, Equatable {
    /// Rate of the samples handed to the analyzer (Hz). The audio layer resamples anything else to this.
    public var sampleRate: Int
    /// Hop between frame centres in seconds. The record contract fixes it at 10 ms.
    public var hopSeconds: Double = 0.010
    /// Lowest fundamental the pitch tracker looks for (Hz).
    public var pitchFloor: Double = 50
    /// Highest fundamental the pitch tracker looks for (Hz).
    public var pitchCeiling: Double = 500

    public init(sampleRate: Int, pitchFloor: Double = 50, pitchCeiling: Double = 500) {
        self.sampleRate = sampleRate
        self.pitchFloor = pitchFloor
        self.pitchCeiling = pitchCeiling
    }

    /// Samples per hop at `sampleRate`.
    public var hopSize: Int { Int((hopSeconds * Double(sampleRate)).rounded()) }

    /// The rate the analysis runs at for audio recorded at `inputRate`: narrow-band audio stays at 8 kHz,
    /// everything wider is brought to 16 kHz, which holds every cue the analysis uses (F0 ≤ 500 Hz, formants ≤ 8 kHz).
    public static func analysisRate(forInputRate inputRate: Int) -> Int {
        inputRate <= 8000 ? 8000 : 16000
    }
}
