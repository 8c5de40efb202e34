import AttuneDSP
import Foundation

/// One 10 ms hop of a channel as the emotion layer reads it: the frame's features in the units baselines are
/// kept in. Values a frame does not have are NaN (F0 when unvoiced, HNR when unvoiced, balance in silence).
public struct VoiceSample: Sendable, Equatable {
    /// Centre of the frame, seconds from the start of the call.
    public var t: Double
    /// F0 in semitones relative to 100 Hz, NaN when unvoiced.
    public var f0ST: Double
    public var energyDB: Double
    /// Level above 1 kHz minus level below (dB), NaN when not measured.
    public var balanceDB: Double
    /// Harmonics-to-noise ratio (dB), NaN when not measured.
    public var hnrDB: Double
    public var speech: Bool

    public init(t: Double, f0Hz: Double, energyDB: Double, balanceDB: Double = .nan, hnrDB: Double = .nan, speech: Bool) {
        self.t = t
        f0ST = f0Hz > 0 ? Self.semitones(f0Hz) : .nan
        self.energyDB = energyDB
        self.balanceDB = balanceDB
        self.hnrDB = hnrDB
        self.speech = speech
    }

    /// Semitones relative to 100 Hz: the unit in which a caller's pitch moves the same for low and high voices.
    @inline(__always)
    public static func semitones(_ hz: Double) -> Double { 12 * log2(hz / 100) }
}
