import Foundation

/// What one caller normally sounds like, learnt from their own speech during this call and never kept after it.
///
/// Robust statistics (median and median absolute deviation, from ``RobustHistogram``s) of F0 in semitones, level,
/// spectral balance, harmonics-to-noise ratio, articulation rate and pause length. It learns from everything the
/// caller says until it is ready (``FusionSettings/baselineReadySpeechSeconds``), then keeps adapting slowly
/// (``FusionSettings/baselineMemorySpeechSeconds``), but never from speech the layer has flagged: a caller who
/// stays angry must not become the new normal.
public struct SpeakerBaseline: Sendable {
    public let settings: FusionSettings
    public private(set) var f0 = RobustHistogram(lower: -36, upper: 36, binWidth: 0.1)
    public private(set) var energy = RobustHistogram(lower: -120, upper: 10, binWidth: 0.25)
    public private(set) var balance = RobustHistogram(lower: -60, upper: 40, binWidth: 0.2)
    public private(set) var hnr = RobustHistogram(lower: -20, upper: 50, binWidth: 0.2)
    /// Articulation rate of segments (syllables per second of speech), weighted by their length.
    public private(set) var rate = RobustHistogram(lower: 0, upper: 15, binWidth: 0.05)
    /// Pauses between the caller's segments (s).
    public private(set) var pause = RobustHistogram(lower: 0, upper: 30, binWidth: 0.05)
    /// Speech frames learnt from, in seconds (not decayed: readiness only grows).
    public private(set) var speechSeconds = 0.0
    private var sinceDecay = 0.0
    private let hop: Double

    public init(settings: FusionSettings, hopSeconds: Double) {
        self.settings = settings
        hop = hopSeconds
    }

    public enum Readiness: Sendable, Equatable {
        /// Too little speech to compare against: emotion events are withheld.
        case learning
        /// Enough to compare, not enough to be sure: events carry reduced confidence.
        case provisional
        case ready
    }

    public var readiness: Readiness {
        if speechSeconds >= settings.baselineReadySpeechSeconds { return .ready }
        if speechSeconds >= settings.baselineProvisionalSpeechSeconds { return .provisional }
        return .learning
    }

    /// How much of a ready baseline has been heard, 0…1: the factor on every emotion event's confidence.
    public var maturity: Double { min(1, speechSeconds / settings.baselineReadySpeechSeconds) }

    /// Learns one speech frame.
    public mutating func learn(_ s: VoiceSample) {
        guard s.speech else { return }
        f0.add(s.f0ST)
        energy.add(s.energyDB)
        balance.add(s.balanceDB)
        hnr.add(s.hnrDB)
        speechSeconds += hop
        guard readiness == .ready else { return }
        sinceDecay += hop
        // Forgetting once a second keeps the cost at one pass over the bins per second of speech.
        if sinceDecay >= 1 {
            let factor = exp(-sinceDecay / settings.baselineMemorySpeechSeconds)
            f0.decay(by: factor); energy.decay(by: factor); balance.decay(by: factor); hnr.decay(by: factor)
            rate.decay(by: factor); pause.decay(by: factor)
            sinceDecay = 0
        }
    }

    /// Learns a closed segment's articulation rate (weighted by its length) and the pause before it.
    public mutating func learn(rate sps: Double, duration: Double, pauseBefore: Double?) {
        if duration > 0.3 { rate.add(sps, weight: duration) }
        if let pauseBefore, pauseBefore > 0 { pause.add(pauseBefore) }
    }
}
