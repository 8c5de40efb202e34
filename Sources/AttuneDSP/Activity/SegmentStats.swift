/// One stretch of speech between pauses, with its prosodic statistics.
public struct SegmentStats: Sendable, Equatable {
    public var start: Double
    public var end: Double
    public var syllables: Int
    /// Syllables per second over the segment.
    public var rateSPS: Double
    /// Median F0 of the voiced frames (Hz), or nil when none was voiced.
    public var f0MedianHz: Double?
    /// Spread of F0 in semitones (5th to 95th percentile), or nil when none was voiced.
    public var f0RangeST: Double?
    /// Mean level of the segment's frames (dBFS, power average).
    public var energyDB: Double

    public init(start: Double, end: Double, syllables: Int, rateSPS: Double, f0MedianHz: Double?, f0RangeST: Double?, energyDB: Double) {
        self.start = start; self.end = end; self.syllables = syllables; self.rateSPS = rateSPS
        self.f0MedianHz = f0MedianHz; self.f0RangeST = f0RangeST; self.energyDB = energyDB
    }
}

/// Whole-channel totals, for the `summary` record.
public struct ChannelTotals: Sendable, Equatable {
    public var durationS: Double = 0
    public var speechS: Double = 0
    public var syllables: Int = 0
    /// Start of the first and end of the last speech segment, nil when there was no speech.
    public var firstSpeech: Double?
    public var lastSpeech: Double?
    public var f0MedianHz: Double?
    public var pauses: Int = 0
    public init() {}

    /// Syllables per second from the first to the last speech.
    public var speechRateSPS: Double {
        guard let first = firstSpeech, let last = lastSpeech, last > first else { return 0 }
        return Double(syllables) / (last - first)
    }
    /// Syllables per second of speech time.
    public var articulationRateSPS: Double { speechS > 0 ? Double(syllables) / speechS : 0 }
}
